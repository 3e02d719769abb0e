#!/usr/bin/env bash
# The concurrency stress test built with ThreadSanitizer: any report fails
# the run. ctest -L tsan runs this script (the README's test command does).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${TSAN_BUILD_DIR:-$here/build-tsan}

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETRAPAK_WERROR=ON \
  -DTETRAPAK_BUILD_TESTS=ON -DTETRAPAK_BUILD_EXAMPLES=OFF \
  -DCMAKE_CXX_FLAGS="-fsanitize=thread -fno-omit-frame-pointer -Wno-tsan" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
cmake --build "$build" -j "$(nproc)" --target tetrapak_stress_tests
# Any report fails the run (exit code 66), not only a crash; scripts/tsan.supp
# names the one OpenSSL-internal pattern that is not ours.
TSAN_OPTIONS="halt_on_error=1 exitcode=66 second_deadlock_stack=1 suppressions=$here/scripts/tsan.supp ${TSAN_OPTIONS:-}" \
  ctest --test-dir "$build" --output-on-failure -L stress
