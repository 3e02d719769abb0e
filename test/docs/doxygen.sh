#!/usr/bin/env bash
# Generates the API reference from the public headers with docs/Doxyfile and
# fails on any Doxygen warning (an undocumented public name, a doc-comment
# error), printing them.
#
#   test/docs/doxygen.sh SOURCE_DIR BUILD_DIR    # writes BUILD_DIR/api/html
set -euo pipefail
src=${1:?usage: doxygen.sh SOURCE_DIR BUILD_DIR}
build=${2:?usage: doxygen.sh SOURCE_DIR BUILD_DIR}

if ! command -v doxygen >/dev/null; then
  echo "doxygen.sh: doxygen is not installed (Debian: apt-get install doxygen, or run scripts/install-deps.sh)" >&2
  exit 1
fi

src=$(cd "$src" && pwd)
mkdir -p "$build"
out="$(cd "$build" && pwd)/api"
rm -rf "$out/html"
mkdir -p "$out"
log="$out/warnings.log"

# "#define TETRAPAK_VERSION_MAJOR 0" ... -> "0.1.0" (the Doxyfile's PROJECT_NUMBER).
part() { sed -nE "s/^#define TETRAPAK_VERSION_$1 ([0-9]+)$/\1/p" "$src/include/tetrapak/version.hpp"; }
export TETRAPAK_VERSION_STRING="$(part MAJOR).$(part MINOR).$(part PATCH)"
export TETRAPAK_DOXYGEN_OUT="$out"

# Doxyfile paths are relative to the source directory. Warnings go to stderr;
# QUIET keeps stdout for errors that are not warnings.
status=0
(cd "$src" && doxygen docs/Doxyfile) >"$log" 2>&1 || status=$?

# WARN_AS_ERROR makes Doxygen 1.9 label warnings "error:".
warnings=$(grep -cE '(warning|error): ' "$log" || true)
if [ "$status" -ne 0 ] || [ -s "$log" ]; then
  cat "$log"
  echo "FAILED: doxygen exited with $status, $warnings warning(s) (log: $log)"
  exit 1
fi
pages=$(find "$out/html" -name '*.html' | wc -l)
echo "ok: API reference in $out/html ($pages pages, 0 warnings)"
