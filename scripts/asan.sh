#!/usr/bin/env bash
# The unit, integration, fault and stress suites built with AddressSanitizer,
# UndefinedBehaviorSanitizer and LeakSanitizer: any report fails the run.
# ctest -L asan runs this script (the README's test command does).
# Debug information is line tables only (-g1): enough for the reports' file
# and line, and quicker to build than full -g.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${ASAN_BUILD_DIR:-$here/build-asan}

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG=-g1 -DTETRAPAK_WERROR=ON \
  -DTETRAPAK_BUILD_TESTS=ON -DTETRAPAK_BUILD_EXAMPLES=OFF -DTETRAPAK_BUILD_BENCH=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build "$build" -j "$(nproc)" --target tetrapak_unit_tests tetrapak_net_tests tetrapak_stress_tests
ASAN_OPTIONS="detect_leaks=1 abort_on_error=1 ${ASAN_OPTIONS:-}" UBSAN_OPTIONS="print_stacktrace=1 ${UBSAN_OPTIONS:-}" \
  ctest --test-dir "$build" --output-on-failure -j 2 -L "unit|integration|fault|stress" -E "consumer|e2e|bench"
