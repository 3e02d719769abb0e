#define BOOST_TEST_MODULE tetrapak_stress_tests
#include <boost/test/unit_test.hpp>
