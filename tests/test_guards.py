"""Guards: an empty or suspiciously short report is refused unless forced."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from sync.errors import UnsafeSync
from sync.guards import GuardOptions, check
from sync.model import Counts, Plan, Snapshot
from sync.plan import PlanOptions, plan
from sync.sheets.memory import MemorySheet
from sync.table import build_table

KEY = ("email",)


def records(*emails: str) -> list[dict[str, Any]]:
    return [{"email": e, "pct": 1} for e in emails]


def sheet_with(*emails: str) -> MemorySheet:
    sheet = MemorySheet("Course progress", exists=False)
    sheet.apply(planned(sheet, records(*emails)))
    return sheet


def planned(sheet: MemorySheet, recs: list[dict[str, Any]], mode: str = "mark") -> Plan:
    table = build_table("course_progress", recs, KEY)
    return plan(table, sheet.snapshot(), PlanOptions(date(2024, 3, 1), missing_rows=mode))


def test_an_empty_report_over_synced_rows_is_refused_with_advice() -> None:
    sheet = sheet_with("a", "b", "c")
    result = planned(sheet, [])
    with pytest.raises(UnsafeSync) as info:
        check(result, sheet.snapshot(), GuardOptions())
    message = str(info.value)
    assert "'Course progress'" in message and "empty" in message
    assert "3 synced row(s)" in message and "--force" in message


def test_force_lets_an_empty_report_through() -> None:
    sheet = sheet_with("a")
    check(planned(sheet, []), sheet.snapshot(), GuardOptions(force=True))


def test_an_empty_report_over_an_empty_sheet_passes() -> None:
    sheet = MemorySheet("S", exists=False)
    check(planned(sheet, []), sheet.snapshot(), GuardOptions())


def test_an_empty_report_when_every_row_is_already_marked_passes() -> None:
    sheet = sheet_with("a", "b")
    forced = planned(sheet, [])
    sheet.apply(forced)
    again = planned(sheet, [])
    assert again.is_noop
    check(again, sheet.snapshot(), GuardOptions())


def test_more_than_the_fraction_missing_is_refused_with_the_numbers() -> None:
    sheet = sheet_with(*"abcdefghij")
    result = planned(sheet, records(*"abcd"))
    with pytest.raises(UnsafeSync) as info:
        check(result, sheet.snapshot(), GuardOptions(max_missing_fraction=0.5))
    assert "6 of 10 synced rows (60%)" in str(info.value)
    assert "max_missing_fraction 50%" in str(info.value) and "--force" in str(info.value)


def test_exactly_the_fraction_passes() -> None:
    sheet = sheet_with(*"abcdefghij")
    check(planned(sheet, records(*"abcde")), sheet.snapshot(), GuardOptions(0.5))


def test_few_rows_still_use_the_fraction() -> None:
    sheet = sheet_with("a", "b")
    with pytest.raises(UnsafeSync):
        check(planned(sheet, records("c")), sheet.snapshot(), GuardOptions(0.5))
    check(planned(sheet, records("a")), sheet.snapshot(), GuardOptions(0.5))


def test_rows_already_marked_missing_do_not_count_again() -> None:
    sheet = sheet_with(*"abcdefghij")
    first = planned(sheet, records(*"abcdef"))  # 4 of 10 missing: allowed
    check(first, sheet.snapshot(), GuardOptions(0.5))
    sheet.apply(first)
    # 3 more of the 6 rows still live: 50%, allowed; the 4 old ones are not counted
    check(planned(sheet, records(*"abc")), sheet.snapshot(), GuardOptions(0.5))
    with pytest.raises(UnsafeSync, match="4 of 6"):
        check(planned(sheet, records(*"ab")), sheet.snapshot(), GuardOptions(0.5))


def test_deletions_count_like_missing_rows() -> None:
    sheet = sheet_with(*"abcd")
    result = planned(sheet, records("a"), mode="delete_unannotated")
    assert result.counts.deleted == 3
    with pytest.raises(UnsafeSync, match="3 row\\(s\\) would be deleted"):
        check(result, sheet.snapshot(), GuardOptions(0.5))


def test_keep_mode_is_guarded_too() -> None:
    sheet = sheet_with(*"abcd")
    with pytest.raises(UnsafeSync):
        check(planned(sheet, records("x"), mode="keep"), sheet.snapshot(), GuardOptions())


def test_a_fraction_of_one_never_refuses_a_non_empty_report() -> None:
    counts = Counts(rows=1, missing=100, newly_missing=100, sheet_rows=100)
    check(Plan("S", counts=counts), Snapshot("S"), GuardOptions(1.0))


def test_a_normal_sync_passes() -> None:
    sheet = sheet_with("a", "b")
    check(planned(sheet, records("a", "b", "c")), sheet.snapshot(), GuardOptions())


def test_keep_mode_lets_learners_leave_one_by_one() -> None:
    # Nothing marks a row in keep mode, so rows that left long ago must not count again.
    sheet = sheet_with("a", "b", "c", "d")
    options = GuardOptions(missing_rows="keep")
    for left in ("d", "c", "b"):
        still = [e for e in "abcd" if e < left]
        result = planned(sheet, records(*still, "new" + left), mode="keep")
        check(result, sheet.snapshot(), options)
        sheet.apply(result)


def test_keep_mode_still_refuses_keys_that_all_changed() -> None:
    sheet = sheet_with("a", "b", "c", "d")
    changed = planned(sheet, records("A", "B", "C", "D"), mode="keep")
    with pytest.raises(UnsafeSync):
        check(changed, sheet.snapshot(), GuardOptions(missing_rows="keep"))


def test_a_fraction_exactly_at_the_limit_passes() -> None:
    emails = [f"e{i}" for i in range(100)]
    sheet = sheet_with(*emails)
    result = planned(sheet, records(*emails[29:]))  # 29 of 100 leave
    check(result, sheet.snapshot(), GuardOptions(max_missing_fraction=0.29))


def test_a_renamed_key_header_is_refused_instead_of_appending_every_row_again() -> None:
    sheet = sheet_with("a", "b", "c")
    sheet.rows[0][0] = "Email"  # a person renamed the key column's header
    result = planned(sheet, records("a", "b", "c"))
    with pytest.raises(UnsafeSync) as info:
        check(result, sheet.snapshot(), GuardOptions(key_fields=KEY))
    assert "'email'" in str(info.value) and "--force" in str(info.value)
    check(result, sheet.snapshot(), GuardOptions(key_fields=KEY, force=True))
