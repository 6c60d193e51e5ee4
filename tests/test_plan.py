"""The keyed planner, rule by rule, through the in-memory sheet.

Each test plays one story a team lead lives through (first sync, sorting,
typing notes, a new API field, a learner who leaves and comes back) and checks
what they would see in the sheet afterwards.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from sync.errors import GridLimit
from sync.model import (
    STATUS_COLUMN,
    CellUpdate,
    ColumnInsert,
    FormatRange,
    Plan,
    Snapshot,
    keys_match,
    normalise_key,
)
from sync.plan import PlanOptions, column_letter, plan
from sync.sheets.memory import MemoryBackend, MemorySheet
from sync.table import build_table

TODAY = date(2024, 3, 1)
KEY = ("email", "course")
TS = "2022-02-16T12:00:00Z"
TS_SERIAL = 44608.5


def r(email: str, course: str = "Py", **fields: Any) -> dict[str, Any]:
    return {"email": email, "course": course, "pct": 0, **fields}


def sync(sheet: MemorySheet, records: list[dict[str, Any]], **options: Any) -> Plan:
    """One cycle as the engine runs it, checking the re-read guard's contract."""
    table = build_table("course_progress", records, KEY)
    opts = PlanOptions(today=options.pop("today", TODAY), **options)
    result = plan(table, sheet.snapshot(), opts)
    sheet.apply_structure(result)
    assert keys_match(
        result.expected_keys,
        tuple(normalise_key(k) for k in sheet.keys(result.key_columns)),
    )
    sheet.apply_values(result)
    again = plan(table, sheet.snapshot(), opts)
    assert again.is_noop, again
    return result


def header(sheet: MemorySheet) -> list[Any]:
    return list(sheet.snapshot().header)


def value(sheet: MemorySheet, email: str, column: str) -> Any:
    """The cell in ``column`` on the (first) row whose email is ``email``."""
    col = sheet.column(column)
    assert col, f"no column {column!r}"
    for row in range(2, len(sheet.rows) + 1):
        if sheet.cell(row, sheet.column("email")) == email:
            return sheet.cell(row, col)
    raise AssertionError(f"no row for {email}")


def emails(sheet: MemorySheet) -> list[Any]:
    col = sheet.column("email")
    return [sheet.cell(row, col) for row in range(2, len(sheet.rows) + 1)]


def synced_sheet(*records: dict[str, Any]) -> MemorySheet:
    sheet = MemorySheet("Course progress", exists=False)
    sync(sheet, list(records))
    return sheet


def add_notes(sheet: MemorySheet, notes: dict[str, str], title: str = "notes") -> int:
    """A person adds a notes column at the right and types notes beside learners."""
    col = sheet.column(title) or len(sheet.rows[0]) + 1
    sheet.set_cell(1, col, title)
    email_col = sheet.column("email")
    for row in range(2, len(sheet.rows) + 1):
        note = notes.get(sheet.cell(row, email_col))  # type: ignore[arg-type]
        if note:
            sheet.set_cell(row, col, note)
    return col


# --- rule 2: empty sheet, first sync -------------------------------------------


def test_first_sync_creates_the_sheet_with_header_rows_and_status_column() -> None:
    sheet = MemorySheet("Course progress", exists=False)
    result = sync(sheet, [r("a", pct=10, last_login=TS), r("b", pct=20, last_login=None)])
    assert result.create_sheet and not result.column_inserts
    assert header(sheet) == ["email", "course", "pct", "last_login", STATUS_COLUMN]
    assert sheet.rows[1:] == [["a", "Py", 10, TS_SERIAL], ["b", "Py", 20]]
    assert result.formats == (FormatRange(col=4, first_row=2, last_row=3),)
    assert sheet.formats == {(2, 4): "DATE_TIME", (3, 4): "DATE_TIME"}
    assert result.counts.added == 2 and result.counts.rows == 2
    assert (result.min_rows, result.min_cols) == (3, 5)
    assert result.key_columns == (1, 2) and result.expected_keys == ()
    assert result.samples == ("append row 2 (a, Py)", "append row 3 (b, Py)")


