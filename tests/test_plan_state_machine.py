"""Random lives of one worksheet: the API changes, people edit, the connector syncs.

A Hypothesis state machine over ``MemorySheet``. The API adds, changes and
drops records and fields; a person adds annotation columns, types notes, sorts
the rows by any column, inserts blank and hand-typed rows, deletes rows, moves
columns and types over managed cells; a sync plans and applies. After every
sync: every note is still on the row of the key it was typed beside (or on its
hand-typed row), managed cells of the report's keys equal the report, no
planned write lands in a user column or on a row that is not synced, a second
plan is a no-op, no key has two rows, and with "mark" no row ever goes.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from sync.model import (
    MISSING_PREFIX,
    STATUS_COLUMN,
    Cell,
    Key,
    Plan,
    Table,
    cell_text,
    is_empty,
    keys_match,
    normalise_key,
    same_value,
)
from sync.plan import PlanOptions, plan
from sync.sheets.memory import MemorySheet
from sync.table import build_table

KEY_FIELDS = ("email", "course")
EMAILS = [f"{c}@x.org" for c in "abcdefgh"]
COURSES = ["Python", "R"]
FIELDS = ["pct", "seen", "step", "hours", "lang", "a.b"]
VALUES = st.one_of(
    st.integers(-3, 100),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.booleans(),
    st.none(),
    st.sampled_from(["N/A", "x", " y ", "=1+1", "", "2022-02-16T12:16:09.692Z"]),
    st.sampled_from(["2023-05-01T08:00:00Z", "2023-05-01T08:00:00.5+02:00"]),
    st.text(max_size=4),
)

Anchor = tuple[str, Any]  # ("key", Key) | ("hand", marker) | ("free", None)


class SheetLife(RuleBasedStateMachine):
    #: The missing_rows option of every sync.
    mode = "mark"

    def __init__(self) -> None:
        super().__init__()
        self.sheet = MemorySheet("Course progress", exists=False)
        self.records: dict[Key, dict[str, Any]] = {}
        self.fields: list[str] = ["pct"]
        self.notes: dict[str, Anchor] = {}  # note text -> where it was typed
        self.note_columns: list[str] = []
        self.counter = 0
        self.today = date(2024, 1, 1)

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}-{self.counter}"

    # --- the sheet as a person sees it --------------------------------------------

    @property
    def rows(self) -> list[list[Cell]]:
        return self.sheet.rows

    def width(self) -> int:
        return max(map(len, self.rows), default=0)

    def row_key(self, row: list[Cell]) -> Key | None:
        cols = [self.sheet.column(f) for f in KEY_FIELDS]
        if not all(cols):
            return None
        return normalise_key([row[c - 1] if c - 1 < len(row) else None for c in cols])

    def data_rows(self) -> int:
        return max(len(self.rows) - 1, 0)

    def has_header(self) -> bool:
        return self.sheet.exists and bool(self.sheet.column("email"))

    # --- the API ----------------------------------------------------------------------

    @rule(email=st.sampled_from(EMAILS), course=st.sampled_from(COURSES), data=st.data())
    def api_adds_a_record(self, email: str, course: str, data: st.DataObject) -> None:
        record: dict[str, Any] = {"email": email, "course": course}
        for name in self.fields:
            record[name] = data.draw(VALUES)
        self.records.setdefault((email, course), record)

    @precondition(lambda self: self.records)
    @rule(i=st.integers(0, 50), field=st.integers(0, 10), value=VALUES)
    def api_changes_a_record(self, i: int, field: int, value: Any) -> None:
        key = sorted(self.records)[i % len(self.records)]
        if self.fields:
            self.records[key][self.fields[field % len(self.fields)]] = value

    @precondition(lambda self: self.records)
    @rule(i=st.integers(0, 50))
    def api_drops_a_record(self, i: int) -> None:
        del self.records[sorted(self.records)[i % len(self.records)]]

    @rule(name=st.sampled_from(FIELDS), data=st.data())
    def api_adds_a_field(self, name: str, data: st.DataObject) -> None:
        if name not in self.fields:
            self.fields.append(name)
            for record in self.records.values():
                record[name] = data.draw(VALUES)

    @precondition(lambda self: self.fields)
    @rule(i=st.integers(0, 10))
    def api_drops_a_field(self, i: int) -> None:
        name = self.fields.pop(i % len(self.fields))
        for record in self.records.values():
            record.pop(name, None)

    # --- a person --------------------------------------------------------------------

    @precondition(lambda self: self.has_header())
    @rule(at=st.integers(0, 20))
    def person_adds_an_annotation_column(self, at: int) -> None:
        at = at % (len(self.rows[0]) + 1)
        name = self.fresh("notes")
        for row in self.rows:
            if len(row) > at:
                row.insert(at, None)
        self.sheet.set_cell(1, at + 1, name)
        self.note_columns.append(name)

    @precondition(lambda self: self.note_columns and len(self.rows) > 1)
    @rule(i=st.integers(0, 100), which=st.integers(0, 10))
    def person_types_a_note(self, i: int, which: int) -> None:
        row_number = 2 + i % self.data_rows()
        column = self.note_columns[which % len(self.note_columns)]
        col = self.sheet.column(column)
        old = self.sheet.cell(row_number, col)
        if isinstance(old, str):
            self.notes.pop(old, None)
        row = self.rows[row_number - 1]
        key = self.row_key(row)
        email = self.sheet.cell(row_number, self.sheet.column("email"))
        anchor: Anchor
        if key is not None and all(key):
            anchor = ("key", key)
        elif isinstance(email, str) and email.startswith("hand-"):
            anchor = ("hand", email)
        else:
            anchor = ("free", None)
        note = self.fresh("note")
        self.sheet.set_cell(row_number, col, note)
        self.notes[note] = anchor

    @precondition(lambda self: len(self.rows) > 2)
    @rule(column=st.integers(0, 30), reverse=st.booleans())
    def person_sorts_the_rows(self, column: int, reverse: bool) -> None:
        col = column % self.width()

        def order(row: list[Cell]) -> tuple[bool, str, str]:
            cell = row[col] if col < len(row) else None
            return (is_empty(cell), type(cell).__name__, cell_text(cell))

        self.rows[1:] = sorted(self.rows[1:], key=order, reverse=reverse)

    @precondition(lambda self: self.has_header())
    @rule(at=st.integers(0, 100))
    def person_inserts_a_blank_row(self, at: int) -> None:
        self.rows.insert(1 + at % (len(self.rows)), [])

    @precondition(lambda self: self.has_header())
    @rule(at=st.integers(0, 100), with_note=st.booleans(), which=st.integers(0, 10))
    def person_inserts_a_hand_typed_row(self, at: int, with_note: bool, which: int) -> None:
        row_number = 2 + at % len(self.rows)
        self.rows.insert(row_number - 1, [])
        marker = self.fresh("hand")
        self.sheet.set_cell(row_number, self.sheet.column("email"), marker)
        if with_note and self.note_columns:
            note = self.fresh("note")
            column = self.note_columns[which % len(self.note_columns)]
            self.sheet.set_cell(row_number, self.sheet.column(column), note)
            self.notes[note] = ("hand", marker)

    @precondition(lambda self: len(self.rows) > 1)
    @rule(i=st.integers(0, 100))
    def person_deletes_a_row(self, i: int) -> None:
        row = self.rows.pop(1 + i % self.data_rows())
        for cell in row:
            if isinstance(cell, str):
                self.notes.pop(cell, None)

    @precondition(lambda self: self.has_header())
    @rule(a=st.integers(0, 30), b=st.integers(0, 30))
    def person_moves_a_column(self, a: int, b: int) -> None:
        width = self.width()
        a, b = a % width, b % width
        for row in self.rows:
            row.extend([None] * (width - len(row)))
            row.insert(b, row.pop(a))

    @precondition(lambda self: self.has_header() and len(self.rows) > 1)
    @rule(i=st.integers(0, 100), field=st.integers(0, 10), value=VALUES)
    def person_types_over_a_managed_cell(self, i: int, field: int, value: Any) -> None:
        names = [n for n in [*self.fields, STATUS_COLUMN] if self.sheet.column(n)]
        if names and isinstance(value, str | int | float | bool):
            col = self.sheet.column(names[field % len(names)])
            self.sheet.set_cell(2 + i % self.data_rows(), col, value)

    def managed_non_key_columns(self) -> list[str]:
        return [n for n in [*FIELDS, STATUS_COLUMN] if self.sheet.column(n)]

    @precondition(lambda self: self.has_header())
    @rule(which=st.integers(0, 10))
    def person_renames_a_managed_header(self, which: int) -> None:
        names = self.managed_non_key_columns()
        if names:
            name = names[which % len(names)]
            self.sheet.set_cell(1, self.sheet.column(name), self.fresh(f"{name} (old)"))

    @precondition(lambda self: self.has_header())
    @rule(which=st.integers(0, 10), notes=st.booleans())
    def person_deletes_a_column(self, which: int, notes: bool) -> None:
        names = self.note_columns if notes else self.managed_non_key_columns()
        if not names:
            return
        name = names[which % len(names)]
        col = self.sheet.column(name)
        for row in self.rows:
            if len(row) >= col:
                cell = row.pop(col - 1)
                if isinstance(cell, str):
                    self.notes.pop(cell, None)
        if notes:
            self.note_columns.remove(name)

    # --- the connector ---------------------------------------------------------------

    @rule(days=st.integers(0, 3))
    def sync(self, days: int) -> None:
        self.today += timedelta(days=days)
        table = build_table("course_progress", list(self.records.values()), KEY_FIELDS)
        options = PlanOptions(today=self.today, missing_rows=self.mode)
        before = self.sheet.snapshot()
        kept_rows = sum(1 for row in before.rows if any(not is_empty(c) for c in row))
        result = plan(table, before, options)

        self.sheet.apply_structure(result)
        found = tuple(normalise_key(k) for k in self.sheet.keys(result.key_columns))
        assert keys_match(result.expected_keys, found)
        self.check_writes_only_managed_cells(result, table)
        self.sheet.apply_values(result)

        again = plan(table, self.sheet.snapshot(), options)
        assert again.is_noop, again
        if self.mode == "mark":
            assert not result.row_deletes
            after = self.sheet.snapshot()
            assert sum(1 for row in after.rows if any(not is_empty(c) for c in row)) >= kept_rows
        self.check_notes_stay_on_their_rows()
        self.check_sheet_shows_the_report(table)

    # --- invariants --------------------------------------------------------------

    def check_writes_only_managed_cells(self, result: Plan, table: Table) -> None:
        """Checked after the structural write: no write in a user column or on a
        row that is not synced (hand-typed, blank, repeated key)."""
        managed = set(table.columns) | {STATUS_COLUMN}
        header = [cell_text(c) for c in (self.rows[0] if self.rows else [])]
        for update in result.updates:
            if update.row == 1:
                assert result.create_sheet or not any(result.expected_keys)
                header.extend([""] * (update.col - len(header)))
                header[update.col - 1] = str(update.value)
        filled = [n for n, row in enumerate(self.rows, 1) if any(not is_empty(c) for c in row)]
        last_filled = max(filled, default=0)
        seen: set[Key] = set()
        synced_rows: set[int] = set()
        for number, row in enumerate(self.rows[1:], start=2):
            key = self.row_key(row)
            if key is not None and (all(key) or key in table.keys) and key not in seen:
                seen.add(key)
                synced_rows.add(number)
        for update in result.updates:
            if update.row == 1:
                continue
            name = header[update.col - 1] if update.col - 1 < len(header) else ""
            assert name in managed, f"write into user column {name!r}: {update}"
            assert header.index(name) == update.col - 1, f"write into a second {name!r}"
            if update.row <= last_filled:  # else an appended row
                assert update.row in synced_rows, f"write on a row not synced: {update}"

    def check_notes_stay_on_their_rows(self) -> None:
        for note, (kind, anchor) in self.notes.items():
            hits = [
                (number, row)
                for number, row in enumerate(self.rows, start=1)
                if any(c == note for c in row)
            ]
            assert len(hits) == 1, f"{note} found {len(hits)} times"
            _number, row = hits[0]
            if kind == "key":
                assert self.row_key(row) == anchor, f"{note} left the row of {anchor}"
            elif kind == "hand":
                assert anchor in row, f"{note} left hand-typed row {anchor}"

    def check_sheet_shows_the_report(self, table: Table) -> None:
        rows_by_key: dict[Key, list[Cell]] = {}
        for row in self.rows[1:]:
            key = self.row_key(row)
            if key is not None and all(key):
                assert key not in rows_by_key, f"key {key} has two rows"
                rows_by_key[key] = row
        status_col = self.sheet.column(STATUS_COLUMN)
        for key, values in zip(table.keys, table.rows, strict=True):
            row = rows_by_key[key]
            for name, expected in zip(table.columns, values, strict=True):
                col = self.sheet.column(name)
                actual = row[col - 1] if col - 1 < len(row) else None
                assert same_value(actual, expected), (key, name, actual, expected)
            if status_col:
                assert is_empty(row[status_col - 1] if status_col - 1 < len(row) else None)
        if self.mode == "mark":
            for key, row in rows_by_key.items():
                if key not in table.keys:
                    status = row[status_col - 1] if status_col - 1 < len(row) else None
                    assert isinstance(status, str) and status.startswith(MISSING_PREFIX)


def machine_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


class DeletingSheetLife(SheetLife):
    mode = "delete_unannotated"


class KeepingSheetLife(SheetLife):
    mode = "keep"


# The default run: 200 machines of 30 steps in the default mode, fewer in the others.
SheetLife.TestCase.settings = machine_settings(200)
DeletingSheetLife.TestCase.settings = machine_settings(100)
KeepingSheetLife.TestCase.settings = machine_settings(50)
TestMarkingSheet = SheetLife.TestCase
TestDeletingSheet = DeletingSheetLife.TestCase
TestKeepingSheet = KeepingSheetLife.TestCase


class LongSheetLife(SheetLife):
    pass


class LongDeletingSheetLife(DeletingSheetLife):
    pass


LongSheetLife.TestCase.settings = machine_settings(1000)
LongDeletingSheetLife.TestCase.settings = machine_settings(1000)
TestLongMarkingSheet = pytest.mark.slow(LongSheetLife.TestCase)
TestLongDeletingSheet = pytest.mark.slow(LongDeletingSheetLife.TestCase)
