"""Smoke size of the sync benchmark (issue #8): exact request and cell counts.

500 rows rather than 200 so that the scenario's 0.2% gone keys is at least
one row (a status cell), with 5 changed rows and 2 new ones. Every step runs
in this process against the emulator with no latency: counts, not times.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.benchmarks.bench_sync import (
    EMAIL,
    FIELDS,
    Options,
    Scenario,
    Step,
    run_strategy,
)
from tests.emulator import Emulator

SIZE = 500


@pytest.fixture(scope="module")
def steps(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Step]:
    scenario = Scenario(SIZE)
    opts = Options(sizes=(SIZE,), latency=0.0, in_process=True)
    out: dict[tuple[str, str], Step] = {}
    with Emulator() as emulator:
        credentials = emulator.service_account(Path(tmp_path_factory.mktemp("bench")), email=EMAIL)
        for strategy in opts.strategies:
            for s in run_strategy(emulator, credentials, scenario, strategy, opts):
                out[(s.strategy, s.step)] = s
    return out


def test_the_scenario_changes_what_it_says() -> None:
    scenario = Scenario(SIZE)
    assert (len(scenario.changed), len(scenario.gone), scenario.new) == (5, 1, 2)
    assert len(scenario.annotated) == SIZE // 10
    assert len(scenario.refreshed) == SIZE - 1 + 2
    assert Scenario(SIZE).refreshed == scenario.refreshed  # deterministic
    e = scenario.expected_cells()
    # 5 changed progress_pct, 2 of which also got a dttm_completed; 12 filled fields per new row
    assert e == {"changed": 7, "status": 1, "appended": 2 * (len(FIELDS) - 1)}


def test_our_refresh_writes_only_what_changed_in_at_most_five_requests(
    steps: dict[tuple[str, str], Step],
) -> None:
    s = steps[("dq-sheets-sync", "refresh")]
    e = Scenario(SIZE).expected_cells()
    expected = e["changed"] + e["status"] + e["appended"]
    assert s.requests <= 5
    assert s.writes <= 2  # one structural batchUpdate (grid growth, formats), one values write
    assert s.info["data_cells_planned"] == expected
    assert s.sheet_cells_changed == expected
    status_sheet_cells = s.cells - expected
    assert 0 < status_sheet_cells <= 9  # the "Sync status" row, at most its 9 columns
    assert s.annotations_kept == 1.0
    assert s.rows_current == 1.0


def test_our_no_change_refresh_writes_no_data_cell(steps: dict[tuple[str, str], Step]) -> None:
    s = steps[("dq-sheets-sync", "nochange")]
    assert s.requests <= 5
    assert s.info["data_cells_planned"] == 0
    assert s.sheet_cells_changed == 0
    assert s.cells <= 9  # only the status sheet's "last attempt"/"last success" stamps
    assert s.annotations_kept == 1.0


def test_the_planner_alone_plans_the_same_cells(steps: dict[tuple[str, str], Step]) -> None:
    refresh = steps[("dq-sheets-sync", "refresh")]
    assert (
        steps[("dq-sheets-sync", "planner")].info["updates"] == (refresh.info["data_cells_planned"])
    )


def test_a_full_rewrite_loses_the_annotations_and_writes_every_cell(
    steps: dict[tuple[str, str], Step],
) -> None:
    ours = steps[("dq-sheets-sync", "refresh")]
    s = steps[("full rewrite", "refresh")]
    assert s.annotations_kept == 0.0
    assert s.rows_current == 1.0
    assert s.cells == (len(Scenario(SIZE).refreshed) + 1) * len(FIELDS)
    assert s.cells > 100 * ours.cells
    assert steps[("full rewrite", "nochange")].cells == s.cells


def test_a_per_row_upsert_writes_whole_rows_one_request_each(
    steps: dict[tuple[str, str], Step],
) -> None:
    ours = steps[("dq-sheets-sync", "refresh")]
    s = steps[("per-row upsert", "refresh")]
    scenario = Scenario(SIZE)
    rows = len(scenario.changed) + scenario.new
    assert s.writes == rows
    assert s.cells == rows * len(FIELDS)
    assert s.cells > ours.info["data_cells_planned"]
    assert s.annotations_kept == 1.0  # it never moves rows, but pays in requests and cells
    assert steps[("per-row upsert", "nochange")].requests == 0


@pytest.mark.slow
def test_our_strategy_at_100000_rows_in_child_processes(tmp_path: Path) -> None:
    """The full size for dq-sheets-sync alone, 50 ms latency, each step in a child:
    counts, annotations and peak RSS (times are in RESULTS.md, not asserted)."""
    size = 100_000
    opts = Options(sizes=(size,), latency=0.05, strategies=("dq-sheets-sync",))
    with Emulator() as emulator:
        credentials = emulator.service_account(tmp_path, email=EMAIL)
        steps = {
            s.step: s
            for s in run_strategy(emulator, credentials, Scenario(size), opts.strategies[0], opts)
        }
    e = Scenario(size).expected_cells()
    refresh, nochange = steps["refresh"], steps["nochange"]
    assert refresh.requests <= 5 and nochange.requests <= 5
    assert refresh.info["data_cells_planned"] == e["changed"] + e["status"] + e["appended"]
    assert refresh.sheet_cells_changed == refresh.info["data_cells_planned"]
    assert nochange.info["data_cells_planned"] == 0
    assert refresh.annotations_kept == 1.0
    assert refresh.peak_rss_mb <= 500
