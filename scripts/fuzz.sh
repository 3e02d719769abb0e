#!/usr/bin/env bash
# Builds the libFuzzer targets (clang 14, ASan + UBSan) and runs each one
# from its seed corpus (test/fuzz/corpus/<target>) for FUZZ_SECONDS (default
# 20, the bounded run of the test command). A crash, a leak or a sanitizer
# report fails the run and leaves the input in $FUZZ_OUT (default
# build-fuzz/findings). Part of the README's test command (scripts/test.sh).
#   FUZZ_SECONDS=600 scripts/fuzz.sh            # a long run
#   FUZZ_RUNS=10000000 scripts/fuzz.sh jwt      # a fixed number of executions, one target
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=${FUZZ_BUILD_DIR:-$here/build-fuzz}
seconds=${FUZZ_SECONDS:-20}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(token_response error_response jwt config form)

CC=clang CXX=clang++ cmake -S "$here" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTETRAPAK_BUILD_FUZZ=ON -DTETRAPAK_BUILD_TESTS=OFF -DTETRAPAK_BUILD_EXAMPLES=OFF -DTETRAPAK_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")

out=${FUZZ_OUT:-$build/findings}
mkdir -p "$out"
for t in "${targets[@]}"; do
  corpus=$(mktemp -d)
  limit=(-max_total_time="$seconds")
  [ -n "${FUZZ_RUNS:-}" ] && limit=(-runs="$FUZZ_RUNS")
  echo "== fuzz_$t (${limit[0]#-})"
  # New inputs go to a scratch corpus; the seeds in the tree are read only.
  if ! "$build/test/fuzz/fuzz_$t" "${limit[@]}" -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$out/$t-" "$corpus" "$here/test/fuzz/corpus/$t" 2>"$build/fuzz_$t.log"; then
    tail -40 "$build/fuzz_$t.log"
    echo "fuzz_$t FAILED: see $out" >&2
    exit 1
  fi
  grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$build/fuzz_$t.log" | tr '\n' ' '; echo
  rm -rf "$corpus"
done
echo "fuzzing: no crashes"
