"""`--once`, `--dry-run` and `check` end to end: the real CLI as a subprocess,
the Teams API sandbox and the Sheets API emulator on 127.0.0.1, the real
service-account OAuth flow, gspread and google-auth."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sync.sandbox import Sandbox
from tests.e2e import SERVICE_EMAIL, Site
from tests.emulator import Emulator

COURSE = "Course progress"


@pytest.fixture
def site(tmp_path: Path, emulator: Emulator, sandbox_factory: Callable[..., Sandbox]) -> Site:
    sandbox = sandbox_factory(clock=time.monotonic, rate_per_minute=1000, learners=12)
    return Site(tmp_path, emulator, sandbox)


def keyed(site: Site, title: str, key: tuple[str, ...]) -> dict[tuple[Any, ...], dict[str, Any]]:
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for rec in site.records(title):
        k = tuple(rec.get(f, "") for f in key)
        if all(k):
            assert k not in out, f"{k} has two rows"
            out[k] = rec
    return out


def test_first_once_creates_typed_worksheets(site: Site) -> None:
    records = site.sandbox.records("course_progress")
    records[0]["learner_name"] = "=1+1"
    site.sandbox.inject(200, endpoint="course_progress", body=json.dumps(records))
    result = site.cli("--once")
    assert result.returncode == 0, result.stderr
    for title in ("Course progress", "Mission progress", "Invitations", "Time spent"):
        assert title in result.stdout
        assert site.values(title)[0][-1] == "sync status"
        assert site.person.is_bold(title, 1, 1)
        assert site.person.frozen_rows(title) == 1
    rows = keyed(site, COURSE, ("email", "path", "course"))
    assert len(rows) == len(records)
    first = rows[(records[0]["email"], records[0]["path"], records[0]["course"])]
    assert first["learner_name"] == "=1+1"  # text: written RAW, never evaluated
    assert isinstance(first["progress_pct"], int | float)
    assert isinstance(first["last_login"], float)  # a date-time serial
    header = site.values(COURSE)[0]
    fmt = site.person.number_format(COURSE, 2, header.index("last_login") + 1) or {}
    assert fmt.get("type") == "DATE_TIME"
    spent = site.records("Time spent")
    assert all(isinstance(r["has_license"], bool) for r in spent)
    assert site.values("Sync status")[0][0] == "worksheet"


def test_notes_survive_sorting_inserted_rows_and_a_changing_report(site: Site) -> None:
    assert site.cli("--once").returncode == 0
    title = "Time spent"
    header = site.values(title)[0]
    notes = len(header) + 1
    site.person.set_cells(title, 1, notes, [["Notes"]])
    emails = [r["email"] for r in site.records(title)]
    noted = {emails[i]: f"emailed {i}" for i in (0, 3, 6, 9)}
    for i in (0, 3, 6, 9):
        site.person.set_cells(title, i + 2, notes, [[f"emailed {i}"]])
    site.person.sort_rows(title, header.index("all time: hours spent") + 1, descending=True)
    site.person.insert_rows(title, 4)
    site.person.insert_rows(title, 7)
    site.person.set_cells(title, 7, notes, [["hand-typed: follow up in January"]])
    # The report moves on: values change, a noted learner leaves, a learner joins.
    report = site.sandbox.records("time_spent")
    gone = emails[3]
    report = [r for r in report if r["email"] != gone]
    report[0]["all time: hours spent"] = 1234.5
    report.append({**report[1], "email": "new.learner@example.org"})
    site.sandbox.inject(200, endpoint="time_spent", body=json.dumps(report))
    site.emulator.clear_log()
    result = site.cli("--once", "--only", title)
    assert result.returncode == 0, result.stderr
    rows = keyed(site, title, ("email",))
    for email, note in noted.items():
        assert rows[(email,)]["Notes"] == note, email
    assert rows[(report[0]["email"],)]["all time: hours spent"] == 1234.5
    assert rows[("new.learner@example.org",)]["Notes"] == ""
    assert rows[(gone,)]["sync status"].startswith("missing since ")
    hand = [r for r in site.values(title) if "hand-typed: follow up in January" in r]
    assert hand == [[""] * (notes - 1) + ["hand-typed: follow up in January"]]
    assert notes not in site.written_columns(title)  # no request wrote to the Notes column


def test_no_change_writes_only_status_cells_and_dry_run_writes_nothing(site: Site) -> None:
    site.sandbox.auto_advance = False
    assert site.cli("--once").returncode == 0
    site.emulator.clear_log()
    assert site.cli("--once").returncode == 0
    assert "spreadsheets.batchUpdate" not in site.kinds()  # no structure, no formats
    writes = [r for r in site.emulator.log if r.kind == "values.batchUpdate"]
    assert all(
        rng.startswith(("'Sync status'!", "Sync status!")) for w in writes for rng in w.ranges
    )
    site.sandbox.advance()
    site.emulator.clear_log()
    dry = site.cli("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would add" in dry.stdout and "nothing was written" in dry.stdout
    assert not {"values.batchUpdate", "spreadsheets.batchUpdate"} & set(site.kinds())


def test_request_budget_per_cycle(site: Site) -> None:
    for _ in range(3):
        site.emulator.clear_log()
        assert site.cli("--once").returncode == 0
        kinds = Counter(site.kinds())
        assert kinds["spreadsheets.get"] == 1
        assert kinds["values.batchGet"] <= 2
        assert kinds["spreadsheets.batchUpdate"] <= 1
        assert kinds["values.batchUpdate"] <= 1
        assert set(kinds) <= {
            "spreadsheets.get",
            "values.batchGet",
            "spreadsheets.batchUpdate",
            "values.batchUpdate",
        }
        site.sandbox.advance()


def test_an_edit_between_read_and_write_lands_nothing_on_the_wrong_row(site: Site) -> None:
    assert site.cli("--once", "--only", "Time spent").returncode == 0
    title = "Time spent"
    header = site.values(title)[0]
    notes = len(header) + 1
    site.person.set_cells(title, 1, notes, [["Notes"]])
    for row, rec in enumerate(site.records(title), start=2):
        site.person.set_cells(title, row, notes, [[f"note for {rec['email']}"]])
    report = site.sandbox.records("time_spent")
    for rec in report:
        rec["all time: hours spent"] = 100 + len(rec["email"])
    site.sandbox.inject(200, endpoint="time_spent", body=json.dumps(report))

    def person_sorts(_: object) -> None:
        site.person.sort_rows(title, header.index("email") + 1, descending=True)
        site.person.insert_rows(title, 3)

    # Between the connector's read (1st batchGet) and its write.
    site.emulator.before_request(person_sorts, kind="values.batchGet", nth=2)
    result = site.cli("--once", "--only", title)
    assert result.returncode == 0, result.stderr
    for rec in site.records(title):
        if rec["email"]:
            assert rec["Notes"] == f"note for {rec['email']}"
            assert rec["all time: hours spent"] == 100 + len(rec["email"])


def test_guards_refuse_an_empty_report_and_mass_missing_unless_forced(site: Site) -> None:
    title = "Time spent"
    assert site.cli("--once", "--only", title).returncode == 0
    before = site.values(title)
    site.sandbox.auto_advance = False
    site.sandbox.inject(200, endpoint="time_spent", body="[]")
    empty = site.cli("--once", "--only", title)
    assert empty.returncode == 1
    assert "refused" in empty.stdout and "--force" in empty.stdout + empty.stderr
    assert site.values(title) == before
    few = site.sandbox.records("time_spent")[:2]  # would mark 10 of 12 (83%) missing
    site.sandbox.inject(200, endpoint="time_spent", body=json.dumps(few))
    mass = site.cli("--once", "--only", title)
    assert mass.returncode == 1
    assert site.values(title) == before
    site.sandbox.inject(200, endpoint="time_spent", body=json.dumps(few))
    forced = site.cli("--once", "--only", title, "--force")
    assert forced.returncode == 0, forced.stderr
    missing = [r for r in site.records(title) if r["sync status"].startswith("missing since")]
    assert len(missing) == len(before) - 1 - 2


def test_bad_dataquest_key_exits_78_without_showing_it(site: Site) -> None:
    site.sandbox.auto_advance = False
    result = site.cli("--once", "--log-level", "debug", DATAQUEST_API_KEY="wrong-key-0123456789")
    assert result.returncode == 78
    assert "API key" in result.stderr or "API-Key" in result.stderr
    assert "wrong-key-0123456789" not in result.stdout + result.stderr
    check = site.cli("check", "--log-level", "debug", DATAQUEST_API_KEY="wrong-key-0123456789")
    assert check.returncode == 78
    assert "wrong-key-0123456789" not in check.stdout + check.stderr
    quiet = site.cli("check", DATAQUEST_API_KEY="wrong-key-0123456789")
    assert quiet.returncode == 78
    assert "Traceback" not in quiet.stderr  # tracebacks only at --log-level debug
    assert "generating a new key deactivates the old one" in quiet.stderr


def test_unshared_spreadsheet_names_the_service_account(
    tmp_path: Path, emulator: Emulator, sandbox_factory: Callable[..., Sandbox]
) -> None:
    sandbox = sandbox_factory(clock=time.monotonic, rate_per_minute=1000, learners=5)
    site = Site(tmp_path, emulator, sandbox, shared=False)
    result = site.cli("--once")
    assert result.returncode == 78
    assert SERVICE_EMAIL in result.stderr
    assert "Share" in result.stderr and "Traceback" not in result.stderr


def test_wrong_spreadsheet_id_exits_78(site: Site) -> None:
    site.write_config(spreadsheet="1NoSuchSpreadsheetIdAtAll")
    result = site.cli("--once")
    assert result.returncode == 78
    assert "not found" in result.stderr
    assert "spreadsheet" in result.stderr


def test_check_reports_the_service_account_and_each_worksheet(site: Site) -> None:
    result = site.cli("check")
    assert result.returncode == 0, result.stderr
    assert SERVICE_EMAIL in result.stdout
    assert "Write access: yes" in result.stdout
    assert "course_progress" in result.stdout and "does not exist yet" in result.stdout
    assert not {"values.batchUpdate"} & set(site.kinds())
