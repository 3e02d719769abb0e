#!/usr/bin/env bash
# The side-by-side benchmarks of bench/README.md (1: keep-alive fetches, 2: a
# new connection per fetch, 6: the Beast microservice under wrk with and
# without a token): installs what is missing, builds Release in its own build
# directory, starts its own servers on 127.0.0.1 and prints the tables.
#
#   scripts/bench.sh            the whole comparison (a few minutes)
#   scripts/bench.sh --smoke    seconds: every contender runs and gets its tokens (what CI checks)
#   scripts/bench.sh --only 1 --rounds 9 ...   any option of bench/compare/compare.py --help
#
# Build directory: $TETRAPAK_BENCH_BUILD_DIR, else build-bench. Results (JSON and
# Markdown) go to <build>/bench-compare/.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${TETRAPAK_BENCH_BUILD_DIR:-$here/build-bench}
start=$(date +%s)

"$here/scripts/install-deps.sh"

if [ -f "$build/CMakeCache.txt" ]; then
  cmake -S "$here" -B "$build" -DCMAKE_BUILD_TYPE=Release -DTETRAPAK_BUILD_EXAMPLES=ON -DTETRAPAK_BUILD_BENCH=ON >/dev/null
else
  cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTETRAPAK_BUILD_EXAMPLES=ON -DTETRAPAK_BUILD_BENCH=ON >/dev/null
fi
echo "bench.sh: building (Release) in $build"
cmake --build "$build" -j"$(nproc)" --target tetrapak_compare_loop curl_compare_loop beast_microservice

/usr/bin/python3 "$here/bench/compare/compare.py" --build-dir "$build" --out "$build/bench-compare" "$@"
echo "bench.sh: done in $(( $(date +%s) - start )) s; results in $build/bench-compare/"
