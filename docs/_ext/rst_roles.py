"""A griffe extension for the reference pages: the code's docstrings use a few
reStructuredText idioms that Markdown would show as they are. This turns

- roles (``:class:`~pkg.Name```) into code spans, ``~`` keeping the last name as in Sphinx;
- ``text::`` before a literal block into ``text:`` (the indented block after it is already
  a code block in Markdown);
- simple tables (columns between rules of ``=``) into Markdown tables; a row whose first
  column is empty continues the row above.

The code is not changed, only what the site shows of it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")
_LITERAL = re.compile(r"::$", re.M)
_RULE = re.compile(r"^ *=+( +=+)+ *$")


def _role(match: re.Match) -> str:
    tilde, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if tilde else target}`"


def _cells(row: str, starts: list[int]) -> list[str]:
    """Split ``row`` at the columns' starts; text that runs over a boundary (the code's
    tables do that) moves the split to the next run of two spaces."""
    cells, begin = [], 0
    for start in starts[1:]:
        cut = start
        if len(row) > start and row[start - 1] != " ":
            found = row.find("  ", start)
            cut = found if found >= 0 else len(row)
        cells.append(row[begin:cut].strip())
        begin = cut
    return [*cells, row[begin:].strip()]


def _rows(lines: list[str], starts: list[int]) -> list[list[str]]:
    rows: list[list[str]] = []
    for line in lines:
        if not line.strip():
            continue
        cells = _cells(line, starts)
        if not cells[0] and rows:  # the first column is empty: more of the row above
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return rows


def _tables(text: str) -> str:
    lines, out, i = text.split("\n"), [], 0
    while i < len(lines):
        if not _RULE.match(lines[i]):
            out.append(lines[i])
            i += 1
            continue
        starts = [m.start() for m in re.finditer(r"=+", lines[i])]
        close = next((j for j in range(i + 1, len(lines)) if _RULE.match(lines[j])), None)
        if close is None:
            out.append(lines[i])
            i += 1
            continue
        # A header: a second rule followed at once by more rows and a third rule.
        third = next((j for j in range(close + 1, len(lines)) if _RULE.match(lines[j])), None)
        if third is not None and lines[close + 1 : close + 2] != [""] and "" not in lines[close + 1 : third]:
            header, body, i = _rows(lines[i + 1 : close], starts), _rows(lines[close + 1 : third], starts), third + 1
        else:
            header, body, i = [[""] * len(starts)], _rows(lines[i + 1 : close], starts), close + 1
        for row in [header[0], ["---"] * len(starts), *body]:
            out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |")
    return "\n".join(out)


def markdown(text: str) -> str:
    return _tables(_LITERAL.sub(":", _ROLE.sub(_role, text)))


class RstIdioms(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
