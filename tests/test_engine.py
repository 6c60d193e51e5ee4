"""One cycle: failure isolation, exit codes, the status worksheet, the re-read guard."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.engine import Engine
from sync.errors import AuthError, BadResponse, SourceError
from sync.model import Cell
from sync.sheets.memory import MemoryBackend
from tests.harness import Harness, StaticSource, tidy

NOW = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
SHEETS = [
    {"endpoint": "time_spent", "title": "Time spent"},
    {"endpoint": "invitations_status", "title": "Invitations"},
]


def reports(n: int = 3) -> dict[str, list[dict[str, Any]]]:
    return {
        "time_spent": [{"email": f"t{i}@x.org", "all time: hours spent": i} for i in range(n)],
        "invitations_status": [{"email": f"i{i}@x.org", "status": "Active"} for i in range(n)],
    }


class FailingSource(StaticSource):
    def __init__(self, reports: Mapping[str, list[dict[str, Any]]], fail: dict[str, Exception]):
        super().__init__(reports)
        self.fail = fail

    def fetch(
        self, endpoint: str, *, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        if endpoint in self.fail:
            raise self.fail[endpoint]
        return super().fetch(endpoint, params=params)


def cycle(tmp_path: Path, backend: MemoryBackend, source: StaticSource, **kw: Any) -> Any:
    config = Harness(tmp_path).config(SHEETS)
    return Engine(config, backend, source, now=lambda: NOW, **kw).run_cycle()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (BadResponse("time_spent: not JSON"), 1),
        (AuthError("key refused"), 78),
        (SourceError("Dataquest kept failing"), 75),
    ],
)
def test_one_failing_report_does_not_stop_the_others(
    tmp_path: Path, error: Exception, code: int
) -> None:
    backend = MemoryBackend()
    result = cycle(tmp_path, backend, FailingSource(reports(), {"time_spent": error}))
    assert result.exit_code == code
    outcomes = {r.title: r.outcome for r in result.results}
    assert outcomes == {"Time spent": "failed", "Invitations": "synced"}
    assert len(tidy(backend.sheet("Invitations").rows)) == 4
    assert not backend.sheet("Time spent").exists
    status = tidy(backend.sheet("Sync status").rows)
    assert status[0][:3] == ["worksheet", "endpoint", "last attempt"]
    by_title = {row[0]: row for row in status[1:]}
    assert str(error) in by_title["Time spent"][-1]
    assert by_title["Invitations"][-1] == "ok"


def test_status_keeps_the_last_success_when_a_later_attempt_fails(tmp_path: Path) -> None:
    backend = MemoryBackend()
    assert cycle(tmp_path, backend, StaticSource(reports())).exit_code == 0
    first = {r[0]: r for r in tidy(backend.sheet("Sync status").rows)[1:]}
    later = datetime(2026, 12, 3, 10, 30, tzinfo=UTC)
    config = Harness(tmp_path).config(SHEETS)
    source = FailingSource(reports(), {"time_spent": SourceError("HTTP 500 for 120 s")})
    Engine(config, backend, source, now=lambda: later).run_cycle()
    status = tidy(backend.sheet("Sync status").rows)
    header = status[0]
    rows = {r[0]: dict(zip(header, r, strict=False)) for r in status[1:]}
    assert rows["Time spent"]["last success"] == first["Time spent"][header.index("last success")]
    assert rows["Time spent"]["last attempt"] > rows["Time spent"]["last success"]
    assert "HTTP 500" in rows["Time spent"]["result"]
    assert rows["Invitations"]["last success"] == rows["Invitations"]["last attempt"]


def test_the_same_report_is_fetched_once_per_cycle(tmp_path: Path) -> None:
    config = Harness(tmp_path).config(
        [
            {"endpoint": "time_spent", "title": "A"},
            {"endpoint": "time_spent", "title": "B"},
        ]
    )
    source = StaticSource(reports())
    Engine(config, MemoryBackend(), source, now=lambda: NOW).run_cycle()
    assert source.calls == ["time_spent"]


class MovingBackend(MemoryBackend):
    """A memory backend where a person sorts rows just before the key re-read."""

    def __init__(self, moves: int) -> None:
        super().__init__()
        self.moves = moves

    def read_keys(
        self, columns: Mapping[str, tuple[int, ...]]
    ) -> dict[str, tuple[tuple[Cell, ...], ...]]:
        if self.moves and "Time spent" in columns:
            self.moves -= 1
            rows = self.sheet("Time spent").rows
            rows[1:] = list(reversed(rows[1:]))
        return super().read_keys(columns)


def test_rows_moved_before_the_write_are_planned_again(tmp_path: Path) -> None:
    backend = MovingBackend(moves=0)
    assert cycle(tmp_path, backend, StaticSource(reports(4))).exit_code == 0
    backend.sheet("Time spent").set_cell(1, 4, "Notes")
    for row in range(2, 6):
        email = backend.sheet("Time spent").rows[row - 1][0]
        backend.sheet("Time spent").set_cell(row, 4, f"note {email}")
    backend.moves = 2
    changed = reports(4)
    for rec in changed["time_spent"]:
        rec["all time: hours spent"] = 100
    result = cycle(tmp_path, backend, StaticSource(changed))
    assert result.exit_code == 0
    for row in tidy(backend.sheet("Time spent").rows)[1:]:
        assert row[3] == f"note {row[0]}"
        assert row[1] == 100


def test_rows_that_keep_moving_fail_the_cycle_as_transient(tmp_path: Path) -> None:
    backend = MovingBackend(moves=0)
    assert cycle(tmp_path, backend, StaticSource(reports(4))).exit_code == 0
    backend.moves = 100
    changed = reports(4)
    changed["time_spent"][0]["all time: hours spent"] = 7
    result = cycle(tmp_path, backend, StaticSource(changed))
    assert result.exit_code == 75
    assert "kept moving" in str(result.results[0].error)


def test_dry_run_plans_but_writes_nothing(tmp_path: Path) -> None:
    backend = MemoryBackend()
    result = cycle(tmp_path, backend, StaticSource(reports()), dry_run=True)
    assert [r.outcome for r in result.results] == ["planned", "planned"]
    assert result.results[0].counts.added == 3
    assert "apply_structure" not in backend.calls and "apply_values" not in backend.calls


def test_a_stop_request_before_writing_writes_nothing(tmp_path: Path) -> None:
    backend = MemoryBackend()
    result = cycle(tmp_path, backend, StaticSource(reports()), should_stop=lambda: True)
    assert result.exit_code == 75
    assert "apply_values" not in backend.calls


class SortAfterReadBackend(MemoryBackend):
    """A person sorts the rows Z to A right after the connector's first read."""

    def __init__(self) -> None:
        super().__init__()
        self.armed = False

    def read(self, titles: Any) -> Any:
        snapshots = super().read(titles)
        if self.armed:
            self.armed = False
            rows = self.sheet("Time spent").rows
            rows[1:] = sorted(rows[1:], key=lambda r: str(r[0]), reverse=True)
        return snapshots


