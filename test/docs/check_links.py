#!/usr/bin/env python3
"""Every relative link in README.md and docs/*.md points at a file of the
repository, and every #anchor at a heading of its target (GitHub's slugs).
ctest -L docs runs it.

    test/docs/check_links.py SOURCE_DIR
"""
import pathlib
import re
import sys

LINK = re.compile(r'(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
FENCE = re.compile(r'^(```|~~~)')


def prose(text, keep_inline_code=False):
    """The text outside fenced code blocks (and inline code, unless kept:
    GitHub makes a heading's anchor from its code text too)."""
    out, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line.strip()):
            fenced = not fenced
            continue
        if not fenced:
            out.append(line.replace('`', '') if keep_inline_code else re.sub(r'`[^`]*`', '', line))
    return out


def slug(heading):
    s = heading.strip().lower()
    s = re.sub(r'[^\w\- ]', '', s)
    return s.replace(' ', '-')


def anchors(path):
    seen, found = {}, set()
    for line in prose(path.read_text(encoding='utf-8'), keep_inline_code=True):
        m = re.match(r'^#{1,6}\s+(.*)$', line)
        if not m:
            continue
        base = slug(m.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f'{base}-{n}')
    return found


def main(root):
    root = pathlib.Path(root).resolve()
    pages = [root / 'README.md'] + sorted((root / 'docs').glob('**/*.md'))
    problems, checked = [], 0
    for page in pages:
        for number, line in enumerate(prose(page.read_text(encoding='utf-8')), 1):
            for target in LINK.findall(line):
                if re.match(r'^[a-z]+:', target):  # http:, https:, mailto:: not checked offline
                    continue
                checked += 1
                path, _, anchor = target.partition('#')
                dest = (page.parent / path).resolve() if path else page
                where = f'{page.relative_to(root)}: link {target}'
                if not dest.exists():
                    problems.append(f'{where}: no such file')
                elif anchor and dest.suffix == '.md' and anchor not in anchors(dest):
                    problems.append(f'{where}: no heading with anchor #{anchor}')
    for p in problems:
        print(p)
    if not problems:
        print(f'{len(pages)} pages, {checked} relative links: all resolve')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else '.'))
