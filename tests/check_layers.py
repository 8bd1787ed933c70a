#!/usr/bin/env python3
"""Checks the include graph of include/llamaref/ and cuda/ against the floors of docs/architecture.md.

docs/architecture.md holds a table "| part | includes only |": each part of the library (a folder
under include/llamaref/, a top-level header, or cuda/) and the parts it may include. This script
reads every header's `#include "..."` / `#include <llamaref/...>` lines and fails, naming the file
and line, when a header includes a part its row does not allow, when the table's floors form a
cycle, or when a part exists in the code but not in the table (the picture must stay true).

    python3 tests/check_layers.py [REPO]
"""
import pathlib
import re
import sys

repo = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent)
include = repo / "include" / "llamaref"
doc = (repo / "docs" / "architecture.md").read_text()

# | `model` | `core` |   ->   allowed["model"] = {"core"}
allowed = {}
for m in re.finditer(r"^\|\s*`([^`]+)`\s*\|\s*([^|]*)\|", doc, re.M):
    allowed[m.group(1)] = set(re.findall(r"`([^`]+)`", m.group(2)))
if not allowed:
    sys.exit("check_layers: docs/architecture.md has no '| part | includes only |' table")


def part_of(path: pathlib.Path) -> str:
    """The part a file belongs to: its folder under include/llamaref, the header's name, or cuda."""
    path = path.resolve()
    if (repo / "cuda") in path.parents:
        return "cuda"
    rel = path.relative_to(include.resolve())
    return rel.parts[0] if len(rel.parts) > 1 else rel.name


files = sorted(include.rglob("*.hpp")) + sorted((repo / "cuda").rglob("*.cuh")) + sorted((repo / "cuda").rglob("*.hpp"))
errors = []
seen_parts = set()
inc_re = re.compile(r'^\s*#\s*include\s+(?:"([^"]+)"|<(llamaref/[^>]+)>)')
for f in files:
    part = part_of(f)
    seen_parts.add(part)
    if part not in allowed:
        errors.append(f"{f.relative_to(repo)}: part '{part}' is not in docs/architecture.md's table")
        continue
    for n, line in enumerate(f.read_text().splitlines(), 1):
        m = inc_re.match(line)
        if not m:
            continue
        if m.group(1):
            target = (f.parent / m.group(1)).resolve()
            if not target.exists():
                continue  # a system header written with quotes
        else:
            target = (include.parent / m.group(2)).resolve()
            if not target.exists() and (repo / "cuda" / m.group(2)).exists():
                target = (repo / "cuda" / m.group(2)).resolve()
        if include.resolve() not in target.parents and (repo / "cuda").resolve() not in target.parents:
            continue
        to = part_of(target)
        if to != part and to not in allowed[part] and "everything" not in allowed[part]:
            errors.append(f"{f.relative_to(repo)}:{n}: {part} includes {to} ({line.strip()}), "
                          f"but docs/architecture.md lets {part} include only {sorted(allowed[part]) or 'nothing'}")

# The floors must be a partial order: no part may reach itself.
def reaches(a, b, path=()):
    return any(x == b or (x not in path and x in allowed and reaches(x, b, path + (x,))) for x in allowed[a])

for p in allowed:
    if "everything" not in allowed[p] and reaches(p, p):
        errors.append(f"docs/architecture.md: the table lets '{p}' reach itself (a cycle)")
for p in sorted(set(allowed) - seen_parts):
    errors.append(f"docs/architecture.md: part '{p}' of the table is not in the code")

for e in errors:
    print(e)
print(f"check_layers: {len(files)} headers, {len(seen_parts)} parts, {len(errors)} problems")
sys.exit(1 if errors else 0)
