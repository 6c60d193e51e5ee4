"""The sheet contract (README "What you can rely on"), against every backend.

The same tests run on the in-memory sheet, the workbook backend (a real
.xlsx through openpyxl) and the Google backend (real gspread and google-auth
against the Sheets API emulator on 127.0.0.1).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sync.model import STATUS_COLUMN
from sync.table import to_serial
from tests.harness import GoogleHarness, Harness, MemoryHarness, StaticSource, WorkbookHarness

TITLE = "Course progress"
WORKSHEETS = [{"endpoint": "course_progress", "title": TITLE}]
TODAY = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["memory", "workbook", "google"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Harness:
    if request.param == "memory":
        return MemoryHarness(tmp_path)
    if request.param == "workbook":
        return WorkbookHarness(tmp_path)
    return GoogleHarness(tmp_path, request.getfixturevalue("emulator"))


def learner(i: int, **extra: Any) -> dict[str, Any]:
    record = {
        "learner_name": f"Learner {i}",
        "email": f"l{i}@example.org",
        "last_login": f"2022-02-{10 + i % 18:02d}T12:16:09.692Z",
        "path": "Data Analyst in Python",
        "step": 1,
        "course": "Python Basics",
        "language": "Python",
        "progress_pct": 10 * i % 100,
    }
    record.update(extra)
    return record


def sync(h: Harness, reports: dict[str, list[dict[str, Any]]], **kw: Any) -> Any:
    config = h.config(WORKSHEETS, **kw.pop("sync_options", {}))
    return h.sync(config, StaticSource(reports), now=lambda: TODAY, **kw)


def rows_by_email(h: Harness) -> dict[str, dict[str, Any]]:
    values = h.values(TITLE)
    header = values[0]
    out = {}
    for row in values[1:]:
        cells = dict(zip(header, row + [None] * (len(header) - len(row)), strict=False))
        email = cells.get("email")
        if email:
            assert email not in out, f"{email} appears twice"
            out[email] = cells
    return out


def col(h: Harness, header: str) -> int:
    return h.values(TITLE)[0].index(header) + 1


class TestContract:
    def test_first_sync_writes_a_typed_header_and_rows(self, harness: Harness) -> None:
        records = [
            learner(1, learner_name="=1+1", course_id="N/A", has_license=True, dttm_completed=None),
            learner(2, course_id="42", has_license=False),
        ]
        result = sync(harness, {"course_progress": records})
        assert result.exit_code == 0, result.results
        values = harness.values(TITLE)
        assert values[0] == [*records[0].keys(), STATUS_COLUMN]
        rows = rows_by_email(harness)
        first = rows["l1@example.org"]
        assert first["learner_name"] == "=1+1"  # text, never a formula
        assert first["course_id"] == "N/A"
        assert first["progress_pct"] == 10 and not isinstance(first["progress_pct"], bool)
        assert first["has_license"] is True
        assert rows["l2@example.org"]["has_license"] is False
        assert first["dttm_completed"] is None
        expected = to_serial(datetime(2022, 2, 11, 12, 16, 9, 692000))
        assert abs(first["last_login"] - expected) < 1e-6
        row = 1 + [r[1] for r in values].index("l1@example.org") + 0
        assert harness.is_datetime(TITLE, row + 0, col(harness, "last_login"))

    def test_notes_stay_on_their_rows_through_sorts_inserts_and_changes(
        self, harness: Harness
    ) -> None:
        records = [learner(i) for i in range(1, 7)]
        assert sync(harness, {"course_progress": records}).exit_code == 0
        width = len(harness.values(TITLE)[0])
        notes = width + 1
        harness.type(TITLE, 1, notes, "Notes")
        for row, email in ((2, "l1@example.org"), (4, "l3@example.org"), (7, "l6@example.org")):
            assert harness.values(TITLE)[row - 1][1] == email
            harness.type(TITLE, row, notes, f"called {email}")
        harness.sort(TITLE, 2, descending=True)  # by email, Z to A
        harness.insert_row(TITLE, 3)  # a blank row between data rows
        harness.insert_row(TITLE, 5)
        harness.type(TITLE, 5, notes, "hand-typed: budget meeting")
        # The report moves on: a value changes, l6 leaves, two learners join.
        changed = [learner(i, progress_pct=99) if i == 3 else learner(i) for i in range(1, 6)]
        changed += [learner(7), learner(8)]
        result = sync(harness, {"course_progress": changed})
        assert result.exit_code == 0, result.results
        rows = rows_by_email(harness)
        assert rows["l1@example.org"]["Notes"] == "called l1@example.org"
        assert rows["l3@example.org"]["Notes"] == "called l3@example.org"
        assert rows["l6@example.org"]["Notes"] == "called l6@example.org"
        assert rows["l3@example.org"]["progress_pct"] == 99
        assert rows["l6@example.org"][STATUS_COLUMN] == "missing since 2026-12-03"
        assert rows["l1@example.org"][STATUS_COLUMN] is None
        assert {"l7@example.org", "l8@example.org"} <= rows.keys()
        assert rows["l7@example.org"]["Notes"] is None
        values = harness.values(TITLE)
        hand = [r for r in values if "hand-typed: budget meeting" in r]
        assert len(hand) == 1 and all(c is None for c in hand[0][: notes - 1])
        # New learners are appended below the last non-empty row.
        emails = [r[1] if len(r) > 1 else None for r in values]
        assert emails.index("l7@example.org") > max(
            i for i, r in enumerate(values) if "hand-typed: budget meeting" in r
        )

    def test_a_new_field_becomes_a_column_and_user_columns_shift_whole(
        self, harness: Harness
    ) -> None:
        assert sync(harness, {"course_progress": [learner(1), learner(2)]}).exit_code == 0
        width = len(harness.values(TITLE)[0])
        harness.type(TITLE, 1, width + 1, "Owner")
        harness.type(TITLE, 2, width + 1, "Ana")
        result = sync(
            harness, {"course_progress": [learner(1, cohort="A"), learner(2, cohort="B")]}
        )
        assert result.exit_code == 0, result.results
        header = harness.values(TITLE)[0]
        assert header.index("cohort") == header.index(STATUS_COLUMN) + 1
        assert header.index("Owner") == header.index("cohort") + 1
        first_email = harness.values(TITLE)[1][1]
        rows = rows_by_email(harness)
        assert rows[first_email]["Owner"] == "Ana"
        assert {r["cohort"] for r in rows.values()} == {"A", "B"}

    def test_a_vanished_field_keeps_its_column_and_values(self, harness: Harness) -> None:
        assert sync(harness, {"course_progress": [learner(1, extra="x")]}).exit_code == 0
        assert sync(harness, {"course_progress": [learner(1, progress_pct=77)]}).exit_code == 0
        row = rows_by_email(harness)["l1@example.org"]
        assert row["extra"] == "x"
        assert row["progress_pct"] == 77

    def test_an_unchanged_report_changes_nothing(self, harness: Harness) -> None:
        reports = {"course_progress": [learner(i) for i in range(1, 5)]}
        assert sync(harness, reports).exit_code == 0
        before = harness.values(TITLE)
        second = sync(harness, reports)
        assert [r.outcome for r in second.results] == ["unchanged"]
        assert second.results[0].plan is not None and second.results[0].plan.is_noop
        assert harness.values(TITLE) == before

    def test_a_learner_who_returns_is_no_longer_marked(self, harness: Harness) -> None:
        everyone = [learner(i) for i in range(1, 5)]
        assert sync(harness, {"course_progress": everyone}).exit_code == 0
        assert sync(harness, {"course_progress": everyone[1:]}).exit_code == 0
        assert rows_by_email(harness)["l1@example.org"][STATUS_COLUMN].startswith("missing since")
        assert sync(harness, {"course_progress": everyone}).exit_code == 0
        assert rows_by_email(harness)["l1@example.org"][STATUS_COLUMN] is None

    def test_delete_unannotated_keeps_annotated_rows(self, harness: Harness) -> None:
        everyone = [learner(i) for i in range(1, 7)]
        options = {"sync_options": {"missing_rows": "delete_unannotated"}}
        assert sync(harness, {"course_progress": everyone}, **options).exit_code == 0
        notes = len(harness.values(TITLE)[0]) + 1
        harness.type(TITLE, 1, notes, "Notes")
        row = [r[1] for r in harness.values(TITLE)].index("l2@example.org") + 1
        harness.type(TITLE, row, notes, "keep me")
        result = sync(harness, {"course_progress": everyone[2:]}, **options)
        assert result.exit_code == 0, result.results
        rows = rows_by_email(harness)
        assert "l1@example.org" not in rows  # nobody typed beside it: deleted
        assert rows["l2@example.org"]["Notes"] == "keep me"
        assert rows["l2@example.org"][STATUS_COLUMN].startswith("missing since")

    def test_an_empty_report_is_refused_and_changes_nothing(self, harness: Harness) -> None:
        assert sync(harness, {"course_progress": [learner(1), learner(2)]}).exit_code == 0
        before = harness.values(TITLE)
        result = sync(harness, {"course_progress": []})
        assert result.exit_code == 1
        assert result.results[0].outcome == "refused"
        assert harness.values(TITLE) == before
        forced = sync(harness, {"course_progress": []}, force=True)
        assert forced.exit_code == 0
        assert all(
            r[STATUS_COLUMN].startswith("missing since") for r in rows_by_email(harness).values()
        )