def test_rows_to_delete_are_checked_before_anything_is_deleted(tmp_path: Path) -> None:
    config = Harness(tmp_path).config(
        [{"endpoint": "time_spent", "title": "Time spent"}], missing_rows="delete_unannotated"
    )
    backend = SortAfterReadBackend()
    report = [{"email": e, "all time: hours spent": 1} for e in ("a@x", "b@x", "c@x", "d@x")]
    assert Engine(config, backend, StaticSource({"time_spent": report})).run_cycle().exit_code == 0
    sheet = backend.sheet("Time spent")
    sheet.set_cell(1, 4, "Notes")
    sheet.set_cell(4, 4, "emailed c on 1 May")  # row 4 is c@x
    backend.armed = True
    without_b = [r for r in report if r["email"] != "b@x"]
    result = Engine(config, backend, StaticSource({"time_spent": without_b})).run_cycle()
    assert result.exit_code == 0, result.results
    rows = {r[0]: r for r in tidy(sheet.rows)[1:]}
    assert "b@x" not in rows  # the row that left was deleted...
    assert rows["c@x"][3] == "emailed c on 1 May"  # ...not the row that moved into its place
    assert set(rows) == {"a@x", "c@x", "d@x"}


def test_relative_report_dates_follow_the_users_day(tmp_path: Path) -> None:
    from dataclasses import replace as dc_replace

    config = Harness(tmp_path).config(
        [{"endpoint": "time_spent", "title": "T", "start_date": "-1d", "end_date": "today"}]
    )
    # Noon UTC on 3 December is already 4 December in Auckland.
    config = dc_replace(
        config,
        schedule=dc_replace(
            config.schedule, timezone="Pacific/Auckland", every_seconds=None, at=("07:00",)
        ),
    )
    source = StaticSource(reports())
    noon = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    Engine(config, MemoryBackend(), source, now=lambda: noon).run_cycle()
    assert source.params == [{"start_date": "03/12/2026", "end_date": "04/12/2026"}]