def test_first_sync_into_an_existing_empty_sheet_writes_the_header_as_values() -> None:
    sheet = MemorySheet("Course progress", [])
    result = sync(sheet, [r("a")])
    assert not result.create_sheet
    assert result.updates[:2] == (CellUpdate(1, 1, "email"), CellUpdate(1, 2, "course"))
    assert header(sheet) == ["email", "course", "pct", STATUS_COLUMN]


def test_an_unchanged_report_plans_nothing() -> None:
    records = [r("a", pct=40, ok=True, when=TS, na="N/A", none=None), r("b", pct=12.5)]
    sheet = synced_sheet(*records)
    result = plan(
        build_table("x", records, KEY), sheet.snapshot(), PlanOptions(today=date(2030, 1, 1))
    )
    assert result.is_noop
    assert result.counts.unchanged == 2 and result.counts.updated_rows == 0


def test_numbers_read_back_as_floats_equal_the_same_ints() -> None:
    sheet = synced_sheet(r("a", pct=40))
    sheet.set_cell(2, sheet.column("pct"), 40.0)
    assert sync(sheet, [r("a", pct=40)]).is_noop


# --- rules 3 and 4: rows found by key ------------------------------------------


def test_after_a_person_sorts_the_rows_changes_land_on_the_right_rows() -> None:
    sheet = synced_sheet(r("a", pct=1), r("b", pct=2), r("c", pct=3))
    add_notes(sheet, {"a": "called", "c": "on leave"})
    sheet.rows[1:] = sorted(sheet.rows[1:], key=lambda row: str(row[0]), reverse=True)
    result = sync(sheet, [r("a", pct=10), r("b", pct=2), r("c", pct=30)])
    assert emails(sheet) == ["c", "b", "a"]
    assert value(sheet, "a", "pct") == 10 and value(sheet, "a", "notes") == "called"
    assert value(sheet, "c", "pct") == 30 and value(sheet, "c", "notes") == "on leave"
    assert result.counts.updated_rows == 2 and result.counts.unchanged == 1
    assert result.samples == ("row 2 (c, Py): pct 3 -> 30", "row 4 (a, Py): pct 1 -> 10")


def test_blank_and_hand_typed_rows_between_data_rows_are_left_alone() -> None:
    sheet = synced_sheet(r("a", pct=1), r("b", pct=2))
    notes = add_notes(sheet, {})
    sheet.rows.insert(2, [])  # a blank row between a and b
    sheet.rows.insert(3, [None, "total", None, None, "hand note"])  # hand-typed, no email
    sheet.rows.append(["", "", 99])  # a hand-typed row at the bottom
    result = sync(sheet, [r("a", pct=5), r("b", pct=6), r("new", pct=7)])
    assert sheet.rows[2] == [] and sheet.rows[3] == [None, "total", None, None, "hand note"]
    assert sheet.rows[5] == ["", "", 99]
    assert sheet.rows[6][:3] == ["new", "Py", 7]  # appended below the last non-empty row
    assert value(sheet, "b", "pct") == 6
    assert notes == 5
    assert result.warnings == (
        "1 row(s) with an empty key are left alone: rows 6",
        "1 row(s) with an incomplete key are left alone: rows 4",
    )


def test_a_moved_managed_column_is_found_by_its_header() -> None:
    sheet = synced_sheet(r("a", pct=1, step=1))
    add_notes(sheet, {"a": "n"})
    for row in sheet.rows:  # move pct (column C) to the far right
        row.extend([None] * (6 - len(row)))
        row.append(row.pop(2))
    result = sync(sheet, [r("a", pct=2, step=1)])
    assert not result.column_inserts
    assert header(sheet) == ["email", "course", "step", STATUS_COLUMN, "notes", "pct"]
    assert value(sheet, "a", "pct") == 2 and value(sheet, "a", "notes") == "n"


