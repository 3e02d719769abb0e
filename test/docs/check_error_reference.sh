#!/usr/bin/env bash
# docs/errors.md names every enumerator of tetrapak::error and tetrapak::oauth_errc
# (as a "#### `name` (value)" entry with the value the header gives it), and no
# name that is not one. ctest -L docs runs it.
#
#   test/docs/check_error_reference.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: check_error_reference.sh SOURCE_DIR}
header="$src/include/tetrapak/error.hpp" doc="$src/docs/errors.md"
status=0
for enum in error oauth_errc; do
  # "name = 1," or "name,": values count up from the last explicit one.
  value=0
  while read -r name explicit; do
    value=${explicit:-$((value + 1))}
    grep -qxF "#### \`$name\` ($value)" "$doc" || { echo "docs/errors.md: no entry '#### \`$name\` ($value)' for $enum::$name"; status=1; }
    echo "$name" >>"${TMPDIR:-/tmp}/check_error_reference.$$"
  done < <(sed -n "/^enum class $enum {/,/^};/p" "$header" | sed -nE 's/^    ([a-z_]+)( = ([0-9]+))?,.*/\1 \3/p')
done
# Every entry names a real enumerator.
while read -r name; do
  grep -qxF "$name" "${TMPDIR:-/tmp}/check_error_reference.$$" || { echo "docs/errors.md: '$name' is not an enumerator"; status=1; }
done < <(sed -nE 's/^#### `([a-z_]+)` \([0-9]+\)$/\1/p' "$doc")
rm -f "${TMPDIR:-/tmp}/check_error_reference.$$"
count=$(grep -c '^#### `' "$doc")
[ $status -eq 0 ] && echo "docs/errors.md: all $count enumerators of tetrapak::error and oauth_errc, each with its value"
exit $status
