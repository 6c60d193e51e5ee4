"""The Google backend in-process against the emulator: retries, chunked writes,
the cell budget, and the pure request builders."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sync.engine import CycleResult, Engine
from sync.errors import EX_TEMPFAIL
from sync.model import CellUpdate
from sync.sheets.google import GoogleBackend, _ranges, _runs, spreadsheet_id_from
from sync.sheets.google_http import RetryPolicy
from tests.emulator import Emulator
from tests.harness import StaticSource, tidy
from tests.sandbox_plugin import FakeClock

EMAIL = "sync@test-project.iam.gserviceaccount.com"
TITLE = "Time spent"


def report(n: int, hours: float = 1.0) -> dict[str, list[dict[str, Any]]]:
    return {
        "time_spent": [
            {"email": f"p{i}@example.org", "has_license": True, "all time: hours spent": hours + i}
            for i in range(n)
        ]
    }


@pytest.fixture
def rig(emulator: Emulator, tmp_path: Path, fake_clock: FakeClock) -> Callable[..., CycleResult]:
    credentials = emulator.service_account(tmp_path, email=EMAIL)
    spreadsheet = emulator.create_spreadsheet("Faults", shared_with=[EMAIL])
    from tests.harness import Harness

    config = Harness(tmp_path).config([{"endpoint": "time_spent", "title": TITLE}])

    def run(reports: dict[str, list[dict[str, Any]]], **backend: Any) -> CycleResult:
        be = GoogleBackend(
            spreadsheet,
            credentials,
            api_url=emulator.url,
            sleep=fake_clock.sleep,
            clock=fake_clock,
            **backend,
        )
        try:
            return Engine(config, be, StaticSource(reports)).run_cycle()
        finally:
            be.close()

    run.person = emulator.person(spreadsheet)  # type: ignore[attr-defined]
    run.spreadsheet = spreadsheet  # type: ignore[attr-defined]
    return run


def emails(rig: Any) -> list[str]:
    return [r[0] for r in tidy(rig.person.values(TITLE))[1:] if r]


def test_three_429s_then_success(rig: Any, emulator: Emulator, fake_clock: FakeClock) -> None:
    emulator.inject(429, count=3, kind="spreadsheets.get")
    result = rig(report(5))
    assert result.exit_code == 0, result.results
    assert len(fake_clock.sleeps) == 3
    assert emails(rig) == [f"p{i}@example.org" for i in range(5)]


def test_quota_that_never_recovers_exits_75_within_the_bound(
    rig: Any, emulator: Emulator, fake_clock: FakeClock
) -> None:
    emulator.inject(429, count=10_000, kind="spreadsheets.get")
    result = rig(report(5))
    assert result.exit_code == EX_TEMPFAIL
    error = str(result.results[0].error)
    assert "kept failing" in error and "try again later" in error
    assert fake_clock.slept <= RetryPolicy().max_total


def test_a_failed_second_chunk_converges_on_the_next_run_without_duplicates(
    rig: Any, emulator: Emulator
) -> None:
    assert rig(report(40)).exit_code == 0
    bigger = report(400, hours=5.0)
    emulator.inject(500, count=10_000, kind="values.batchUpdate", after=1)
    failed = rig(bigger, max_body=4_000, policy=RetryPolicy(max_attempts=2))
    assert failed.exit_code == EX_TEMPFAIL
    emulator.faults.pending.clear()  # Google works again
    clean = rig(bigger, max_body=4_000)
    assert clean.exit_code == 0, clean.results
    found = emails(rig)
    assert sorted(found) == sorted(f"p{i}@example.org" for i in range(400))
    assert len(found) == len(set(found))
    hours = [r[2] for r in tidy(rig.person.values(TITLE))[1:]]
    assert all(h >= 5.0 for h in hours)


def test_writes_are_split_by_size_but_not_otherwise(rig: Any, emulator: Emulator) -> None:
    assert rig(report(300), max_body=5_000).exit_code == 0
    writes = [r for r in emulator.log if r.kind == "values.batchUpdate"]
    assert len(writes) > 1
    assert all(r.bytes_in < 5_000 + 2_000 for r in writes)
    emulator.clear_log()
    assert rig(report(300, hours=2.0)).exit_code == 0
    assert len([r for r in emulator.log if r.kind == "values.batchUpdate"]) == 1


def test_the_cell_budget_refuses_before_any_write(rig: Any, emulator: Emulator) -> None:
    assert rig(report(3)).exit_code == 0
    # Another tab of the spreadsheet already holds 9,880,000 cells of grid.
    book = emulator.spreadsheet(rig.spreadsheet)
    other = book.sheet_by_title("Sheet1")
    assert other is not None
    other.grid["rowCount"], other.grid["columnCount"] = 380_000, 26
    before = rig.person.values(TITLE)
    emulator.clear_log()
    result = rig(report(4_000))  # needs 4,001 rows: past 10,000,000 cells in all
    assert result.exit_code == 1
    message = str(result.results[0].error)
    assert "10,000,000" in message and "cells" in message
    assert rig.person.values(TITLE) == before
    written = [g for r in emulator.log if r.kind == "values.batchUpdate" for g in r.ranges]
    assert not [g for g in written if TITLE in g]


def test_ranges_merge_runs_and_blocks_and_leave_gaps_alone() -> None:
    updates = [
        CellUpdate(5, 1, "a"),
        CellUpdate(5, 2, 1.5),
        CellUpdate(5, 4, True),  # a gap of one cell: sent as null, which leaves it alone
        CellUpdate(6, 1, "b"),
        CellUpdate(6, 2, None),
        CellUpdate(6, 4, False),
        CellUpdate(9, 20, "far"),
    ]
    ranges = list(_ranges("Jon's Data", updates))
    assert ranges[0]["range"] == "'Jon''s Data'!A5:D6"
    assert ranges[0]["values"] == [["a", 1.5, None, True], ["b", "", None, False]]
    assert ranges[1]["range"] == "'Jon''s Data'!T9:T9"


def test_runs_of_deleted_rows() -> None:
    assert list(_runs([9, 8, 5, 3, 2])) == [(8, 9), (5, 5), (2, 3)]


@pytest.mark.parametrize(
    "value",
    [
        "https://docs.google.com/spreadsheets/d/1AbC_d-9/edit#gid=0",
        "https://docs.google.com/spreadsheets/d/1AbC_d-9/edit?usp=sharing",
        "https://docs.google.com/spreadsheets/d/1AbC_d-9",
        "1AbC_d-9",
    ],
)
def test_spreadsheet_id_from_url_or_id(value: str) -> None:
    assert spreadsheet_id_from(value) == "1AbC_d-9"


def test_a_tab_whose_title_differs_only_in_case_is_the_same_tab(
    emulator: Emulator, tmp_path: Path
) -> None:
    credentials = emulator.service_account(tmp_path, email=EMAIL)
    spreadsheet = emulator.create_spreadsheet("Case", shared_with=[EMAIL], sheets=("time spent",))
    from tests.harness import Harness

    config = Harness(tmp_path).config([{"endpoint": "time_spent", "title": TITLE}])
    backend = GoogleBackend(spreadsheet, credentials, api_url=emulator.url)
    result = Engine(config, backend, StaticSource(report(3))).run_cycle()
    assert result.exit_code == 0, result.results
    rows = tidy(emulator.person(spreadsheet).values("time spent"))
    assert [r[0] for r in rows[1:]] == ["p0@example.org", "p1@example.org", "p2@example.org"]
