"""Concurrent people: a person edits the sheet between the connector's read and
its write; nothing lands on the wrong row and no note is lost (see ``concurrent``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sync.config import parse_config
from sync.engine import Engine
from sync.model import Cell
from sync.sheets.google import GoogleBackend
from tests.emulator import Emulator, LoggedRequest
from tests.harness import StaticSource, tidy
from tests.reliability.concurrent import (
    EDITS,
    EMAIL,
    GUARDED,
    describe,
    run_concurrent_trial,
    run_concurrent_trials,
)

FULL_TRIALS = 120


@pytest.fixture
def credentials(emulator: Emulator, tmp_path: Path) -> Path:
    return emulator.service_account(tmp_path / "sa", email=EMAIL)


@pytest.mark.parametrize("edit", [e for e in EDITS if e != "move column"])
def test_an_edit_before_the_re_read_guard_misplaces_nothing(
    edit: str, emulator: Emulator, credentials: Path, tmp_path: Path
) -> None:
    for seed, moment in ((7, GUARDED[0]), (8, GUARDED[1])):
        t = run_concurrent_trial(seed, emulator, credentials, tmp_path, moment=moment, edit=edit)
        assert t.edited, describe(t)
        assert (t.misplaced, t.lost) == (0, 0), describe(t)
        assert t.converged, describe(t)


def _two_column_rig(emulator: Emulator, credentials: Path, tmp_path: Path) -> Any:
    """A worksheet ``email | hours | sync status | Notes`` with a note on every row."""
    spreadsheet = emulator.create_spreadsheet("Moved", shared_with=[EMAIL])
    person = emulator.person(spreadsheet)
    config = parse_config(
        {
            "dataquest": {"team_id": "1", "api_key_env": "K"},
            "workbook": {"path": str(tmp_path / "unused.xlsx")},
            "worksheet": [{"endpoint": "time_spent", "title": "T"}],
            "sync": {"status_sheet": ""},
        },
        env={"K": "k" * 20},
        base_dir=tmp_path,
    )

    def sync(hours: float) -> int:
        records = [{"email": f"p{i}@x.org", "hours": hours + i} for i in range(5)]
        be = GoogleBackend(spreadsheet, credentials, api_url=emulator.url)
        try:
            return Engine(config, be, StaticSource({"time_spent": records})).run_cycle().exit_code
        finally:
            be.close()

    assert sync(1.0) == 0
    notes: list[list[Cell]] = [["Notes"]]
    notes += [[f"note {i}"] for i in range(5)]
    person.set_cells("T", 1, 4, notes)
    return sync, person


def test_a_column_moved_before_the_re_read_guard_loses_no_note(
    emulator: Emulator, credentials: Path, tmp_path: Path
) -> None:
    sync, person = _two_column_rig(emulator, credentials, tmp_path)

    def drag_notes_left(_: LoggedRequest) -> None:
        person.move_column("T", 4, 2)  # email | Notes | hours | sync status

    emulator.before_request(drag_notes_left, kind="values.batchGet", nth=2)
    assert sync(10.0) == 0
    rows = tidy(person.values("T"))
    assert rows[0] == ["email", "Notes", "hours", "sync status"]
    assert [r[1] for r in rows[1:]] == [f"note {i}" for i in range(5)]


@pytest.mark.xfail(
    strict=True,
    reason="limitation: an edit after the re-read guard and before the values write "
    "(a sort here) is invisible to the guard; the write lands on the rows of other keys "
    "and on hand-typed rows, and the next clean sync does not clean managed values off "
    "rows without a key, so the sheet never converges",
)
def test_a_sort_just_before_the_values_write_is_repaired_by_the_next_sync(
    emulator: Emulator, credentials: Path, tmp_path: Path
) -> None:
    t = run_concurrent_trial(
        10, emulator, credentials, tmp_path, moment="before values write", edit="sort"
    )
    assert t.edited
    assert t.converged, describe(t)


@pytest.mark.slow
def test_concurrent_people_full(emulator: Emulator, credentials: Path, tmp_path: Path) -> None:
    trials = run_concurrent_trials(range(FULL_TRIALS), emulator, credentials, tmp_path)
    guarded = [t for t in trials if t.moment in GUARDED and t.edit != "move column"]
    bad = [describe(t) for t in guarded if t.misplaced or t.lost or not t.converged]
    assert not bad, "\n".join(bad)
    assert len(trials) >= 100 and all(t.edited for t in guarded)
