"""The data that flows between the modules: typed cells, tables, snapshots, plans.

Everything here is a frozen dataclass or a pure helper, so the planner can be a
pure function of these values and every backend speaks the same language.

Coordinates in a ``Plan`` are 1-based sheet coordinates, like A1 notation:
row 1 is the header, data rows start at row 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

#: A cell as the Sheets API returns it with UNFORMATTED_VALUE / SERIAL_NUMBER,
#: and as we write it with RAW: text, a number, a boolean, or empty (None).
#: Date-times are serial numbers (days since 1899-12-30) in the sheet's time zone.
Cell = str | int | float | bool | None

#: A row key: the normalised text of each key field.
Key = tuple[str, ...]

#: The managed column in which the connector notes rows that left the report.
STATUS_COLUMN = "sync status"
MISSING_PREFIX = "missing since "

MissingRows = Literal["mark", "keep", "delete_unannotated"]


def is_empty(value: Cell) -> bool:
    """True for a cell that holds nothing (None or the empty string)."""
    return value is None or value == ""


def column_letter(col: int) -> str:
    """A1 letters of a 1-based column: 1 -> 'A', 27 -> 'AA'."""
    letters = ""
    while col > 0:
        col, rest = divmod(col - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def cell_text(value: Cell) -> str:
    """The text a key cell compares by: stripped, numbers without a needless '.0'.

    >>> cell_text(12.0), cell_text(" a@b.c "), cell_text(True), cell_text(None)
    ('12', 'a@b.c', 'TRUE', '')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isfinite(value) and value == int(value):
            return str(int(value))
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return value.strip()


def normalise_key(values: tuple[Cell, ...] | list[Cell]) -> Key | None:
    """The key of a row from its key cells; None when every part is empty."""
    key = tuple(cell_text(v) for v in values)
    return key if any(key) else None


def same_value(a: Cell, b: Cell) -> bool:
    """Whether two cells hold the same value once written and read back.

    Empty and "" are the same; booleans are never numbers; numbers compare with
    a tolerance far below a millisecond of a date-time serial, so a value that
    round-trips through the Sheets API or an .xlsx file equals itself.
    """
    if is_empty(a) or is_empty(b):
        return is_empty(a) and is_empty(b)
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-9)
    return a == b


@dataclass(frozen=True)
class Table:
    """One report, typed: columns in a stable order and one row of cells per key."""

    endpoint: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    key_fields: tuple[str, ...]
    #: The normalised key of each row, in the order of ``rows``.
    keys: tuple[Key, ...]
    #: Columns that hold ISO timestamps (written as date-time serials).
    datetime_columns: frozenset[str] = frozenset()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class Snapshot:
    """A worksheet as read: header row and data rows (sheet row 2 onwards).

    Rows may be shorter than the header (trailing empty cells are not returned
    by the Sheets API) and trailing empty rows are dropped.
    """

    title: str
    exists: bool = True
    header: tuple[Cell, ...] = ()
    rows: tuple[tuple[Cell, ...], ...] = ()
    #: Grid size (the Sheets API's gridProperties); 0 when unknown.
    row_count: int = 0
    col_count: int = 0


@dataclass(frozen=True)
class ColumnInsert:
    """Insert one new column at 1-based ``index`` with ``header`` in row 1.

    Columns at ``index`` and to its right move one to the right, whole (their
    cells stay on their rows). Inserts of a plan apply in order.
    """

    index: int
    header: str


@dataclass(frozen=True)
class CellUpdate:
    """Write ``value`` at (row, col), 1-based, in the sheet's final coordinates
    (after the plan's column inserts and row deletes). None clears the cell."""

    row: int
    col: int
    value: Cell


@dataclass(frozen=True)
class FormatRange:
    """Give rows ``first_row``..``last_row`` (inclusive) of column ``col`` a
    date-time number format. Final coordinates."""

    col: int
    first_row: int
    last_row: int


@dataclass(frozen=True)
class Counts:
    rows: int = 0  # rows in the report
    added: int = 0  # new keys appended
    updated_rows: int = 0  # existing rows with at least one changed managed cell
    updated_cells: int = 0  # cells written in existing rows (status cells included)
    missing: int = 0  # keyed rows in the sheet whose key is not in the report
    newly_missing: int = 0  # of those, rows not already marked missing
    deleted: int = 0  # rows deleted (missing_rows = "delete_unannotated")
    unchanged: int = 0  # report rows already equal in the sheet
    sheet_rows: int = 0  # keyed rows in the sheet before the sync


@dataclass(frozen=True)
class Plan:
    """What one sync of one worksheet changes, as data. Backends apply it in
    this order: create the sheet, column inserts, row deletes (descending),
    grow the grid to ``min_rows`` x ``min_cols``, formats, then cell updates."""

    title: str
    create_sheet: bool = False
    column_inserts: tuple[ColumnInsert, ...] = ()
    #: 1-based sheet rows in the snapshot's coordinates, descending.
    row_deletes: tuple[int, ...] = ()
    updates: tuple[CellUpdate, ...] = ()
    formats: tuple[FormatRange, ...] = ()
    min_rows: int = 1
    min_cols: int = 1
    #: Final 1-based columns of the key fields.
    key_columns: tuple[int, ...] = ()
    #: Expected key of each data row (sheet row 2 on) after the structural
    #: changes and before the values write: the re-read guard compares it with
    #: the sheet just before writing values.
    expected_keys: tuple[Key | None, ...] = ()
    warnings: tuple[str, ...] = ()
    counts: Counts = field(default_factory=Counts)
    #: Up to 10 human-readable sample changes, for --dry-run.
    samples: tuple[str, ...] = ()

    @property
    def has_structure(self) -> bool:
        """True when the plan needs a structural write (sheet, columns, rows, formats)."""
        return bool(self.create_sheet or self.column_inserts or self.row_deletes or self.formats)

    @property
    def is_noop(self) -> bool:
        return not (self.has_structure or self.updates)


def header_text(cells: Sequence[Cell]) -> tuple[str, ...]:
    """A header row as the text it compares by, trailing empty cells dropped."""
    text = [cell_text(c) for c in cells]
    while text and not text[-1]:
        text.pop()
    return tuple(text)


def header_after(header: tuple[Cell, ...], inserts: tuple[ColumnInsert, ...]) -> tuple[str, ...]:
    """The header row once ``inserts`` are applied (what the re-read guard expects)."""
    text = list(header_text(header))
    for ins in inserts:
        if ins.index - 1 > len(text):
            text.extend([""] * (ins.index - 1 - len(text)))
        text.insert(ins.index - 1, ins.header)
    return header_text(text)


def keys_match(expected: tuple[Key | None, ...], found: tuple[Key | None, ...]) -> bool:
    """Whether the key column read just before writing matches the plan's
    expectation (trailing empty keys ignored on both sides)."""

    def trim(keys: tuple[Key | None, ...]) -> tuple[Key | None, ...]:
        end = len(keys)
        while end and keys[end - 1] is None:
            end -= 1
        return keys[:end]

    return trim(expected) == trim(found)
