#!/usr/bin/env python3
"""docs/configuration.md documents exactly the configuration keys and the
environment variables the code reads: no key or variable the code reads is
missing from the page, and the page documents none the code does not read.

    test/docs/check_config_keys.py SOURCE_DIR

The page's convention (what this script reads from docs/configuration.md):

- A configuration key is documented by one row of a Markdown table whose
  header's first cell is `Key`. The row's first cell is the key alone, in
  backticks, spelled as the code spells it: | `ClientId` | ... |
- An environment variable likewise, in a table whose header's first cell is
  `Variable`: | `ASPNETCORE_ENVIRONMENT` | ... |. A first cell that is not one
  plain name in backticks (a pattern such as `TetraPak__<key>`, or prose) is
  not checked.
- Other tables, prose and code blocks are not read.

What the code reads (comments are removed first; extend READERS when a new
way of reading keys appears):

- keys: the readers of the TetraPak section compare each JSON key with
  iequals(k, "Name") or iequals(key, "Name") (any lib/ source); the section
  readers (lib/**/*settings_reader*.cpp) also use is("Name") and tables of
  {"Name", &..._settings::member};
- variables: getenv("NAME") in lib/, include/ and tools/; and, in a source
  that calls getenv, brace lists of names such as {"https_proxy",
  "HTTPS_PROXY"} (names a loop or a helper hands to getenv).

Exits 1 naming each offender; prints a one-line summary when all agree.
Python 3 standard library only.
"""
import pathlib
import re
import sys

PAGE = pathlib.Path('docs/configuration.md')

NAME = r'[A-Za-z_][A-Za-z0-9_]*'
KEY_RE = re.compile(r'^[A-Za-z][A-Za-z0-9]*$')
VARIABLE_RE = re.compile(r'^' + NAME + r'$')

# (glob under the source directory, pattern whose group 1 is a key)
READERS = [
    ('lib/**/*.cpp', re.compile(r'\biequals\(\s*(?:k|key)\s*,\s*"(' + NAME + r')"\s*\)')),
    ('lib/**/*.hpp', re.compile(r'\biequals\(\s*(?:k|key)\s*,\s*"(' + NAME + r')"\s*\)')),
    ('lib/**/*settings_reader*.cpp', re.compile(r'\bis\(\s*"(' + NAME + r')"\s*\)')),
    ('lib/**/*settings_reader*.cpp', re.compile(r'\{\s*"(' + NAME + r')"\s*,\s*&\w+_settings::\w+\s*\}')),
]
VARIABLE_DIRS = ['lib', 'include', 'tools']
GETENV_LITERAL = re.compile(r'\bgetenv\(\s*"(' + NAME + r')"\s*\)')
GETENV_CALL = re.compile(r'\bgetenv\b')
NAME_LIST = re.compile(r'\{\s*("' + NAME + r'"(?:\s*,\s*"' + NAME + r'")*)\s*\}')


def strip_comments(text):
    """C++ source without // and /* */ comments; string, character and raw
    string literals are kept as they are."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('//', i):
            j = text.find('\n', i)
            i = n if j < 0 else j
        elif text.startswith('/*', i):
            j = text.find('*/', i + 2)
            out.append(' ')
            i = n if j < 0 else j + 2
        elif c == 'R' and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == '_')):
            m = re.match(r'R"([^()\\\s]{0,16})\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(')' + m.group(1) + '"', i + m.end())
            j = n if end < 0 else end + len(m.group(1)) + 2
            out.append(text[i:j])
            i = j
        elif c == '"' or (c == "'" and not (i > 0 and text[i - 1].isalnum())):
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def sources(root, pattern):
    return sorted(p for p in root.glob(pattern) if p.is_file())


def code_keys(root):
    keys = set()
    for pattern, regex in READERS:
        for path in sources(root, pattern):
            keys.update(regex.findall(strip_comments(path.read_text(encoding='utf-8', errors='replace'))))
    return keys


def code_variables(root):
    variables = set()
    for d in VARIABLE_DIRS:
        for path in sources(root, d + '/**/*'):
            if path.suffix not in ('.cpp', '.hpp', '.h', '.ipp'):
                continue
            text = strip_comments(path.read_text(encoding='utf-8', errors='replace'))
            variables.update(GETENV_LITERAL.findall(text))
            if GETENV_CALL.search(text):
                for group in NAME_LIST.findall(text):
                    variables.update(re.findall(r'"(' + NAME + r')"', group))
    return variables


def cells(line):
    line = line.strip()
    if line.startswith('|'):
        line = line[1:]
    if line.endswith('|') and not line.endswith('\\|'):
        line = line[:-1]
    return [c.strip() for c in re.split(r'(?<!\\)\|', line)]


def documented(page):
    """(keys, variables, problems) from the page's Key and Variable tables."""
    keys, variables, problems = set(), set(), []
    lines = page.read_text(encoding='utf-8').splitlines()
    fenced, kind, row = False, None, 0
    for number, line in enumerate(lines, 1):
        if re.match(r'^\s*(```|~~~)', line):
            fenced = not fenced
            kind = None
            continue
        if fenced or not line.strip().startswith('|'):
            kind = None
            continue
        if kind is None:  # a table's header row
            first = cells(line)[0]
            kind = {'Key': 'key', 'Variable': 'variable'}.get(first, 'other')
            row = 0
            continue
        row += 1
        if row == 1 or kind == 'other':  # the |---| row, or a table not read
            continue
        m = re.fullmatch(r'`([^`]+)`', cells(line)[0])
        if not m:
            if kind == 'key':
                problems.append(f'{page.name}:{number}: a Key row whose first cell is not one key in backticks')
            continue
        name = m.group(1)
        if kind == 'key':
            if not KEY_RE.match(name):
                problems.append(f'{page.name}:{number}: `{name}` is not a key name')
                continue
            if name in keys:
                problems.append(f'{page.name}:{number}: key `{name}` is documented twice')
            keys.add(name)
        elif VARIABLE_RE.match(name):
            if name in variables:
                problems.append(f'{page.name}:{number}: variable `{name}` is documented twice')
            variables.add(name)
    return keys, variables, problems


def main(argv):
    if len(argv) != 2:
        print('usage: check_config_keys.py SOURCE_DIR', file=sys.stderr)
        return 2
    root = pathlib.Path(argv[1]).resolve()
    page = root / PAGE
    if not page.is_file():
        print(f'{PAGE}: no such file')
        return 1
    keys, variables = code_keys(root), code_variables(root)
    if len(keys) < 10 or not variables:
        print(f'found only {len(keys)} keys and {len(variables)} environment variables in the code: '
              'the extraction is broken (see READERS)')
        return 1
    doc_keys, doc_variables, problems = documented(page)
    for k in sorted(keys - doc_keys, key=str.lower):
        problems.append(f'{PAGE}: key `{k}` is read by the code but not documented (a row of a "Key" table)')
    for k in sorted(doc_keys - keys, key=str.lower):
        problems.append(f'{PAGE}: key `{k}` is documented but the code does not read it')
    for v in sorted(variables - doc_variables, key=str.lower):
        problems.append(f'{PAGE}: environment variable `{v}` is read by the code but not documented '
                        '(a row of a "Variable" table)')
    for v in sorted(doc_variables - variables, key=str.lower):
        problems.append(f'{PAGE}: environment variable `{v}` is documented but the code does not read it')
    for p in problems:
        print(p)
    if problems:
        print(f'FAILED: {len(problems)} problem(s)')
        return 1
    print(f'ok: {len(keys)} keys and {len(variables)} environment variables documented')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
