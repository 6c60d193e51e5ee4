"""The emulator's in-memory spreadsheets: sheets as lists of rows.

Owns the data structure and the structural operations every caller shares
(API handlers, batchUpdate requests, the ``Person`` who edits by hand):
writing and reading blocks of cells, inserting/deleting/moving rows and
columns, sorting, clearing. A sheet keeps only its used rows; a row keeps
only its used cells, so a 100,000 x 15 sheet costs O(cells) to read or sort.
Coordinates are 0-based here; A1 coordinates are converted by the callers.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

CELL_LIMIT = 10_000_000
DEFAULT_ROWS = 1000
DEFAULT_COLS = 26


class Row:
    """One sheet row: values, per-cell extras (formula, format, note), metadata ids."""

    __slots__ = ("cells", "extra", "meta")

    def __init__(self, cells: list[Any] | None = None) -> None:
        self.cells: list[Any] = cells if cells is not None else []
        self.extra: dict[int, dict[str, Any]] | None = None
        self.meta: list[int] | None = None

    def clone(self) -> Row:
        row = Row(list(self.cells))
        if self.extra:
            row.extra = {k: dict(v) for k, v in self.extra.items()}
        if self.meta:
            row.meta = list(self.meta)
        return row

    def get(self, col: int) -> Any:
        cells = self.cells
        return cells[col] if col < len(cells) else None

    def extra_of(self, col: int) -> dict[str, Any] | None:
        return self.extra.get(col) if self.extra else None

    def set_value(self, col: int, value: Any, formula: str | None = None) -> None:
        cells = self.cells
        if col >= len(cells):
            if value is None:
                self._set_formula(col, None)
                return
            cells.extend([None] * (col + 1 - len(cells)))
        cells[col] = value
        self._set_formula(col, formula)

    def _set_formula(self, col: int, formula: str | None) -> None:
        if formula is None:
            if self.extra and col in self.extra:
                self.extra[col].pop("formula", None)
                if not self.extra[col]:
                    del self.extra[col]
            return
        self.extra_for(col)["formula"] = formula

    def extra_for(self, col: int) -> dict[str, Any]:
        if self.extra is None:
            self.extra = {}
        return self.extra.setdefault(col, {})

    def trim(self) -> None:
        cells = self.cells
        while cells and cells[-1] is None:
            cells.pop()

    def is_empty(self) -> bool:
        return not any(v is not None for v in self.cells)

    def insert_cols(self, index: int, count: int) -> None:
        if index < len(self.cells):
            self.cells[index:index] = [None] * count
        if self.extra:
            self.extra = {(k + count if k >= index else k): v for k, v in self.extra.items()}

    def delete_cols(self, start: int, end: int) -> None:
        del self.cells[start:end]
        if self.extra:
            width = end - start
            self.extra = {
                (k - width if k >= end else k): v
                for k, v in self.extra.items()
                if not start <= k < end
            }


@dataclass
class Sheet:
    props: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    basic_filter: dict[str, Any] | None = None
    protected_ranges: list[dict[str, Any]] = field(default_factory=list)
    merges: list[dict[str, Any]] = field(default_factory=list)
    extras: dict[str, Any] = field(default_factory=dict)
    #: Copy-on-write: rows may be shared with the sheet this one was cloned from;
    #: only rows whose id is in ``owned`` may be changed in place.
    cow: bool = False
    owned: set[int] = field(default_factory=set)

    @property
    def sheet_id(self) -> int:
        return int(self.props["sheetId"])

    @property
    def title(self) -> str:
        return str(self.props["title"])

    @property
    def grid(self) -> dict[str, Any]:
        return self.props.setdefault("gridProperties", {})  # type: ignore[no-any-return]

    @property
    def row_count(self) -> int:
        return int(self.grid.get("rowCount", 0))

    @property
    def col_count(self) -> int:
        return int(self.grid.get("columnCount", 0))

    def clone(self) -> Sheet:
        """A copy sharing rows copy-on-write (O(rows) pointers, not O(cells))."""
        return Sheet(
            props=copy.deepcopy(self.props),
            rows=list(self.rows),
            basic_filter=copy.deepcopy(self.basic_filter),
            protected_ranges=copy.deepcopy(self.protected_ranges),
            merges=copy.deepcopy(self.merges),
            extras=copy.deepcopy(self.extras),
            cow=True,
        )

    def settle(self) -> None:
        """This sheet is now the only owner of its rows."""
        self.cow = False
        self.owned = set()

    def _mut(self, index: int) -> Row:
        row = self.rows[index]
        if self.cow and id(row) not in self.owned:
            row = row.clone()
            self.rows[index] = row
            self.owned.add(id(row))
        return row

    def _new_row(self) -> Row:
        row = Row()
        if self.cow:
            self.owned.add(id(row))
        return row

    # --- cells -------------------------------------------------------------------

    def row(self, index: int) -> Row:
        """The row at ``index``, created (with the rows before it) when needed."""
        rows = self.rows
        if index >= len(rows):
            rows.extend(self._new_row() for _ in range(index + 1 - len(rows)))
        return self._mut(index)

    def peek(self, index: int) -> Row | None:
        return self.rows[index] if index < len(self.rows) else None

    def used_extent(self) -> tuple[int, int]:
        """(rows, cols) of the used area (cells holding a value)."""
        last_row = 0
        width = 0
        for i, row in enumerate(self.rows):
            cells = row.cells
            n = len(cells)
            while n and cells[n - 1] is None:
                n -= 1
            if n:
                last_row = i + 1
                width = max(width, n)
        return last_row, width

    def trim(self) -> None:
        rows = self.rows
        while rows and rows[-1].is_empty() and not rows[-1].extra and not rows[-1].meta:
            rows.pop()

    def clear(self, r0: int, c0: int, r1: int, c1: int) -> None:
        """Clear values (and formulas) in [r0, r1) x [c0, c1); formats stay."""
        for i in range(r0, min(r1, len(self.rows))):
            row = self.rows[i]
            if not any(v is not None for v in row.cells[c0:c1]) and not row.extra:
                continue
            row = self._mut(i)
            cells = row.cells
            if c0 < len(cells):
                end = min(c1, len(cells))
                cells[c0:end] = [None] * (end - c0)
            if row.extra:
                for col in [k for k in row.extra if c0 <= k < c1]:
                    row.extra[col].pop("formula", None)
                    if not row.extra[col]:
                        del row.extra[col]
            row.trim()

    # --- structure ---------------------------------------------------------------

    def insert_rows(self, start: int, count: int) -> None:
        if start < len(self.rows):
            self.rows[start:start] = [self._new_row() for _ in range(count)]
        self.grid["rowCount"] = self.row_count + count

    def delete_rows(self, start: int, end: int) -> None:
        del self.rows[start:end]
        self.grid["rowCount"] = self.row_count - (end - start)

    def insert_cols(self, start: int, count: int) -> None:
        for i in range(len(self.rows)):
            self._mut(i).insert_cols(start, count)
        self.grid["columnCount"] = self.col_count + count

    def delete_cols(self, start: int, end: int) -> None:
        for i in range(len(self.rows)):
            self._mut(i).delete_cols(start, end)
        self.grid["columnCount"] = self.col_count - (end - start)

    def move_rows(self, start: int, end: int, dest: int) -> None:
        self.row(max(end, dest) - 1)
        block = self.rows[start:end]
        del self.rows[start:end]
        at = dest if dest < start else dest - (end - start)
        self.rows[at:at] = block

    def move_col(self, src: int, dst: int) -> None:
        """Move column ``src`` so that it lands at index ``dst`` (0-based)."""
        for i in range(len(self.rows)):
            row = self._mut(i)
            width = max(src, dst) + 1
            if len(row.cells) < width:
                row.cells.extend([None] * (width - len(row.cells)))
            value = row.cells.pop(src)
            row.cells.insert(dst, value)
            if row.extra:
                order = list(range(width))
                moved = order.pop(src)
                order.insert(dst, moved)
                new_index = {old: new for new, old in enumerate(order)}
                row.extra = {new_index.get(k, k): v for k, v in row.extra.items()}
            row.trim()

    def sort(self, r0: int, r1: int, specs: list[tuple[int, bool]]) -> None:
        """Sort rows [r0, r1) by (column, descending) specs; empties last."""
        if r1 > len(self.rows):
            r1 = max(r0, len(self.rows))
        block = self.rows[r0:r1]
        for col, descending in reversed(specs):
            filled = [r for r in block if r.get(col) is not None]
            empty = [r for r in block if r.get(col) is None]
            filled.sort(key=lambda r, c=col: sort_key(r.get(c)), reverse=descending)
            block = filled + empty
        self.rows[r0:r1] = block


def sort_key(value: Any) -> tuple[int, Any]:
    """Google orders numbers < text < booleans; text case-insensitively."""
    if isinstance(value, bool):
        return (2, value)
    if isinstance(value, int | float):
        return (0, value)
    return (1, str(value).lower())


@dataclass
class Spreadsheet:
    spreadsheet_id: str
    props: dict[str, Any]
    sheets: list[Sheet]
    shared_with: set[str] | None = None
    named_ranges: list[dict[str, Any]] = field(default_factory=list)
    developer_metadata: dict[int, dict[str, Any]] = field(default_factory=dict)
    created: str = field(
        default_factory=lambda: dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    )
    next_id: int = 1

    def sheet_by_id(self, sheet_id: int) -> Sheet | None:
        for sheet in self.sheets:
            if sheet.sheet_id == sheet_id:
                return sheet
        return None

    def sheet_by_title(self, title: str) -> Sheet | None:
        for sheet in self.sheets:
            if sheet.title == title:
                return sheet
        lower = title.lower()
        for sheet in self.sheets:
            if sheet.title.lower() == lower:
                return sheet
        return None

    def total_cells(self) -> int:
        return sum(s.row_count * s.col_count for s in self.sheets)

    def reindex(self) -> None:
        for i, sheet in enumerate(self.sheets):
            sheet.props["index"] = i

    def new_sheet_id(self) -> int:
        taken = {s.sheet_id for s in self.sheets}
        while True:
            candidate = (self.next_id * 1_103_515_245 + 12_345) % 2_147_483_647
            self.next_id += 1
            if candidate not in taken and candidate:
                return candidate

    def clone(self) -> Spreadsheet:
        """A copy sharing nothing mutable (for atomic batchUpdate)."""
        return Spreadsheet(
            spreadsheet_id=self.spreadsheet_id,
            props=copy.deepcopy(self.props),
            sheets=list(self.sheets),
            shared_with=self.shared_with,
            named_ranges=copy.deepcopy(self.named_ranges),
            developer_metadata=copy.deepcopy(self.developer_metadata),
            created=self.created,
            next_id=self.next_id,
        )


def new_sheet(sheet_id: int, title: str, index: int, rows: int, cols: int) -> Sheet:
    return Sheet(
        props={
            "sheetId": sheet_id,
            "title": title,
            "index": index,
            "sheetType": "GRID",
            "gridProperties": {"rowCount": rows, "columnCount": cols},
        }
    )


def new_spreadsheet(
    spreadsheet_id: str,
    title: str,
    *,
    locale: str = "en_US",
    time_zone: str = "Etc/GMT",
    sheets: Iterable[str] = ("Sheet1",),
    shared_with: set[str] | None = None,
) -> Spreadsheet:
    book = Spreadsheet(
        spreadsheet_id=spreadsheet_id,
        props={"title": title, "locale": locale, "autoRecalc": "ON_CHANGE", "timeZone": time_zone},
        sheets=[],
        shared_with=shared_with,
    )
    for i, name in enumerate(sheets):
        sheet_id = 0 if i == 0 else book.new_sheet_id()
        book.sheets.append(new_sheet(sheet_id, name, i, DEFAULT_ROWS, DEFAULT_COLS))
    return book
