// The compatibility build's test main: Boost.Test header-only, and the proof
// that the Boost under test (not the system's) is the one compiled against.
#include <boost/version.hpp>

#ifndef TETRAPAK_COMPAT_BOOST_VERSION
#error "build with -DTETRAPAK_COMPAT_BOOST_VERSION=<BOOST_VERSION expected> (test/compat/run.sh does)"
#endif
static_assert(BOOST_VERSION == TETRAPAK_COMPAT_BOOST_VERSION, "the wrong Boost was found first on the include path");

#define BOOST_TEST_MODULE tetrapak_compat_unit_tests
#include <boost/test/included/unit_test.hpp>
