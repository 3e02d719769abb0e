#define BOOST_TEST_MODULE tetrapak_unit_tests
#include <boost/test/unit_test.hpp>
