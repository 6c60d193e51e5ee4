"""An in-memory spreadsheet: the reference backend for tests and contract tests.

``MemorySheet`` is one worksheet as a list of rows of cells (row 0 is the
header) that applies a ``Plan`` the way a spreadsheet does: inserted columns
push whole columns right, deleted rows pull the rows below up, writes outside
the grid fail. Tests edit ``rows`` directly, like a person would (sort, insert
rows, type notes). ``MemoryBackend`` implements ``sync.sheets.base.Backend``
over a dict of them. No I/O.

Reads look like the Sheets API's ``UNFORMATTED_VALUE``: trailing empty cells
and trailing empty rows are left out, and empty cells inside a row read as
``""``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from sync.errors import GridLimit, SyncError
from sync.model import Cell, Plan, Snapshot, is_empty

log = logging.getLogger(__name__)

DATE_TIME = "DATE_TIME"


def _trimmed(row: Sequence[Cell]) -> tuple[Cell, ...]:
    end = len(row)
    while end and is_empty(row[end - 1]):
        end -= 1
    return tuple("" if c is None else c for c in row[:end])


class MemorySheet:
    """One worksheet held in memory."""

    def __init__(
        self,
        title: str,
        rows: list[list[Cell]] | None = None,
        *,
        exists: bool = True,
        grid: tuple[int, int] = (0, 0),
    ) -> None:
        self.title = title
        #: The whole sheet, header included: ``rows[0]`` is sheet row 1.
        self.rows: list[list[Cell]] = [list(r) for r in rows] if rows else []
        self.exists = exists
        #: (row, col), 1-based -> number format name; only "DATE_TIME" is used.
        self.formats: dict[tuple[int, int], str] = {}
        # The grid is at least as large as the data; ``grid`` may make it larger.
        # Kept tight by default so that a plan with a too small min_rows/min_cols fails.
        self._grid_rows, self._grid_cols = grid

    @property
    def row_count(self) -> int:
        """Rows in the grid (grows with the plan's ``min_rows`` and with ``rows``)."""
        return max(self._grid_rows, len(self.rows))

    @property
    def col_count(self) -> int:
        return max(self._grid_cols, max(map(len, self.rows), default=0))

    def cell(self, row: int, col: int) -> Cell:
        """The cell at 1-based (row, col); None when empty or outside the data."""
        if row - 1 < len(self.rows) and col - 1 < len(self.rows[row - 1]):
            return self.rows[row - 1][col - 1]
        return None

    def set_cell(self, row: int, col: int, value: Cell) -> None:
        """Type ``value`` at 1-based (row, col), like a person (no grid check)."""
        while len(self.rows) < row:
            self.rows.append([])
        cells = self.rows[row - 1]
        cells.extend([None] * (col - len(cells)))
        cells[col - 1] = value

    def column(self, header: str) -> int:
        """1-based column of the first header cell equal to ``header`` (0 if none)."""
        for c, name in enumerate(self.rows[0] if self.rows else [], start=1):
            if isinstance(name, str) and name.strip() == header:
                return c
        return 0

    def snapshot(self) -> Snapshot:
        """The sheet as the Sheets API would return it."""
        if not self.exists:
            return Snapshot(self.title, exists=False)
        header = _trimmed(self.rows[0]) if self.rows else ()
        data = [_trimmed(r) for r in self.rows[1:]]
        while data and not data[-1]:
            data.pop()
        return Snapshot(
            self.title,
            exists=True,
            header=header,
            rows=tuple(data),
            row_count=self.row_count,
            col_count=self.col_count,
        )

    def apply(self, plan: Plan) -> None:
        """Apply a whole plan: structure, then values."""
        self.apply_structure(plan)
        self.apply_values(plan)

    def apply_structure(self, plan: Plan) -> None:
        """Create, insert columns, delete rows, grow the grid, set formats."""
        if plan.create_sheet and not self.exists:
            self.exists, self.rows = True, []
            self._grid_rows, self._grid_cols = 1, 1
        if not self.exists:
            raise SyncError(f"worksheet {self.title!r} does not exist")
        for insert in plan.column_inserts:
            at = insert.index - 1
            if not self.rows:
                self.rows.append([])
            for row in self.rows:
                if len(row) > at:
                    row.insert(at, None)
            header = self.rows[0]
            header.extend([None] * (at + 1 - len(header)))
            header[at] = insert.header
            self.formats = {
                (r, c + 1 if c >= insert.index else c): f for (r, c), f in self.formats.items()
            }
            self._grid_cols = max(self._grid_cols, self.col_count) + 1
        for number in plan.row_deletes:  # descending
            if number < 2:
                raise SyncError(f"cannot delete row {number}")
            if number - 1 < len(self.rows):
                del self.rows[number - 1]
            self._grid_rows = max(self._grid_rows - 1, 1)
            self.formats = {
                (r - 1 if r > number else r, c): f
                for (r, c), f in self.formats.items()
                if r != number
            }
        self._grid_rows = max(self._grid_rows, plan.min_rows)
        self._grid_cols = max(self._grid_cols, plan.min_cols)
        for fmt in plan.formats:
            for r in range(fmt.first_row, fmt.last_row + 1):
                self.formats[(r, fmt.col)] = DATE_TIME

    def apply_values(self, plan: Plan) -> None:
        """Write every cell update (RAW: text stays text); None clears a cell."""
        rows_limit, cols_limit = self.row_count, self.col_count
        for update in plan.updates:
            if not (1 <= update.row <= rows_limit and 1 <= update.col <= cols_limit):
                raise GridLimit(
                    f"Range ({self.title}!R{update.row}C{update.col}) exceeds grid limits. "
                    f"Max rows: {rows_limit}, max columns: {cols_limit}"
                )
            while len(self.rows) < update.row:
                self.rows.append([])
            row = self.rows[update.row - 1]
            if len(row) < update.col:
                if update.value is None:
                    continue
                row.extend([None] * (update.col - len(row)))
            row[update.col - 1] = update.value

    def keys(self, columns: Sequence[int]) -> tuple[tuple[Cell, ...], ...]:
        """The cells of ``columns`` (1-based) in every data row, as the API reads them."""
        snap = self.snapshot()
        out = []
        for row in snap.rows:
            out.append(tuple(row[c - 1] if c - 1 < len(row) else "" for c in columns))
        return tuple(out)


class MemoryBackend:
    """``Backend`` over a dict of ``MemorySheet``, keyed by title.

    ``calls`` records the method names called, so tests can check the order
    an engine uses (read, refuse, apply_structure, read_keys, apply_values).
    """

    def __init__(
        self, sheets: dict[str, MemorySheet] | None = None, *, timezone: str = "UTC"
    ) -> None:
        self.sheets: dict[str, MemorySheet] = sheets if sheets is not None else {}
        self.lock_name = f"memory:{id(self):x}"
        self.description = "in-memory spreadsheet"
        self._timezone = timezone
        self.calls: list[str] = []
        self.closed = False

    def sheet(self, title: str) -> MemorySheet:
        """The worksheet called ``title`` (created absent if unknown)."""
        if title not in self.sheets:
            self.sheets[title] = MemorySheet(title, exists=False)
        return self.sheets[title]

    def read(self, titles: Sequence[str]) -> dict[str, Snapshot]:
        self.calls.append("read")
        return {title: self.sheet(title).snapshot() for title in titles}

    def timezone(self) -> str:
        return self._timezone

    def refuse(self, plans: Sequence[Plan]) -> dict[str, SyncError]:
        self.calls.append("refuse")
        return {}

    def apply_structure(self, plans: Sequence[Plan]) -> None:
        self.calls.append("apply_structure")
        for plan in plans:
            self.sheet(plan.title).apply_structure(plan)

    def read_keys(
        self, columns: Mapping[str, tuple[int, ...]]
    ) -> dict[str, tuple[tuple[Cell, ...], ...]]:
        self.calls.append("read_keys")
        return {title: self.sheet(title).keys(cols) for title, cols in columns.items()}

    def read_guard(
        self, columns: Mapping[str, tuple[int, ...]]
    ) -> dict[str, tuple[tuple[Cell, ...], tuple[tuple[Cell, ...], ...]]]:
        keys = self.read_keys(columns)
        return {t: (self.sheet(t).snapshot().header, keys[t]) for t in columns}

    def apply_values(self, plans: Sequence[Plan]) -> None:
        self.calls.append("apply_values")
        for plan in plans:
            self.sheet(plan.title).apply_values(plan)

    def close(self) -> None:
        self.calls.append("close")
        self.closed = True


if TYPE_CHECKING:  # mypy checks that MemoryBackend implements the protocol
    from sync.sheets.base import Backend

    _backend: Backend = MemoryBackend()