def test_a_partial_key_matching_the_report_is_synced() -> None:
    sheet = synced_sheet(r("a", course="", pct=1))
    result = sync(sheet, [r("a", course="", pct=2)])
    assert value(sheet, "a", "pct") == 2 and result.counts.updated_rows == 1


def test_hand_typed_partial_keys_are_left_alone_with_a_warning() -> None:
    sheet = synced_sheet(r("a"))
    sheet.rows.append(["someone@x", None, None, None, "to invite"])
    result = sync(sheet, [r("a")])
    assert sheet.rows[2] == ["someone@x", None, None, None, "to invite"]
    assert result.counts.missing == 0
    assert result.warnings == ("1 row(s) with an incomplete key are left alone: rows 3",)


def test_keys_compare_as_normalised_text() -> None:
    sheet = synced_sheet({"email": "a", "course": 12, "pct": 1})
    sheet.set_cell(2, 1, " a ")
    sheet.set_cell(2, 2, "12")
    result = sync(sheet, [{"email": "a", "course": 12.0, "pct": 2}])
    assert result.counts.added == 0 and result.counts.updated_rows == 1


# --- rule 2: columns ---------------------------------------------------------------


def test_a_new_api_field_is_inserted_after_the_managed_block_and_user_columns_shift() -> None:
    sheet = synced_sheet(r("a", pct=1), r("b", pct=2))
    add_notes(sheet, {"a": "note a", "b": "note b"})
    result = sync(sheet, [r("a", pct=1, hours=3.5, seen=TS), r("b", pct=2, hours=None)])
    assert result.column_inserts == (ColumnInsert(5, "hours"), ColumnInsert(6, "seen"))
    assert header(sheet) == ["email", "course", "pct", STATUS_COLUMN, "hours", "seen", "notes"]
    assert value(sheet, "a", "notes") == "note a" and value(sheet, "b", "notes") == "note b"
    assert value(sheet, "a", "hours") == 3.5 and value(sheet, "b", "hours") is None
    assert result.formats == (FormatRange(6, 2, 3),)  # the whole new date-time column
    assert result.samples[:2] == ("insert column E 'hours'", "insert column F 'seen'")
    assert result.min_cols == 7


def test_new_columns_go_after_the_rightmost_managed_column_even_past_user_columns() -> None:
    sheet = MemorySheet(
        "S", [["notes", "email", "x", "course", "pct", "sync status", "y"], ["n", "a", 1, "Py", 0]]
    )
    result = sync(sheet, [r("a", extra=1)])
    assert result.column_inserts == (ColumnInsert(7, "extra"),)
    assert sheet.rows[1] == ["n", "a", 1, "Py", 0, None, 1]


def test_a_header_a_person_renamed_is_inserted_again_and_the_renamed_column_kept() -> None:
    sheet = synced_sheet(r("a", pct=1, step=4))
    sheet.set_cell(1, sheet.column("pct"), "pct (old)")
    result = sync(sheet, [r("a", pct=2, step=4)])
    assert result.column_inserts == (ColumnInsert(6, "pct"),)
    assert value(sheet, "a", "pct (old)") == 1 and value(sheet, "a", "pct") == 2


def test_a_vanished_field_keeps_its_column_and_values() -> None:
    sheet = synced_sheet(r("a", pct=1, step=4), r("b", pct=1, step=5))
    result = sync(sheet, [r("a", pct=2), r("b", pct=1), r("c", pct=3)])
    assert header(sheet) == ["email", "course", "pct", "step", STATUS_COLUMN]
    assert value(sheet, "a", "step") == 4 and value(sheet, "c", "step") is None
    assert all(u.col != 4 for u in result.updates)


def test_a_managed_header_twice_uses_the_first_and_warns() -> None:
    sheet = MemorySheet("S", [["email", "course", "pct", "pct", "sync status"], ["a", "Py", 1, 9]])
    result = sync(sheet, [r("a", pct=2)])
    assert sheet.rows[1] == ["a", "Py", 2, 9]
    assert result.warnings == ("managed column(s) appear twice, the first is used: 'pct' (D)",)


