#define BOOST_TEST_MODULE tetrapak_net_tests
#include <boost/test/unit_test.hpp>
