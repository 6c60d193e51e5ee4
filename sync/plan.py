"""The keyed planner: what one sync changes in one worksheet, as data.

``plan(table, snapshot, options)`` is the only public function (with its
``PlanOptions``). It is pure: no I/O, no clock (``options.today`` is passed
in), no time zone (the table's serial numbers already carry it).

How it reads the sheet (DESIGN.md, "The sheet contract"):

- Row 1 is the header. The managed columns are the report's columns plus the
  ``sync status`` column, found by header text (first one wins; later copies
  are warned about and left alone). Every other column is the user's: no
  ``CellUpdate`` ever lands in one.
- A data row is *synced* when its key (the key fields' cells, normalised) is
  complete or is a key of the report; other rows (blank, hand-typed, partial
  keys) are left alone. Of two synced rows with one key the first is kept in
  sync and the others are left alone, with a warning.
- Managed names missing from the header become one block of column inserts
  right after the rightmost managed column; user columns shift right whole.
- Report rows update only the cells that differ (``same_value``); new keys are
  appended below the last non-empty row; keys that left the report are marked
  ``missing since <today>`` (kept as is on later runs, cleared when the key
  returns), kept, or deleted when no user cell of the row holds anything.

Counts: ``missing`` is every synced row whose key left the report;
``newly_missing`` those of them not already marked missing and not deleted;
``deleted`` the rows deleted. ``updated_rows``/``updated_cells`` count report
rows (status cells cleared on a returning key included), not missing marks.
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from operator import itemgetter
from typing import Any

from sync.model import (
    MISSING_PREFIX,
    STATUS_COLUMN,
    Cell,
    CellUpdate,
    ColumnInsert,
    Counts,
    FormatRange,
    Key,
    Plan,
    Snapshot,
    Table,
    cell_text,
    column_letter,
    is_empty,
    same_value,
)
from sync.table import from_serial

log = logging.getLogger(__name__)

MISSING_ROWS = ("mark", "keep", "delete_unannotated")
_MAX_SAMPLES = 10
_MAX_LISTED = 5


@dataclass(frozen=True)
class PlanOptions:
    """What the planner needs besides the data."""

    #: The date written in "missing since YYYY-MM-DD".
    today: date
    #: What happens to rows whose key left the report: mark | keep | delete_unannotated.
    missing_rows: str = "mark"
    #: The connector's status column; None for none (the engine's status sheet).
    status_column: str | None = STATUS_COLUMN


Getter = Callable[[Sequence[Cell]], tuple[Cell, ...]]


def _getter(indices: Sequence[int]) -> Getter:
    """A fast function picking ``indices`` out of a row, always as a tuple."""
    if not indices:
        return lambda row: ()
    if len(indices) == 1:
        only = indices[0]
        return lambda row: (row[only],)
    return itemgetter(*indices)


def _rows_text(rows: Sequence[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_MAX_LISTED])
    return shown + (f" and {len(rows) - _MAX_LISTED} more" if len(rows) > _MAX_LISTED else "")


def _show(value: Cell, is_datetime: bool) -> str:
    if is_empty(value):
        return "(empty)"
    if is_datetime and isinstance(value, float) and 1 <= value < 2_958_466:
        return from_serial(value).isoformat(sep=" ", timespec="seconds")
    text = cell_text(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


#: More separate runs than this in one column are formatted as one span.
_MAX_FORMAT_RUNS = 1000


def _row_runs(rows: Sequence[int]) -> list[tuple[int, int]]:
    """Consecutive rows as (first, last) runs: [3, 4, 5, 9] -> [(3, 5), (9, 9)];
    one span when the rows are scattered too widely for separate requests."""
    ordered = sorted(set(rows))
    runs: list[tuple[int, int]] = []
    for r in ordered:
        if runs and r == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], r)
        else:
            runs.append((r, r))
    if len(runs) > _MAX_FORMAT_RUNS:
        return [(ordered[0], ordered[-1])]
    return runs


def _has_content(row: Sequence[Cell]) -> bool:
    return any(not is_empty(c) for c in row)


class _Planner:
    """One planning run; state shared by the steps of ``plan``."""

    def __init__(self, table: Table, snapshot: Snapshot, options: PlanOptions) -> None:
        if options.missing_rows not in MISSING_ROWS:
            raise ValueError(f"missing_rows must be one of {', '.join(MISSING_ROWS)}")
        self.table = table
        self.snap = snapshot
        self.opt = options
        self.status = options.status_column.strip() if options.status_column else None
        self.columns = [c.strip() for c in table.columns]
        names = list(self.columns)
        if self.status is not None and self.status not in names:
            names.append(self.status)
        self.names = names  # managed names in table order, status last
        self.key_fields = [f.strip() for f in table.key_fields]
        self.managed = set(names) | set(self.key_fields)
        self.warnings: list[str] = []
        self.samples: list[str] = []
        self.updates: list[CellUpdate] = []

    # --- reading the sheet ----------------------------------------------------

    def read_header(self) -> None:
        self.header = [cell_text(h) for h in self.snap.header]
        self.pos: dict[str, int] = {}
        doubled: list[str] = []
        for i, name in enumerate(self.header):
            if name not in self.managed:
                continue  # a user column (or an empty header)
            if name in self.pos:
                # a managed header twice: the first is used, this one left alone
                doubled.append(f"'{name}' ({column_letter(i + 1)})")
                continue
            self.pos[name] = i
        if doubled:
            self.warnings.append(
                "managed column(s) appear twice, the first is used: " + ", ".join(doubled)
            )

    def read_rows(self) -> None:
        rows = self.snap.rows
        key_pos = [self.pos.get(f) for f in self.key_fields]
        self.keys: list[Key | None] = []
        #: (sheet data row, report row) of every synced row whose key is in the report
        self.matched: list[tuple[int, int]] = []
        #: synced rows whose key left the report, by key (the first row of a key)
        self.gone: dict[Key, int] = {}
        #: report rows that found their synced row (1) or not (0)
        self.found = bytearray(len(self.table.keys))
        report_keys = self.report_index
        doubles: list[int] = []
        blank_key: list[int] = []
        partial: list[int] = []
        if not key_pos or all(p is None for p in key_pos):
            # no key column in the sheet: no row can be found by key
            self.keys = [None] * len(rows)
            return
        present = [p for p in key_pos if p is not None]
        get = _getter(present)
        need = max(present) + 1
        gaps = [i for i, p in enumerate(key_pos) if p is None]
        in_report = report_keys.get
        found = self.found
        matched = self.matched.append
        gone_first = self.gone.setdefault
        keys_append = self.keys.append
        strip: Callable[[Any], str] = str.strip
        for i, row in enumerate(rows):
            if len(row) < need:
                row = tuple(row) + (None,) * (need - len(row))
            cells = get(row)
            try:  # all text, the usual case: strip in C
                key = tuple(map(strip, cells))
            except TypeError:  # numbers, booleans, empty cells
                key = tuple(map(cell_text, cells))
            for gap in gaps:
                key = key[:gap] + ("",) + key[gap:]
            j = in_report(key)
            if j is not None and not found[j]:
                # a synced row whose key is in the report (the usual case)
                found[j] = 1
                matched((i, j))
                keys_append(key)
                continue
            if not any(key):
                # empty key: left alone (warned when the row holds something)
                keys_append(None)
                if _has_content(row):
                    blank_key.append(i + 2)
                continue
            keys_append(key)
            if j is not None:
                # the same key on a second row: the first is kept in sync
                doubles.append(i + 2)
            elif not all(key):
                # partial, hand-typed key: left alone
                partial.append(i + 2)
            elif gone_first(key, i) != i:
                # a key that left the report, on a second row: left alone too
                doubles.append(i + 2)
            # else: a synced row whose key left the report
        if doubles:
            self.warnings.append(
                f"{len(doubles)} row(s) repeat a key of an earlier row and are left alone: "
                f"rows {_rows_text(doubles)}"
            )
        if blank_key:
            self.warnings.append(
                f"{len(blank_key)} row(s) with an empty key are left alone: "
                f"rows {_rows_text(blank_key)}"
            )
        if partial:
            self.warnings.append(
                f"{len(partial)} row(s) with an incomplete key are left alone: "
                f"rows {_rows_text(partial)}"
            )

    # --- deciding ---------------------------------------------------------------

    def classify(self) -> None:
        """Pair report rows with synced rows; find new and missing keys."""
        # in both: kept in sync (self.matched); only in the report: new; only in the sheet: missing
        found, first = self.found, self.report_index
        self.new = [j for j, key in enumerate(self.table.keys) if not found[j] and first[key] == j]
        self.missing = sorted(self.gone.values())
        status_at = self.pos.get(self.status) if self.status else None
        user_cols = [i for i, name in enumerate(self.header) if name not in self.managed]
        self.deletes: list[int] = []
        self.to_mark: list[int] = []
        self.already_marked = 0
        mode = self.opt.missing_rows
        for i in self.missing:
            row = self.snap.rows[i]
            status = row[status_at] if status_at is not None and status_at < len(row) else None
            marked = isinstance(status, str) and status.strip().startswith(MISSING_PREFIX.strip())
            if mode == "delete_unannotated" and not self.annotated(row, user_cols):
                # missing and nothing of the user's on the row: delete it
                self.deletes.append(i)
                continue
            if marked:
                # missing and already marked: keep the date it was first missed
                self.already_marked += 1
            elif mode != "keep" and self.status is not None:
                # newly missing: mark it
                self.to_mark.append(i)

    def annotated(self, row: Sequence[Cell], user_cols: list[int]) -> bool:
        width = len(self.header)
        if any(not is_empty(row[c]) for c in user_cols if c < len(row)):
            return True
        return any(not is_empty(c) for c in row[width:])

    def layout(self) -> None:
        """Column inserts and the old -> final column mapping."""
        snap = self.snap
        header_used = any(self.header)
        self.empty_sheet = not snap.exists or (
            not header_used and not any(map(_has_content, snap.rows))
        )
        self.header_writes: list[str] = []
        self.inserted: list[str] = []
        if self.empty_sheet:
            # empty sheet: the header is written as values, no column inserts
            if self.table.rows:
                self.header_writes = list(self.names)
            self.final = {name: c for c, name in enumerate(self.header_writes)}
            self.insert_at, self.width = 0, len(self.header_writes)
            return
        if self.table.rows:
            # managed names absent from the header: new fields, renamed or deleted headers
            absent = [n for n in self.names if n not in self.pos]
        elif self.status and self.status not in self.pos and self.to_mark:
            # empty report: only the status column, to mark the missing rows
            absent = [self.status]
        else:
            absent = []
        present = [c for n, c in self.pos.items()]
        if present:
            at = max(present) + 1
        else:
            used = [c for c, name in enumerate(self.header) if name]
            at = used[-1] + 1 if used else 0
        k = len(absent)
        self.inserted = absent
        self.insert_at = at
        self.final = {n: (c if c < at else c + k) for n, c in self.pos.items()}
        for offset, name in enumerate(absent):
            self.final[name] = at + offset
        widest = max(map(len, snap.rows), default=0)
        self.width = max(len(self.header), widest, at) + k

    # --- writing ----------------------------------------------------------------

    def final_row(self, i: int) -> int:
        """Final 1-based sheet row of data row ``i`` (0-based, snapshot)."""
        if not self.deletes:
            return i + 2
        return i + 2 - bisect_left(self.deletes, i)

    def sample(self, text: str) -> None:
        if len(self.samples) < _MAX_SAMPLES:
            self.samples.append(text)

    def write_updates(self) -> None:
        table, cols, final = self.table, self.columns, self.final
        dt = {j for j, name in enumerate(cols) if name in table.datetime_columns}
        self.dt_rows: dict[int, list[int]] = {}
        present_js = [j for j, name in enumerate(cols) if name in self.pos]
        new_js = [j for j, name in enumerate(cols) if name not in self.pos]
        where = [self.pos[cols[j]] for j in present_js]
        if where == list(range(len(cols))):
            # the sheet's managed columns are the table's, in order, from column A
            sheet_get: Getter = itemgetter(slice(0, len(cols)))
        else:
            sheet_get = _getter(where)
        table_get = _getter(present_js)
        all_present = not new_js
        need = max(where, default=-1) + 1
        status_at = self.pos.get(self.status) if self.status else None
        rows, trows = self.snap.rows, table.rows
        changed: list[CellUpdate] = []
        self.updated_rows = self.updated_cells = self.unchanged = 0
        for i, j in self.matched:
            srow = rows[i]
            if len(srow) < need:
                srow = tuple(srow) + (None,) * (need - len(srow))
            trow = trows[j]
            sproj = sheet_get(srow)
            tproj = trow if all_present else table_get(trow)
            diffs: list[tuple[int, Cell, Cell]] = []
            if sproj != tproj or tuple(map(type, sproj)) != tuple(map(type, tproj)):
                # not identical: maybe only "" read for empty, or 40.0 for 40
                blanked = tuple([None if c == "" else c for c in sproj])
                if blanked != tproj or tuple(map(type, blanked)) != tuple(map(type, tproj)):
                    # cells differ: compare each as written and read back
                    for n, (s, t) in enumerate(zip(sproj, tproj, strict=True)):
                        if not same_value(s, t):
                            diffs.append((present_js[n], s, t))
            for jn in new_js:
                # a column inserted now: every non-empty value is a change
                if not is_empty(trow[jn]):
                    diffs.append((jn, None, trow[jn]))
            status = srow[status_at] if status_at is not None and status_at < len(srow) else None
            clear_status = status is not None and status != ""
            if not diffs and not clear_status:
                # unchanged row: nothing written
                self.unchanged += 1
                continue
            # changed row: write the differing cells (and clear its status)
            r = self.final_row(i)
            for jd, old, value in diffs:
                changed.append(CellUpdate(r, final[cols[jd]] + 1, value))
                if jd in dt and (isinstance(old, bool) or not isinstance(old, int | float)):
                    # a date-time where the sheet had no number: its cell needs the
                    # format (a number there was written, and formatted, by us)
                    self.dt_rows.setdefault(jd, []).append(r)
            if clear_status and status_at is not None and self.status is not None:
                changed.append(CellUpdate(r, final[self.status] + 1, None))
            self.updated_rows += 1
            self.updated_cells += len(diffs) + clear_status
            if len(self.samples) < _MAX_SAMPLES:
                parts = [
                    f"{cols[jd]} {_show(old, jd in dt)} -> {_show(value, jd in dt)}"
                    for jd, old, value in diffs[:3]
                ]
                if clear_status:
                    parts.append(f"{self.status} cleared")
                more = ", ..." if len(diffs) > 3 else ""
                key_text = ", ".join(table.keys[j])
                self.sample(f"row {r} ({key_text}): {', '.join(parts)}{more}")
        today = f"{MISSING_PREFIX}{self.opt.today.isoformat()}"
        for i in self.to_mark:
            r = self.final_row(i)
            assert self.status is not None
            changed.append(CellUpdate(r, final[self.status] + 1, today))
            self.sample(f"mark row {r} missing ({', '.join(self.keys[i] or ())})")
        changed.sort(key=lambda u: (u.row, u.col))
        self.updates.extend(changed)

    def write_appends(self) -> None:
        rows, deleted = self.snap.rows, set(self.deletes)
        base = 1
        for i in range(len(rows) - 1, -1, -1):
            if i not in deleted and _has_content(rows[i]):
                base = self.final_row(i)
                break
        self.base = base
        cols, final, table = self.columns, self.final, self.table
        dt = {j for j, name in enumerate(cols) if name in table.datetime_columns}
        targets = [final[name] + 1 for name in cols]
        for n, j in enumerate(self.new):
            r = base + 1 + n
            trow = table.rows[j]
            for jc, (col, value) in enumerate(zip(targets, trow, strict=True)):
                if value is not None and value != "":
                    self.updates.append(CellUpdate(r, col, value))
                    if jc in dt:
                        self.dt_rows.setdefault(jc, []).append(r)
            self.sample(f"append row {r} ({', '.join(table.keys[j])})")

    def formats(self, last_row: int) -> list[FormatRange]:
        out: list[FormatRange] = []
        new = set(self.inserted) | set(self.header_writes)
        for j, name in enumerate(self.columns):
            if name not in self.table.datetime_columns:
                continue
            col = self.final[name] + 1
            if name in new:
                # a new date-time column: format all its data rows
                if last_row >= 2:
                    out.append(FormatRange(col, 2, last_row))
            elif self.dt_rows.get(j):
                # an existing date-time column: format the rows written now, run by run
                out.extend(FormatRange(col, a, b) for a, b in _row_runs(self.dt_rows[j]))
        return out

    def run(self) -> Plan:
        table, snap = self.table, self.snap
        # key -> its first report row (a later repeat of a key is ignored)
        n = len(table.keys)
        self.report_index: dict[Key, int] = dict(
            zip(reversed(table.keys), range(n - 1, -1, -1), strict=True)
        )
        self.report_index.pop(("",) * len(table.key_fields), None)  # never a key
        self.read_header()
        self.read_rows()
        self.classify()
        self.layout()
        for offset, name in enumerate(self.inserted):
            self.sample(f"insert column {column_letter(self.insert_at + offset + 1)} '{name}'")
        for c, name in enumerate(self.header_writes):
            self.updates.append(CellUpdate(1, c + 1, name))
        self.write_updates()
        for i in reversed(self.deletes):
            self.sample(f"delete row {i + 2} ({', '.join(self.keys[i] or ())})")
        self.write_appends()
        last_row = max(1, self.base + len(self.new))
        deleted = set(self.deletes)
        key_cols = tuple(self.final[f] + 1 for f in self.key_fields if f in self.final)
        if len(key_cols) == len(self.key_fields):
            expected = (
                tuple(k for i, k in enumerate(self.keys) if i not in deleted)
                if deleted
                else tuple(self.keys)
            )
        else:
            key_cols, expected = (), ()
        missing = len(self.missing)
        counts = Counts(
            rows=len(self.report_index),
            added=len(self.new),
            updated_rows=self.updated_rows,
            updated_cells=self.updated_cells,
            missing=missing,
            newly_missing=missing - len(self.deletes) - self.already_marked,
            deleted=len(self.deletes),
            unchanged=self.unchanged,
            sheet_rows=len(self.matched) + len(self.gone),
        )
        start = self.insert_at + 1
        result = Plan(
            title=snap.title,
            create_sheet=not snap.exists,
            column_inserts=tuple(
                ColumnInsert(start + n, name) for n, name in enumerate(self.inserted)
            ),
            row_deletes=tuple(i + 2 for i in reversed(self.deletes)),
            updates=tuple(self.updates),
            formats=tuple(self.formats(last_row)),
            min_rows=last_row,
            min_cols=max(1, self.width),
            key_columns=key_cols,
            expected_keys=expected,
            warnings=tuple(self.warnings),
            counts=counts,
            samples=tuple(self.samples),
        )
        log.debug(
            "%s: planned %s added, %s updated, %s missing, %s deleted, %s cell writes",
            snap.title,
            counts.added,
            counts.updated_rows,
            counts.missing,
            counts.deleted,
            len(result.updates),
        )
        return result


def plan(table: Table, snapshot: Snapshot, options: PlanOptions) -> Plan:
    """What to change in ``snapshot``'s worksheet so that it shows ``table``.

    Pure: the same inputs give the same plan. Raises ``ValueError`` for an
    unknown ``options.missing_rows``.
    """
    return _Planner(table, snapshot, options).run()


__all__ = ["MISSING_ROWS", "PlanOptions", "column_letter", "plan"]