def test_a_sheet_without_header_but_with_data_gets_columns_inserted_at_a() -> None:
    sheet = MemorySheet("S", [[], [], ["someone's", "notes"]])
    sync(sheet, [r("a")])
    assert header(sheet) == ["email", "course", "pct", STATUS_COLUMN]
    assert sheet.rows[2] == [None, None, None, None, "someone's", "notes"]
    assert sheet.rows[3][:2] == ["a", "Py"]


def test_no_status_column_when_the_option_is_none() -> None:
    sheet = MemorySheet("S", exists=False)
    sync(sheet, [r("a"), r("b")], status_column=None)
    result = sync(sheet, [r("a")], status_column=None)
    assert header(sheet) == ["email", "course", "pct"]
    assert result.counts.missing == 1 and not result.updates


# --- rules 5, 6: new and missing keys ---------------------------------------------


def test_a_key_that_leaves_is_marked_keeps_its_date_and_is_cleared_when_it_returns() -> None:
    sheet = synced_sheet(r("a", pct=1), r("b", pct=1))
    add_notes(sheet, {"b": "keep me"})
    left = sync(sheet, [r("a", pct=1)])
    assert value(sheet, "b", STATUS_COLUMN) == "missing since 2024-03-01"
    assert (left.counts.missing, left.counts.newly_missing) == (1, 1)
    assert left.samples == ("mark row 3 missing (b, Py)",)
    later = sync(sheet, [r("a", pct=1)], today=date(2024, 3, 9))
    assert later.is_noop and later.counts.newly_missing == 0 and later.counts.missing == 1
    assert value(sheet, "b", STATUS_COLUMN) == "missing since 2024-03-01"
    back = sync(sheet, [r("a", pct=1), r("b", pct=7)])
    assert value(sheet, "b", STATUS_COLUMN) is None and value(sheet, "b", "pct") == 7
    assert value(sheet, "b", "notes") == "keep me"
    assert back.counts.updated_rows == 1 and back.counts.updated_cells == 2


def test_keep_mode_writes_nothing_for_missing_rows() -> None:
    sheet = synced_sheet(r("a"), r("b"))
    result = sync(sheet, [r("a")], missing_rows="keep")
    assert not result.updates and result.counts.newly_missing == 1
    assert emails(sheet) == ["a", "b"]


def test_new_keys_are_appended_in_report_order_below_the_last_non_empty_row() -> None:
    sheet = synced_sheet(r("a"))
    sheet.set_cell(6, 9, "a note far below")
    result = sync(sheet, [r("z"), r("a"), r("m")])
    assert [row[0] for row in sheet.rows[6:]] == ["z", "m"]
    assert result.counts.added == 2 and result.min_rows == 8


def test_delete_unannotated_deletes_only_rows_without_user_cells() -> None:
    sheet = synced_sheet(r("a"), r("b"), r("c"), r("d", pct=1))
    add_notes(sheet, {"c": "annotated"})
    result = sync(sheet, [r("d", pct=2), r("e")], missing_rows="delete_unannotated")
    assert result.row_deletes == (3, 2)
    assert emails(sheet) == ["c", "d", "e"]
    assert value(sheet, "c", "notes") == "annotated"
    assert value(sheet, "c", STATUS_COLUMN) == "missing since 2024-03-01"
    assert value(sheet, "d", "pct") == 2  # written at its row after the deletions
    assert (result.counts.deleted, result.counts.newly_missing, result.counts.missing) == (2, 1, 3)
    assert result.expected_keys == (("c", "Py"), ("d", "Py"))


def test_delete_unannotated_counts_cells_beyond_the_header_as_annotations() -> None:
    sheet = synced_sheet(r("a"), r("b"))
    sheet.set_cell(3, 12, "x")  # under no header at all
    result = sync(sheet, [r("a")], missing_rows="delete_unannotated")
    assert not result.row_deletes and emails(sheet) == ["a", "b"]


