"""docs/paper-map.md stays true: every code link points at a line that holds the named code.

usage: check_paper_map.py REPO [--fix]

Each table row of docs/paper-map.md names a piece of code in backticks (third column) and links
to it as [path:line](../path#Lline) (fourth column). The check fails when that line of that file
no longer contains the named code. --fix moves each stale link to the first line of the file that
contains it (and fails when none does). Standard library only.
"""
import os
import re
import sys

repo = sys.argv[1]
fix = "--fix" in sys.argv
doc = os.path.join(repo, "docs", "paper-map.md")
text = open(doc, encoding="utf-8").read()
link = re.compile(r"\[`?([\w./-]+):(\d+)`?\]\(\.\./([\w./-]+)#L(\d+)\)")
bad, rows, out = [], 0, []
for line in text.splitlines(keepends=True):
    cols = line.split(" | ")
    m = link.search(line)
    if not line.startswith("|") or not m or len(cols) < 4:
        out.append(line)
        continue
    rows += 1
    code = re.search(r"`([^`]+)`", cols[2])
    shown, path, n = m.group(1), m.group(3), int(m.group(4))
    if not code or not path.endswith(shown) or n != int(m.group(2)):
        bad.append(f"{path}:{n}: the row must name code in backticks and link [file:line](../file#Lline) consistently")
        out.append(line)
        continue
    frag = code.group(1)
    full = os.path.join(repo, path)
    src = open(full, encoding="utf-8").read().splitlines() if os.path.exists(full) else []
    if 0 < n <= len(src) and frag in src[n - 1]:
        out.append(line)
        continue
    where = [i + 1 for i, s in enumerate(src) if frag in s]
    if fix and where:
        out.append(line.replace(m.group(0), m.group(0).replace(f":{n}", f":{where[0]}").replace(f"#L{n}", f"#L{where[0]}")))
        print(f"moved {path}:{n} -> {where[0]} ({frag})")
        continue
    bad.append(f"{path}:{n} does not hold `{frag}`" + (f" (it is on line {where[0]}: run tests/check_paper_map.py . --fix)"
                                                        if where else " (nor does any line of the file)"))
    out.append(line)
if fix:
    open(doc, "w", encoding="utf-8").write("".join(out))
for b in bad:
    print("FAIL", b)
print(f"{rows} links checked, {len(bad)} stale")
sys.exit(1 if bad or rows == 0 else 0)
