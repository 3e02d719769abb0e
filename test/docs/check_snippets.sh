#!/usr/bin/env bash
# Every ```cpp block of README.md and docs/*.md is a complete translation
# unit: each is compiled here (syntax and semantics, no code generation) with
# warnings as errors, so the manual cannot drift from the headers. A `#line`
# directive makes the compiler's messages point at the Markdown.
# Usage: check_snippets.sh SOURCE_DIR [CXX]
set -euo pipefail
src=$(cd "$1" && pwd)
cxx=${2:-c++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 - "$src" "$work" <<'PY'
import pathlib, re, sys
src, work = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
pages = [src / "README.md"] + sorted((src / "docs").glob("*.md"))
count = 0
for page in pages:
    lines = page.read_text().splitlines()
    block, start = None, 0
    for i, line in enumerate(lines, 1):
        fence = re.match(r"^\s*```(\S*)\s*$", line)
        if block is None and fence and fence.group(1) == "cpp":
            block, start = [], i + 1
        elif block is not None and fence and fence.group(1) == "":
            count += 1
            rel = page.relative_to(src)
            name = f"{rel.as_posix().replace('/', '_')}_{start}.cpp"
            (work / name).write_text(f'#line {start} "{rel.as_posix()}"\n' + "\n".join(block) + "\n")
            block = None
        elif block is not None:
            block.append(line)
    if block is not None:
        sys.exit(f"{page}: a ```cpp block opened at line {start - 1} is never closed")
print(f"{count} C++ snippets in {len(pages)} pages")
if count == 0:
    sys.exit("no ```cpp snippet found: the extraction is broken")
PY

export cxx src
failed=0
ls "$work"/*.cpp | xargs -P "$(nproc)" -I{} sh -c \
  '"$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -I"$src/include" "{}" 2>"{}.err" || { echo "FAILED: $(basename "{}")"; cat "{}.err"; exit 1; }' \
  || failed=1
[ "$failed" -eq 0 ] && echo "ok: every snippet compiles with $cxx"
exit "$failed"