# --- rule 7 and values -------------------------------------------------------------


def test_values_keep_their_types_na_stays_text_null_clears() -> None:
    sheet = synced_sheet(r("a", ok=True, course_id="N/A", done=TS, n=1))
    sync(sheet, [r("a", ok=False, course_id=17, done=None, n=True)])
    assert value(sheet, "a", "ok") is False
    assert value(sheet, "a", "course_id") == 17
    assert value(sheet, "a", "done") is None
    assert value(sheet, "a", "n") is True  # a boolean is not the number 1


def test_formula_text_is_written_as_text() -> None:
    sheet = synced_sheet(r("a", name="=1+1"))
    assert value(sheet, "a", "name") == "=1+1"


def test_a_changed_timestamp_needs_no_new_format() -> None:
    # Its cell already holds a date-time the connector wrote (and formatted).
    sheet = synced_sheet(*(r(e, seen=TS) for e in "abcd"))
    result = sync(
        sheet, [r("a", seen=TS), r("b", seen="2022-02-17T00:00:00Z"), r("c", seen=TS), r("d")]
    )
    assert result.formats == ()
    assert value(sheet, "b", "seen") == 44609 and value(sheet, "d", "seen") is None


def test_a_timestamp_where_the_sheet_had_none_gets_the_format() -> None:
    sheet = synced_sheet(r("a", seen=TS), r("b"), r("c"), r("d", seen=TS))
    result = sync(
        sheet,
        [r("a", seen=TS), r("b", seen=TS), r("c", seen="2022-02-17T00:00:00Z"), r("d", seen=TS)],
    )
    assert result.formats == (FormatRange(4, 3, 4),)
    assert sheet.formats[(3, 4)] == "DATE_TIME" and sheet.formats[(4, 4)] == "DATE_TIME"


# --- rule 3: duplicates ---------------------------------------------------------


def test_a_duplicated_sheet_row_is_left_alone_and_the_first_kept_in_sync() -> None:
    sheet = synced_sheet(r("a", pct=1), r("b", pct=1))
    sheet.rows.append(list(sheet.rows[1]) + [None, "copy"])
    result = sync(sheet, [r("a", pct=2), r("b", pct=1)])
    assert sheet.rows[1][2] == 2 and sheet.rows[3][2] == 1
    assert result.warnings == (
        "1 row(s) repeat a key of an earlier row and are left alone: rows 4",
    )
    assert result.counts.sheet_rows == 2


def test_duplicate_records_in_the_report_give_one_row() -> None:
    sheet = synced_sheet(r("a", pct=1), r("a", pct=1), r("a", pct=5))
    assert emails(sheet) == ["a"] and value(sheet, "a", "pct") == 1


# --- rule 11: empty report ---------------------------------------------------------


def test_an_empty_report_only_marks_rows_missing() -> None:
    sheet = MemorySheet("S", [["email", "course", "pct", "notes"], ["a", "Py", 1, "n"]])
    result = sync(sheet, [])
    assert result.column_inserts == (ColumnInsert(3, STATUS_COLUMN),)
    assert sheet.rows[1] == ["a", "Py", "missing since 2024-03-01", 1, "n"]
    assert result.counts.rows == 0 and result.counts.newly_missing == 1


def test_an_empty_report_into_an_empty_sheet_only_creates_it() -> None:
    sheet = MemorySheet("S", exists=False)
    result = sync(sheet, [])
    assert result.create_sheet and not result.updates and sheet.rows == []


# --- plan details ----------------------------------------------------------------


def test_plan_never_reads_a_clock_or_the_system() -> None:
    table = build_table("x", [r("a")], KEY)
    snapshot = Snapshot("S", header=("email", "course", "pct", STATUS_COLUMN), rows=(("b", "Py"),))
    one = plan(table, snapshot, PlanOptions(today=date(2001, 1, 1)))
    two = plan(table, snapshot, PlanOptions(today=date(2001, 1, 1)))
    assert one == two and CellUpdate(2, 4, "missing since 2001-01-01") in one.updates


