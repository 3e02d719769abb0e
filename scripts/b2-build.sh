#!/usr/bin/env bash
# Builds the library, tests and examples with b2 (Jamroot) against the
# installed Boost 1.81, and runs the pure unit tests it built. Unoptimised:
# it checks that the Jamroot builds, links and passes (the CMake build is
# the optimised one), and unoptimised it builds faster on two cores.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
b2 -j"$(nproc)" -q --build-dir="${B2_BUILD_DIR:-$here/build-b2}" toolset=gcc variant=release optimization=off inlining=off warnings-as-errors=on "$@"
