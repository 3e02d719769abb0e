#!/usr/bin/env bash
# ctest -L compat: builds the library and its unit tests against the Boost
# 1.89 headers of ../shared/boost (a tarball; see its README) with COMPILER,
# then runs the unit tests. Usage: run.sh SOURCE_DIR BUILD_DIR COMPILER
# TETRAPAK_COMPAT_TARBALL overrides where the tarball is.
set -euo pipefail
src=$(cd "$1" && pwd)
build=$2
cxx=$3
tarball=${TETRAPAK_COMPAT_TARBALL:-$src/../shared/boost/boost-1.89.0-subset.tar.xz}
expected_version=108900

if [ ! -f "$tarball" ]; then
  echo "compat: no Boost tarball at $tarball" >&2
  echo "compat: it is ../shared/boost/boost-1.89.0-subset.tar.xz beside the source tree; set TETRAPAK_COMPAT_TARBALL to use another path" >&2
  exit 1
fi
mkdir -p "$build"
boost="$build/boost"
stamp="$boost/.extracted-from"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$tarball $(stat -c %Y "$tarball")" ]; then
  rm -rf "$boost"
  mkdir -p "$boost"
  tar -xJf "$tarball" -C "$boost"
  echo "$tarball $(stat -c %Y "$tarball")" > "$stamp"
fi

# -O0 without debug information: this build checks that the code compiles
# and behaves, and it has to be quick on two cores.
cmake -S "$src/test/compat" -B "$build/tree" -G Ninja -DCMAKE_BUILD_TYPE=None -DCMAKE_CXX_FLAGS="-O0" \
  -DCMAKE_CXX_COMPILER="$cxx" -DTETRAPAK_COMPAT_BOOST="$boost" \
  -DTETRAPAK_COMPAT_BOOST_VERSION="$expected_version" >/dev/null
cmake --build "$build/tree" -j "$(nproc)"
"$build/tree/compat_unit_tests" --report_level=short
