#!/usr/bin/env bash
# Prints the error lines of the tests that failed in the last ctest run of
# each build directory given (its Testing/Temporary/LastTest.log), at most 25
# lines per test: test.sh calls it when a step fails, so that the end of a
# long CI log names what failed and why.
#
#   scripts/failure-digest.sh BUILD_DIR...
pattern='error: in "|: error: |fatal error|FAIL|Sanitizer|runtime error|terminate called|what\(\)|Assertion|exception|Timeout|Subprocess|failed'
digest() {
for dir in "$@"; do
  log="$dir/Testing/Temporary/LastTest.log"
  failed="$dir/Testing/Temporary/LastTestsFailed.log"
  [ -f "$log" ] && [ -s "$failed" ] || continue
  while IFS=: read -r _ name; do
    echo "--- $name ($dir)"
    # The test's own section of the log: from its header to the next one.
    awk -v t="$name" '$0 ~ "^[0-9]+/[0-9]+ Test: " t "$" {on=1; next} on && /^[0-9]+\/[0-9]+ Test: / {on=0} on' "$log" |
      grep -E "$pattern" | grep -v "Passed" | head -n 25
  done <"$failed"
done
}
# Nothing when no test failed (a build error is then the log's last lines).
out=$(digest "$@")
[ -z "$out" ] || printf '=== failure digest ===\n%s\n=== end of failure digest ===\n' "$out"
