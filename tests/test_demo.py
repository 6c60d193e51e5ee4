"""`dq-sheets-sync demo`, end to end, as a new user runs it (a subprocess in a temp dir)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = "dataquest-demo.xlsx"


def demo(folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DQ_", "DATAQUEST_"))}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "sync", "demo", "--dir", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def course_rows(path: Path) -> tuple[list[str], list[tuple[object, ...]]]:
    ws = openpyxl.load_workbook(path)["Course progress"]
    header = [c.value for c in ws[1]]
    return header, [tuple(r) for r in ws.iter_rows(min_row=2, values_only=True)]


def test_demo_syncs_then_moves_on_and_keeps_notes_on_their_rows(tmp_path: Path) -> None:
    first = demo(tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    for title in ("Course progress", "Mission progress", "Invitations", "Time spent"):
        assert title in first.stdout
    assert "add a column 'Notes'" in first.stdout
    book = tmp_path / WORKBOOK
    wb = openpyxl.load_workbook(book)
    assert {
        "Course progress",
        "Mission progress",
        "Invitations",
        "Time spent",
        "Sync status",
    } <= set(wb.sheetnames)
    # A person adds a Notes column and types beside three learners' rows.
    ws = wb["Course progress"]
    header = [c.value for c in ws[1]]
    email, course = header.index("email") + 1, header.index("course") + 1
    notes_col = len(header) + 1
    ws.cell(1, notes_col, "Notes")
    noted = {}
    for row in (2, 7, 19):
        key = (ws.cell(row, email).value, ws.cell(row, course).value)
        ws.cell(row, notes_col, f"note {row}")
        noted[key] = f"note {row}"
    wb.save(book)

    second = demo(tmp_path)
    assert second.returncode == 0, second.stderr
    assert "step 2" in second.stdout
    header, rows = course_rows(book)
    assert header[-1] == "Notes"
    e, c, n = header.index("email"), header.index("course"), header.index("Notes")
    found = {(r[e], r[c]): r[n] for r in rows if r[n]}
    assert found == noted
    # The data moved on: the summary reports added or updated rows.
    summary = [line.split() for line in second.stdout.splitlines() if line.startswith("Course")]
    added, updated = int(summary[0][3]), int(summary[0][4])
    assert added + updated > 0
    assert (tmp_path / f"{WORKBOOK}.bak").exists()


def test_demo_refuses_to_write_while_the_workbook_is_open(tmp_path: Path) -> None:
    assert demo(tmp_path).returncode == 0
    book = tmp_path / WORKBOOK
    before = digest(book)
    lock = tmp_path / f".~lock.{WORKBOOK}#"
    lock.write_text("someone,host,01.01.2026 10:00,", encoding="utf-8")
    result = demo(tmp_path)
    assert result.returncode == 75
    assert lock.name in result.stderr + result.stdout
    assert digest(book) == before


def test_demo_never_overwrites_a_corrupt_workbook(tmp_path: Path) -> None:
    book = tmp_path / WORKBOOK
    book.write_bytes(b"this is not a zip file")
    result = demo(tmp_path)
    assert result.returncode == 78
    assert "Traceback" not in result.stderr
    assert WORKBOOK in result.stderr + result.stdout
    assert book.read_bytes() == b"this is not a zip file"
