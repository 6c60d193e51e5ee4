"""The local .xlsx workbook backend (openpyxl).

``WorkbookBackend`` implements ``sync.sheets.base.Backend`` for a workbook
file: ``read`` loads the file once per cycle, ``apply_structure`` and
``apply_values`` edit the in-memory workbook, and the values step ends with
one atomic save (see ``xlsx_safety``). Cells are typed like the Sheets API's
UNFORMATTED_VALUE/SERIAL_NUMBER (see ``xlsx_cells``).

Column inserts and row deletes move cells whole, with their merges, widths,
heights and hyperlinks (see ``xlsx_structure`` for what openpyxl cannot move).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet.worksheet import Worksheet

from sync.errors import ConfigError, GridLimit, SheetError, SyncError
from sync.model import Cell, Plan, Snapshot, is_empty
from sync.sheets.xlsx_cells import BOLD, DATETIME_FORMAT, excel_text, read_value, write_cell
from sync.sheets.xlsx_safety import (
    FileStamp,
    atomic_save,
    check_not_open,
    check_path,
    load_workbook,
    remove_stale_temps,
)
from sync.sheets.xlsx_structure import delete_row, insert_column, widen_for_datetimes

log = logging.getLogger(__name__)

MAX_ROWS = 1_048_576
MAX_COLS = 16_384
MAX_TITLE = 31
BAD_TITLE_CHARS = frozenset("[]:*?/\\")


def local_timezone() -> str:
    """The machine's IANA time zone name, "UTC" when it cannot be told."""
    candidates: list[str] = []
    if os.environ.get("TZ"):
        candidates.append(os.environ["TZ"].lstrip(":"))
    with contextlib.suppress(OSError):
        candidates.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    try:
        target = os.readlink("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            continue
        return name
    return "UTC"


def _trim(cells: Sequence[Cell]) -> tuple[Cell, ...]:
    """Trailing empty cells left out, empty cells inside read as "" (as the
    Sheets API returns them)."""
    end = len(cells)
    while end and is_empty(cells[end - 1]):
        end -= 1
    return tuple("" if c is None else c for c in cells[:end])


def title_problem(title: str) -> str | None:
    """Why ``title`` cannot name an Excel worksheet, or None."""
    if not title.strip():
        return "an empty title"
    if len(title) > MAX_TITLE:
        return f"longer than {MAX_TITLE} characters"
    bad = sorted(set(title) & BAD_TITLE_CHARS)
    if bad:
        return "it contains " + " ".join(bad)
    if title.startswith("'") or title.endswith("'"):
        return "it starts or ends with an apostrophe"
    return None


class WorkbookBackend:
    """A local .xlsx workbook as the destination of a sync."""

    def __init__(
        self,
        path: Path,
        *,
        timezone: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.lock_name = str(self.path.resolve())
        self.description = f"workbook {self.path}"
        self._timezone = timezone or local_timezone()
        self._clock = clock
        self._workbook: Workbook | None = None
        self._stamp: FileStamp | None = None
        #: The default "Sheet" of a brand-new workbook, replaced by the first new sheet.
        self._default_sheet: Worksheet | None = None
        self._dirty = False
        #: Test hook: runs after the temp file is written, before the rename.
        self._before_replace: Callable[[], None] | None = None

    # --- reading ------------------------------------------------------------

    def read(self, titles: Sequence[str]) -> dict[str, Snapshot]:
        """Load the workbook (once per cycle) and snapshot the named sheets."""
        check_path(self.path)
        remove_stale_temps(self.path, now=self._clock())
        self._dirty = False
        self._default_sheet = None
        self._stamp = FileStamp.of(self.path)
        if self._stamp is None:
            log.info("%s does not exist yet: it is created at the first write", self.path)
            self._workbook = None
            return {title: Snapshot(title=title, exists=False) for title in titles}
        self._workbook = load_workbook(self.path)
        snapshots: dict[str, Snapshot] = {}
        for title in titles:
            sheet = self._find(title)
            snapshots[title] = (
                Snapshot(title=title, exists=False) if sheet is None else _snapshot(title, sheet)
            )
        return snapshots

    def check(self) -> list[str]:
        """Lines for ``dq-sheets-sync check``: where the workbook is and whether
        a sync could write it now (raises ``Busy`` while it is open elsewhere)."""
        check_path(self.path)
        state = "exists" if self.path.exists() else "does not exist yet (created on the first sync)"
        folder = self.path.resolve().parent
        if not os.access(folder, os.W_OK):
            raise ConfigError(
                f"workbook.path: the folder {folder} is not writable by this user; "
                "a sync writes a temporary file there and renames it over the workbook"
            )
        check_not_open(self.path)
        return [f"Workbook {self.path}: {state}; its folder is writable; not open in Excel."]

    def clean(self, value: Cell) -> Cell:
        """A report value as an .xlsx cell will hold it, so the planner compares
        like with like (text without control characters, at most 32,767 long)."""
        return excel_text(value) if isinstance(value, str) else value

    def timezone(self) -> str:
        return self._timezone

    def read_keys(
        self, columns: Mapping[str, tuple[int, ...]]
    ) -> dict[str, tuple[tuple[Cell, ...], ...]]:
        """Key cells of every data row up to the last non-empty row, from the
        in-memory workbook (empty cells read as "")."""
        found: dict[str, tuple[tuple[Cell, ...], ...]] = {}
        for title, cols in columns.items():
            sheet = self._find(title)
            if sheet is None:
                found[title] = ()
                continue
            last = _last_data_row(sheet)
            found[title] = tuple(
                tuple(_text_or_value(sheet.cell(row=r, column=c).value) for c in cols)
                for r in range(2, last + 1)
            )
        return found

    def read_guard(
        self, columns: Mapping[str, tuple[int, ...]]
    ) -> dict[str, tuple[tuple[Cell, ...], tuple[tuple[Cell, ...], ...]]]:
        """Header rows and key cells from the in-memory workbook."""
        keys = self.read_keys(columns)
        out: dict[str, tuple[tuple[Cell, ...], tuple[tuple[Cell, ...], ...]]] = {}
        for title in columns:
            sheet = self._find(title)
            header = () if sheet is None else _snapshot(title, sheet).header
            out[title] = (header, keys[title])
        return out

    # --- guards -------------------------------------------------------------

    def refuse(self, plans: Sequence[Plan]) -> dict[str, SyncError]:
        """Plans that would pass Excel's grid limits or use an impossible title."""
        refused: dict[str, SyncError] = {}
        for plan in plans:
            sheet = self._find(plan.title)
            if sheet is None and plan.create_sheet:
                problem = title_problem(plan.title)
                if problem:
                    refused[plan.title] = ConfigError(
                        f"worksheet title {plan.title!r} cannot be used in an .xlsx "
                        f"workbook ({problem}): choose another title"
                    )
                    continue
            rows = max([plan.min_rows] + [u.row for u in plan.updates])
            cols = max([plan.min_cols] + [u.col for u in plan.updates])
            if sheet is not None:
                rows = max(rows, sheet.max_row - len(plan.row_deletes))
                cols = max(cols, sheet.max_column + len(plan.column_inserts))
            if rows > MAX_ROWS or cols > MAX_COLS:
                refused[plan.title] = GridLimit(
                    f"{plan.title}: {rows} rows x {cols} columns would pass the limit of "
                    f"an Excel worksheet ({MAX_ROWS} rows, {MAX_COLS} columns)"
                )
        return refused

    # --- writing ------------------------------------------------------------

    def _sheet_for(self, plan: Plan) -> Worksheet:
        """The plan's worksheet, created when the plan says so."""
        sheet = self._find(plan.title)
        if sheet is None:
            if not plan.create_sheet:
                raise self._missing(plan.title)
            sheet = self._create(plan.title)
        return sheet

    def apply_structure(self, plans: Sequence[Plan]) -> None:
        """Create sheets, insert columns, delete rows, set formats (in memory)."""
        if not any(plan.has_structure for plan in plans):
            return
        check_not_open(self.path)
        for plan in plans:
            if not plan.has_structure:
                continue
            sheet = self._sheet_for(plan)
            for insert in plan.column_inserts:
                insert_column(sheet, insert.index)
                header = sheet.cell(row=1, column=insert.index)
                write_cell(header, insert.header, as_datetime=False, where=plan.title)
                header.font = BOLD
            for row in sorted(plan.row_deletes, reverse=True):
                delete_row(sheet, row)
            for fmt in plan.formats:
                for row in range(fmt.first_row, fmt.last_row + 1):
                    sheet.cell(row=row, column=fmt.col).number_format = DATETIME_FORMAT
                widen_for_datetimes(sheet, fmt.col)
            log.debug(
                "%s: structure applied (%d columns inserted, %d rows deleted)",
                plan.title,
                len(plan.column_inserts),
                len(plan.row_deletes),
            )
            self._dirty = True

    def apply_values(self, plans: Sequence[Plan]) -> None:
        """Write every cell update in memory, then save the file once, atomically."""
        for plan in plans:
            if not plan.updates:
                continue
            sheet = self._sheet_for(plan)
            dated = {
                (fmt.col, row)
                for fmt in plan.formats
                for row in range(fmt.first_row, fmt.last_row + 1)
            }
            for update in plan.updates:
                cell = sheet.cell(row=update.row, column=update.col)
                as_datetime = update.row > 1 and ((update.col, update.row) in dated or cell.is_date)
                where = f"{plan.title}!{cell.coordinate}"
                write_cell(cell, update.value, as_datetime=as_datetime, where=where)
                if update.row == 1:
                    cell.font = BOLD
            self._dirty = True
        if self._dirty and self._workbook is not None:
            atomic_save(
                self._workbook,
                self.path,
                stamp=self._stamp,
                before_replace=self._before_replace,
            )
            self._stamp = FileStamp.of(self.path)
            self._dirty = False
            log.info("saved %s", self.path)

    def close(self) -> None:
        self._workbook = None
        self._default_sheet = None

    # --- helpers ------------------------------------------------------------

    def _find(self, title: str) -> Worksheet | None:
        """The worksheet named ``title`` (Excel titles ignore case)."""
        if self._workbook is None:
            return None
        sheets = self._workbook.worksheets
        for sheet in sheets:
            if sheet.title == title:
                return sheet
        folded = title.casefold()
        for sheet in sheets:
            if sheet.title.casefold() == folded:
                return sheet
        return None

    def _create(self, title: str) -> Worksheet:
        if self._workbook is None:
            self._workbook = Workbook()
            self._default_sheet = self._workbook.active
        if self._default_sheet is not None:
            sheet = self._default_sheet
            sheet.title = title
            self._default_sheet = None
        else:
            sheet = self._workbook.create_sheet(title)
        sheet.freeze_panes = "A2"
        log.info("%s: new worksheet in %s", title, self.path.name)
        self._dirty = True
        return sheet

    def _missing(self, title: str) -> SheetError:
        return SheetError(
            f"worksheet {title!r} is not in {self.path.name} (was it deleted or renamed "
            f"during the sync?): it will be created at the next sync"
        )


def _snapshot(title: str, sheet: Worksheet) -> Snapshot:
    rows = [_trim([read_value(v) for v in row]) for row in sheet.iter_rows(values_only=True)]
    header = rows[0] if rows else ()
    data = rows[1:]
    while data and not data[-1]:
        data.pop()
    return Snapshot(
        title=title,
        exists=True,
        header=header,
        rows=tuple(data),
        row_count=sheet.max_row,
        col_count=sheet.max_column,
    )


def _text_or_value(value: object) -> Cell:
    cell = read_value(value)
    return "" if cell is None else cell


def _last_data_row(sheet: Worksheet) -> int:
    """The last row holding any value (1 when there is no data row)."""
    for number in range(sheet.max_row, 1, -1):
        if any(not is_empty(read_value(cell.value)) for cell in sheet[number]):
            return number
    return 1
