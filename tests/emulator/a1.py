"""A1 notation as the Sheets API reads and echoes it.

Owns parsing of ranges such as ``'Jon''s Data'!A1:B2``, ``Sheet1!A:C``,
``A2:Z``, ``3:5`` and bare sheet names, and the echo Google sends back
(simple names unquoted, others quoted, open ends clamped to the grid).
Coordinates here are 1-based and inclusive; ``None`` means "open".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CELL = re.compile(r"^([A-Za-z]{0,3})(\d{0,7})$")
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LOOKS_LIKE_CELL = re.compile(r"^(?:[A-Za-z]{1,3}\d+|[Rr]\d*[Cc]\d*|[A-Za-z]{1,3}|\d+)$")


class RangeError(ValueError):
    """A range that cannot be parsed (the text is Google's message)."""


def col_letters(col: int) -> str:
    """1 -> 'A', 27 -> 'AA'."""
    out = ""
    while col > 0:
        col, rem = divmod(col - 1, 26)
        out = chr(65 + rem) + out
    return out


def col_number(letters: str) -> int:
    """'A' -> 1, 'aa' -> 27."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n


def quote_title(title: str) -> str:
    """The sheet name as Google echoes it: quoted unless it is a plain word."""
    if _SIMPLE_NAME.match(title) and not _LOOKS_LIKE_CELL.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


@dataclass(frozen=True)
class A1:
    """A parsed range. ``title`` None means the first sheet."""

    title: str | None
    r0: int | None = None
    c0: int | None = None
    r1: int | None = None
    c1: int | None = None
    whole_sheet: bool = False


def _split_sheet(text: str) -> tuple[str | None, str | None]:
    """Split ``text`` into (sheet title, cell part)."""
    if text.startswith("'"):
        i = 1
        name = []
        while i < len(text):
            ch = text[i]
            if ch == "'":
                if i + 1 < len(text) and text[i + 1] == "'":
                    name.append("'")
                    i += 2
                    continue
                break
            name.append(ch)
            i += 1
        else:
            raise RangeError(f"Unable to parse range: {text}")
        rest = text[i + 1 :]
        if rest == "":
            return "".join(name), None
        if not rest.startswith("!"):
            raise RangeError(f"Unable to parse range: {text}")
        return "".join(name), rest[1:]
    if "!" in text:
        title, _, cells = text.rpartition("!")
        return title, cells
    return None, text


def _parse_ref(ref: str, original: str) -> tuple[int | None, int | None]:
    m = _CELL.match(ref)
    if not m or (not m.group(1) and not m.group(2)):
        raise RangeError(f"Unable to parse range: {original}")
    col = col_number(m.group(1)) if m.group(1) else None
    row = int(m.group(2)) if m.group(2) else None
    if row == 0:
        raise RangeError(f"Unable to parse range: {original}")
    return row, col


def _parse_cells(
    cells: str, original: str
) -> tuple[int | None, int | None, int | None, int | None]:
    left, sep, right = cells.partition(":")
    r0, c0 = _parse_ref(left, original)
    if not sep:
        if r0 is None or c0 is None:
            raise RangeError(f"Unable to parse range: {original}")
        return r0, c0, r0, c0
    r1, c1 = _parse_ref(right, original)
    # Column-only and row-only forms: A:C, 3:5, A2:Z, A1:1.
    if r0 is None and c0 is not None and r1 is not None:
        raise RangeError(f"Unable to parse range: {original}")
    if c0 is None and r0 is not None and c1 is not None and r1 is None:
        raise RangeError(f"Unable to parse range: {original}")
    if r0 is not None and r1 is not None and r0 > r1:
        r0, r1 = r1, r0
    if c0 is not None and c1 is not None and c0 > c1:
        c0, c1 = c1, c0
    return r0, c0, r1, c1


def parse(text: str, titles: list[str]) -> A1:
    """Parse ``text``; ``titles`` are the sheet names (for bare-name ranges)."""
    original = text
    text = text.strip()
    if not text:
        raise RangeError(f"Unable to parse range: {original}")
    title, cells = _split_sheet(text)
    if title is not None and cells is None:
        return A1(title, whole_sheet=True)
    if title is None:
        assert cells is not None
        if cells in titles:
            return A1(cells, whole_sheet=True)
        try:
            r0, c0, r1, c1 = _parse_cells(cells, original)
        except RangeError:
            raise RangeError(f"Unable to parse range: {original}") from None
        return A1(None, r0, c0, r1, c1)
    assert cells is not None
    if cells == "":
        raise RangeError(f"Unable to parse range: {original}")
    r0, c0, r1, c1 = _parse_cells(cells, original)
    return A1(title, r0, c0, r1, c1)


def format_range(title: str, r0: int, c0: int, r1: int, c1: int) -> str:
    """``Sheet1!A1:B2`` (or ``Sheet1!A1`` for one cell) with Google's quoting."""
    start = f"{col_letters(c0)}{r0}"
    if (r0, c0) == (r1, c1):
        return f"{quote_title(title)}!{start}"
    return f"{quote_title(title)}!{start}:{col_letters(c1)}{r1}"
