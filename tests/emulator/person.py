"""A person editing a spreadsheet in the browser: direct edits to the model,
no quota, not logged. Coordinates are 1-based like the sheet's UI."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .model import Sheet
from .values import stored_raw
from .values_api import read_block

if TYPE_CHECKING:
    from .server import Emulator

Cell = str | int | float | bool | None


class Person:
    def __init__(self, emulator: Emulator, spreadsheet_id: str) -> None:
        self.emulator = emulator
        self.spreadsheet_id = spreadsheet_id

    def _sheet(self, title: str) -> Sheet:
        book = self.emulator.books[self.spreadsheet_id]
        sheet = book.sheet_by_title(title)
        if sheet is None or sheet.title != title:
            raise KeyError(f"no sheet titled {title!r}")
        return sheet

    def set_cells(self, title: str, row: int, col: int, values: list[list[Cell]]) -> None:
        """Type ``values`` with their top-left at (row, col); None or "" clears a cell."""
        with self.emulator.lock:
            sheet = self._sheet(title)
            height = len(values)
            width = max((len(r) for r in values), default=0)
            if row - 1 + height > sheet.row_count or col - 1 + width > sheet.col_count:
                raise ValueError("a person cannot type outside the grid")
            for i, data in enumerate(values):
                target = sheet.row(row - 1 + i)
                for j, value in enumerate(data):
                    target.set_value(col - 1 + j, stored_raw(value))
                target.trim()

    def values(self, title: str) -> list[list[Any]]:
        """The used area as UNFORMATTED_VALUE / SERIAL_NUMBER reads it ("" for gaps)."""
        with self.emulator.lock:
            sheet = self._sheet(title)
            return read_block(
                sheet, 0, 0, sheet.row_count, sheet.col_count, "UNFORMATTED_VALUE", "SERIAL_NUMBER"
            )

    def insert_rows(self, title: str, index: int, count: int = 1) -> None:
        """Insert ``count`` empty rows before row ``index``; cells move with their rows."""
        with self.emulator.lock:
            self._sheet(title).insert_rows(index - 1, count)

    def delete_rows(self, title: str, index: int, count: int = 1) -> None:
        with self.emulator.lock:
            self._sheet(title).delete_rows(index - 1, index - 1 + count)

    def sort_rows(
        self, title: str, col: int, *, descending: bool = False, header_rows: int = 1
    ) -> None:
        """Data > Sort range over the used rows below the header: whole rows move."""
        with self.emulator.lock:
            sheet = self._sheet(title)
            used, _ = sheet.used_extent()
            sheet.sort(header_rows, max(used, header_rows), [(col - 1, descending)])

    def move_column(self, title: str, src: int, dst: int) -> None:
        """Drag column ``src`` so it becomes column ``dst``."""
        with self.emulator.lock:
            self._sheet(title).move_col(src - 1, dst - 1)

    def insert_columns(self, title: str, index: int, count: int = 1) -> None:
        with self.emulator.lock:
            self._sheet(title).insert_cols(index - 1, count)

    def delete_columns(self, title: str, index: int, count: int = 1) -> None:
        with self.emulator.lock:
            self._sheet(title).delete_cols(index - 1, index - 1 + count)

    def rename_sheet(self, old: str, new: str) -> None:
        with self.emulator.lock:
            self._sheet(old).props["title"] = new

    def grid(self, title: str) -> tuple[int, int]:
        with self.emulator.lock:
            sheet = self._sheet(title)
            return sheet.row_count, sheet.col_count

    def _fmt(self, title: str, row: int, col: int) -> dict[str, Any]:
        sheet = self._sheet(title)
        target = sheet.peek(row - 1)
        extra = target.extra_of(col - 1) if target else None
        return dict((extra or {}).get("fmt") or {})

    def number_format(self, title: str, row: int, col: int) -> dict[str, Any] | None:
        with self.emulator.lock:
            fmt = self._fmt(title, row, col).get("numberFormat")
            return dict(fmt) if fmt else None

    def is_bold(self, title: str, row: int, col: int) -> bool:
        with self.emulator.lock:
            return bool((self._fmt(title, row, col).get("textFormat") or {}).get("bold"))

    def frozen_rows(self, title: str) -> int:
        with self.emulator.lock:
            return int(self._sheet(title).grid.get("frozenRowCount") or 0)

    def note(self, title: str, row: int, col: int) -> str | None:
        with self.emulator.lock:
            target = self._sheet(title).peek(row - 1)
            extra = target.extra_of(col - 1) if target else None
            return (extra or {}).get("note")
