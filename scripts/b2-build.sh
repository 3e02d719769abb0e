#!/usr/bin/env bash
# Builds the library, tests and examples with b2 (Jamroot) against the
# installed Boost 1.81, and runs the pure unit tests it built.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
b2 -j"$(nproc)" -q --build-dir="${B2_BUILD_DIR:-$here/build-b2}" toolset=gcc variant=release warnings-as-errors=on "$@"