def test_rows_shorter_than_the_header_compare_as_empty() -> None:
    table = build_table("x", [r("a", x=None, y="")], KEY)
    snapshot = Snapshot(
        "S", header=("email", "course", "pct", "x", "y", STATUS_COLUMN), rows=(("a", "Py", 0),)
    )
    assert plan(table, snapshot, PlanOptions(today=TODAY)).is_noop


def test_an_unknown_missing_rows_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="missing_rows"):
        plan(build_table("x", [], KEY), Snapshot("S"), PlanOptions(TODAY, missing_rows="drop"))


@pytest.mark.parametrize(("col", "letters"), [(1, "A"), (26, "Z"), (27, "AA"), (703, "AAA")])
def test_column_letter(col: int, letters: str) -> None:
    assert column_letter(col) == letters


def test_samples_are_capped_at_ten() -> None:
    sheet = synced_sheet(*(r(str(i), pct=0) for i in range(20)))
    result = sync(sheet, [r(str(i), pct=1) for i in range(20)])
    assert len(result.samples) == 10 and result.counts.updated_rows == 20


# --- the in-memory backend, driven like the engine drives a backend ---------------


def test_memory_backend_runs_a_cycle_through_the_backend_protocol() -> None:
    backend = MemoryBackend(timezone="Europe/Berlin")
    title = "Course progress"
    snapshots = backend.read([title])
    assert not snapshots[title].exists and backend.timezone() == "Europe/Berlin"
    table = build_table("course_progress", [r("a", seen=TS)], KEY, timezone=backend.timezone())
    result = plan(table, snapshots[title], PlanOptions(today=TODAY))
    assert backend.refuse([result]) == {}
    backend.apply_structure([result])
    found = backend.read_keys({title: result.key_columns})[title]
    assert keys_match(result.expected_keys, tuple(normalise_key(k) for k in found))
    backend.apply_values([result])
    backend.close()
    sheet = backend.sheets[title]
    assert sheet.rows[1] == ["a", "Py", 0, TS_SERIAL + 1 / 24]
    assert backend.calls == [
        "read",
        "refuse",
        "apply_structure",
        "read_keys",
        "apply_values",
        "close",
    ]


def test_memory_sheet_refuses_writes_outside_the_grid() -> None:
    sheet = MemorySheet("S", [["email"]])
    with pytest.raises(GridLimit, match="exceeds grid limits"):
        sheet.apply(Plan("S", updates=(CellUpdate(5, 1, "x"),)))


def test_memory_sheet_reads_like_the_sheets_api() -> None:
    sheet = MemorySheet("S", [["a", None, "c", None], [None, 1, None], [], [None]])
    snap = sheet.snapshot()
    assert snap.header == ("a", "", "c") and snap.rows == (("", 1),)


def test_the_re_read_guard_sees_a_person_sorting_between_plan_and_write() -> None:
    sheet = synced_sheet(r("a", pct=1), r("b", pct=1))
    table = build_table("x", [r("a", pct=2), r("b", pct=1)], KEY)
    result = plan(table, sheet.snapshot(), PlanOptions(today=TODAY))
    sheet.rows[1:] = sheet.rows[:0:-1]  # sorted after the snapshot
    found = tuple(normalise_key(k) for k in sheet.keys(result.key_columns))
    assert not keys_match(result.expected_keys, found)


def test_new_timestamps_in_scattered_rows_are_formatted_run_by_run() -> None:
    sheet = synced_sheet(*(r(e, seen=None) for e in "abcdefg"))
    result = sync(
        sheet,
        [r(e, seen=TS) if e in "bcf" else r(e, seen=None) for e in "abcdefg"],
    )
    assert result.formats == (FormatRange(4, 3, 4), FormatRange(4, 7, 7))
