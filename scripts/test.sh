#!/usr/bin/env bash
# README command 2: installs what is missing, builds with CMake (warnings are
# errors), runs every test (unit, integration against the real oidc-provider,
# fault, end to end, consumer, benchmark smoke), builds the library and its
# tests with b2 as well, then runs the stress test under TSan, every suite
# under ASan+UBSan+LSan, and a bounded fuzz run of every parser.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$here/build}

"$here/scripts/install-deps.sh"

# On a failure, the failed tests' error lines are printed again at the very
# end, where a CI log's tail shows them (scripts/failure-digest.sh).
trap 'rc=$?; [ $rc -eq 0 ] || "$here/scripts/failure-digest.sh" "$build" "$here/build-asan" "$here/build-tsan"; exit $rc' EXIT

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTETRAPAK_WERROR=ON -DTETRAPAK_BUILD_TESTS=ON -DTETRAPAK_BUILD_EXAMPLES=ON >/dev/null
cmake --build "$build" -j "$(nproc)"
"$here/scripts/b2-build.sh"
ctest --test-dir "$build" --output-on-failure -j 2 -LE "compat|tsan|asan|fuzz"
# Then, one label at a time (each builds its own trees): the library and its
# unit tests against Boost 1.89 with g++ and clang; the concurrency stress
# test under ThreadSanitizer; every suite under AddressSanitizer +
# UndefinedBehaviorSanitizer + LeakSanitizer; a bounded fuzz run of every
# parser (20 s each; see scripts/fuzz.sh for long runs).
for label in compat tsan asan fuzz; do
  ctest --test-dir "$build" --output-on-failure -L "$label"
done
