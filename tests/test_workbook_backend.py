"""The .xlsx workbook backend against real files (tmp_path) and real openpyxl.

Plans are built by hand here; the shared contract tests run the planner.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import zipfile
from collections.abc import Sequence
from pathlib import Path

import openpyxl
import pytest
from openpyxl.chart import BarChart, Reference

from sync.errors import Busy, ConfigError, GridLimit, SheetError
from sync.model import CellUpdate, ColumnInsert, FormatRange, Plan, Snapshot
from sync.sheets.workbook import WorkbookBackend

TITLE = "Course progress"


def header_updates(*names: str) -> tuple[CellUpdate, ...]:
    return tuple(CellUpdate(1, col, name) for col, name in enumerate(names, start=1))


def row_updates(row: int, *values: object) -> tuple[CellUpdate, ...]:
    return tuple(
        CellUpdate(row, col, value)  # type: ignore[arg-type]
        for col, value in enumerate(values, start=1)
    )


def sync(path: Path, plans: Sequence[Plan], backend: WorkbookBackend | None = None) -> None:
    """One cycle, in the order the engine calls the backend."""
    backend = backend or WorkbookBackend(path, timezone="UTC")
    backend.read([p.title for p in plans])
    assert backend.refuse(plans) == {}
    backend.apply_structure(plans)
    backend.read_keys({p.title: (1,) for p in plans})
    backend.apply_values(plans)
    backend.close()


def snapshot(path: Path, title: str = TITLE) -> Snapshot:
    return WorkbookBackend(path, timezone="UTC").read([title])[title]


def new_sheet(path: Path, rows: Sequence[Sequence[object]], title: str = TITLE) -> None:
    """Create ``title`` with header email, score and the given data rows."""
    updates = header_updates("email", "score")
    for number, row in enumerate(rows, start=2):
        updates += row_updates(number, *row)
    sync(path, [Plan(title=title, create_sheet=True, updates=updates)])


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".~dq-"))


# --- a new workbook ------------------------------------------------------------


def test_new_workbook_has_bold_frozen_header_and_typed_cells(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    assert snapshot(path) == Snapshot(title=TITLE, exists=False)
    assert not path.exists()

    updates = header_updates("email", "hours", "licensed", "last seen", "comment")
    updates += row_updates(2, "ann@example.com", 3.5, True, 45000.75, "=1+1")
    updates += row_updates(3, "bob@example.com", 7, False, 45001.0, "#N/A")
    plan = Plan(
        title=TITLE,
        create_sheet=True,
        updates=updates,
        formats=(FormatRange(col=4, first_row=2, last_row=3),),
    )
    sync(path, [plan])

    book = openpyxl.load_workbook(path)
    assert book.sheetnames == [TITLE]  # the default "Sheet" was replaced
    sheet = book[TITLE]
    assert sheet.freeze_panes == "A2"
    assert all(sheet.cell(1, c).font.bold for c in range(1, 6))
    assert sheet["B2"].value == 3.5 and sheet["B3"].value == 7
    assert sheet["C2"].value is True and sheet["C3"].value is False
    assert sheet["D2"].value == dt.datetime(2023, 3, 15, 18, 0)
    assert sheet["D2"].is_date and sheet["D2"].number_format == "yyyy-mm-dd hh:mm:ss"
    assert sheet["E2"].data_type == "s" and sheet["E2"].value == "=1+1"
    assert sheet["E3"].data_type == "s" and sheet["E3"].value == "#N/A"

    snap = snapshot(path)
    assert snap.header == ("email", "hours", "licensed", "last seen", "comment")
    assert snap.rows == (
        ("ann@example.com", 3.5, True, 45000.75, "=1+1"),
        ("bob@example.com", 7, False, 45001.0, "#N/A"),
    )


def test_equals_string_survives_a_second_save_as_text(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", "=1+1")])
    sync(path, [Plan(title=TITLE, updates=(CellUpdate(3, 1, "b@x"),))])
    cell = openpyxl.load_workbook(path)[TITLE]["B2"]
    assert cell.data_type == "s" and cell.value == "=1+1"
    with zipfile.ZipFile(path) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml  # no formula anywhere


def test_serials_round_trip_within_a_millisecond(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    serials = [45000 + i / 997 + i * 1.234567e-7 for i in range(300)] + [61.5, 45658.999999]
    updates = header_updates("email", "when")
    for row, serial in enumerate(serials, start=2):
        updates += row_updates(row, f"u{row}@x", serial)
    plan = Plan(
        title=TITLE,
        create_sheet=True,
        updates=updates,
        formats=(FormatRange(col=2, first_row=2, last_row=len(serials) + 1),),
    )
    sync(path, [plan])
    read = [row[1] for row in snapshot(path).rows]
    assert all(isinstance(v, float) for v in read)
    assert max(abs(a - b) * 86_400_000 for a, b in zip(read, serials, strict=True)) <= 0.5

    # an existing date-time cell stays a date-time when updated without a format
    sync(path, [Plan(title=TITLE, updates=(CellUpdate(2, 2, 45100.5),))])
    cell = openpyxl.load_workbook(path)[TITLE]["B2"]
    assert cell.value == dt.datetime(2023, 6, 23, 12, 0)


def test_long_strings_control_characters_rtl_and_emoji(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "report.xlsx"
    rtl = "مرحبا بالعالم שלום"
    emoji = "👩🏽‍💻 done ✅ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢"
    with caplog.at_level(logging.WARNING):
        new_sheet(
            path,
            [
                ("long@x", "x" * 50_000),
                ("ctl@x", "a\x00b\x07c\x1fd\te\nf"),
                ("rtl@x", rtl),
                ("emoji@x", emoji),
            ],
        )
    rows = snapshot(path).rows
    assert rows[0][1] == "x" * 32_767
    assert rows[1][1] == "abcd\te\nf"  # tab and newline are legal and kept
    assert rows[2][1] == rtl and rows[3][1] == emoji
    text = caplog.text
    assert "32767" in text.replace(",", "") and "Course progress!B2" in text
    assert "control characters" in text and "Course progress!B3" in text


# --- people's work survives ------------------------------------------------------


def test_annotations_and_formulas_stay_on_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1), ("b@x", 2), ("c@x", 3)])
    # a person adds a Notes column with notes, a formula and a wide column
    book = openpyxl.load_workbook(path)
    sheet = book[TITLE]
    sheet["C1"], sheet["C2"], sheet["C4"] = "Notes", "call Ann", "email Cy"
    sheet["D1"], sheet["D2"], sheet["D4"] = "double", "=B2*2", "=SUM(B2:B4)"
    sheet.column_dimensions["C"].width = 42
    book.save(path)

    # a new field "hours" goes after the managed block; b@x leaves and is deleted
    plan = Plan(
        title=TITLE,
        column_inserts=(ColumnInsert(3, "hours"),),
        row_deletes=(3,),
        updates=(CellUpdate(2, 2, 10), CellUpdate(2, 3, 1.5), CellUpdate(3, 3, 2.5)),
    )
    sync(path, [plan])

    snap = snapshot(path)
    assert snap.header == ("email", "score", "hours", "Notes", "double")
    assert snap.rows == (
        ("a@x", 10, 1.5, "call Ann", "=B2*2"),
        ("c@x", 3, 2.5, "email Cy", "=SUM(B2:B4)"),
    )
    sheet = openpyxl.load_workbook(path)[TITLE]
    assert sheet["C1"].font.bold
    assert sheet["E2"].data_type == "f"  # still a formula, not text
    assert sheet.column_dimensions["D"].width == 42  # the width moved with Notes


def test_other_sheets_and_styles_survive(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1)])
    book = openpyxl.load_workbook(path)
    mine = book.create_sheet("Mine")
    mine["A1"], mine["B1"] = "budget", 1200
    mine["B2"] = "=B1*1.2"
    mine["A1"].font = openpyxl.styles.Font(italic=True, color="FF0000")
    mine.column_dimensions["A"].width = 33
    book.save(path)

    sync(path, [Plan(title=TITLE, updates=(CellUpdate(2, 2, 5),))])
    mine = openpyxl.load_workbook(path)["Mine"]
    assert (mine["A1"].value, mine["B1"].value, mine["B2"].value) == ("budget", 1200, "=B1*1.2")
    assert mine["B2"].data_type == "f"
    assert mine["A1"].font.italic and mine["A1"].font.color.rgb == "00FF0000"
    assert mine.column_dimensions["A"].width == 33
    assert snapshot(path).rows == (("a@x", 5),)
    sync(path, [Plan(title=TITLE, updates=(CellUpdate(2, 4, "far"),))])
    assert snapshot(path).rows == (("a@x", 5, "", "far"),)  # empty inside a row reads ""


def test_worksheet_titles_match_ignoring_case(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1)], title="course progress")
    snap = snapshot(path, TITLE)
    assert snap.exists and snap.rows == (("a@x", 1),)


def test_read_keys_sees_the_structure_just_applied(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1), ("b@x", 2), ("c@x", 3)])
    backend = WorkbookBackend(path, timezone="UTC")
    backend.read([TITLE])
    backend.apply_structure([Plan(title=TITLE, row_deletes=(2,))])
    assert backend.read_keys({TITLE: (1, 2)}) == {TITLE: (("b@x", 2), ("c@x", 3))}
    # a person's row without a key, below the data, is part of what is read
    sheet = backend._find(TITLE)
    assert sheet is not None
    sheet["C5"] = "typed by hand"
    assert backend.read_keys({TITLE: (1,)})[TITLE] == (("b@x",), ("c@x",), ("",), ("",))
    assert backend.read_keys({"Absent": (1,)}) == {"Absent": ()}


# --- file safety -------------------------------------------------------------------


@pytest.mark.parametrize("lock_name", ["~$report.xlsx", ".~lock.report.xlsx#"])
def test_lock_file_refuses_the_write_and_changes_nothing(tmp_path: Path, lock_name: str) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1)])
    before = path.read_bytes()
    (tmp_path / lock_name).write_text("someone")
    plan = Plan(title=TITLE, updates=(CellUpdate(2, 2, 99),))
    with pytest.raises(Busy) as caught:
        sync(path, [plan])
    assert caught.value.exit_code == 75
    assert lock_name in str(caught.value) and "close the workbook" in str(caught.value)
    assert path.read_bytes() == before
    assert not (tmp_path / "report.xlsx.bak").exists()
    assert leftovers(tmp_path) == []
    # reading (e.g. --dry-run) still works while the file is open
    assert snapshot(path).rows == (("a@x", 1),)


@pytest.mark.parametrize(
    "content",
    [b"this is not a workbook", b"PK\x03\x04truncated zip", "zip without a workbook"],
)
def test_corrupt_file_is_refused_and_never_overwritten(
    tmp_path: Path, content: bytes | str
) -> None:
    path = tmp_path / "report.xlsx"
    if isinstance(content, str):
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", content)
    else:
        path.write_bytes(content)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as caught:
        sync(path, [Plan(title=TITLE, create_sheet=True, updates=header_updates("email"))])
    message = str(caught.value)
    assert "report.xlsx is not a readable .xlsx workbook" in message
    assert "it was not changed" in message and caught.value.exit_code == 78
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.xlsx"]


def test_xls_path_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0 an OLE2 file")
    with pytest.raises(ConfigError, match=r"\.xlsx"):
        WorkbookBackend(path).read([TITLE])
    assert path.read_bytes() == b"\xd0\xcf\x11\xe0 an OLE2 file"


def test_backup_holds_the_previous_version(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    backup = tmp_path / "report.xlsx.bak"
    new_sheet(path, [("a@x", 1)])
    assert not backup.exists()  # nothing to back up on the first save
    first = path.read_bytes()
    sync(path, [Plan(title=TITLE, updates=(CellUpdate(2, 2, 2),))])
    assert backup.read_bytes() == first
    second = path.read_bytes()
    sync(path, [Plan(title=TITLE, updates=(CellUpdate(2, 2, 3),))])
    assert backup.read_bytes() == second
    assert snapshot(path).rows == (("a@x", 3),)
    assert leftovers(tmp_path) == []


def test_nothing_to_change_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1)])
    before = path.stat().st_mtime_ns, path.read_bytes()
    sync(path, [Plan(title=TITLE)])
    assert (path.stat().st_mtime_ns, path.read_bytes()) == before
    assert not (tmp_path / "report.xlsx.bak").exists()


def test_crash_before_rename_leaves_the_original_intact(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1)])
    before = path.read_bytes()

    def crash() -> None:
        raise KeyboardInterrupt  # the process dies between writing and renaming

    backend = WorkbookBackend(path, timezone="UTC")
    backend._before_replace = crash
    with pytest.raises(KeyboardInterrupt):
        sync(path, [Plan(title=TITLE, updates=(CellUpdate(2, 2, 2),))], backend)
    assert path.read_bytes() == before
    assert leftovers(tmp_path) == []
    # the next cycle converges
    sync(path, [Plan(title=TITLE, updates=(CellUpdate(2, 2, 2),))])
    assert snapshot(path).rows == (("a@x", 2),)


def test_file_saved_by_someone_during_the_cycle_is_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1)])
    backend = WorkbookBackend(path, timezone="UTC")
    backend.read([TITLE])
    book = openpyxl.load_workbook(path)
    book[TITLE]["C2"] = "typed meanwhile"
    book.save(path)
    theirs = path.read_bytes()
    with pytest.raises(Busy, match="changed on disk"):
        backend.apply_values([Plan(title=TITLE, updates=(CellUpdate(2, 2, 7),))])
    assert path.read_bytes() == theirs


def test_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        WorkbookBackend(tmp_path / "nope" / "r.xlsx").read([TITLE])


def test_parts_openpyxl_drops_are_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1), ("b@x", 2)])
    book = openpyxl.load_workbook(path)
    chart = BarChart()
    chart.add_data(Reference(book[TITLE], min_col=2, min_row=1, max_row=3), titles_from_data=True)
    book[TITLE].add_chart(chart, "E2")
    book.save(path)
    with caplog.at_level(logging.WARNING):
        snapshot(path)
        sync(path, [Plan(title=TITLE, updates=(CellUpdate(2, 2, 5),))])
        snapshot(path)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "report.xlsx contains charts, drawings or shapes" in warnings[0]
    assert "report.xlsx.bak" in warnings[0]


# --- refusals ------------------------------------------------------------------------


def test_refuses_plans_past_excel_limits_and_bad_titles(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    backend = WorkbookBackend(path, timezone="UTC")
    backend.read([TITLE, "a/b"])
    too_tall = Plan(title=TITLE, create_sheet=True, min_rows=1_048_577)
    too_wide = Plan(title="Wide", create_sheet=True, updates=(CellUpdate(1, 16_385, "x"),))
    bad_title = Plan(title="a/b", create_sheet=True)
    fine = Plan(title="Fine", create_sheet=True, min_rows=1_048_576, min_cols=16_384)
    refused = backend.refuse([too_tall, too_wide, bad_title, fine])
    assert set(refused) == {TITLE, "Wide", "a/b"}
    assert isinstance(refused[TITLE], GridLimit) and "1048576 rows" in str(refused[TITLE])
    assert isinstance(refused["Wide"], GridLimit)
    assert isinstance(refused["a/b"], ConfigError) and "choose another title" in str(refused["a/b"])


def test_update_to_a_sheet_that_vanished_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1)])
    backend = WorkbookBackend(path, timezone="UTC")
    backend.read(["Other"])
    with pytest.raises(SheetError, match="'Other' is not in report.xlsx"):
        backend.apply_values([Plan(title="Other", updates=(CellUpdate(2, 1, "x"),))])


def test_backend_identity_and_timezone(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    backend = WorkbookBackend(path, timezone="Europe/Berlin")
    assert backend.lock_name == str(path.resolve())
    assert backend.description == f"workbook {path}"
    assert backend.timezone() == "Europe/Berlin"
    assert WorkbookBackend(path).timezone()  # the machine's zone, "UTC" at worst


def test_temp_files_of_a_killed_save_are_cleaned_up_later(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    old = tmp_path / ".~dq-abc123.xlsx"
    fresh = tmp_path / ".~dq-def456.xlsx"
    someone_elses = tmp_path / "~$report.txt"
    for temp in (old, fresh, someone_elses):
        temp.write_bytes(b"half a zip")
    now = 1_700_000_000.0
    os.utime(old, (now - 7200, now - 7200))
    os.utime(fresh, (now - 60, now - 60))
    os.utime(someone_elses, (now - 7200, now - 7200))
    WorkbookBackend(path, timezone="UTC", clock=lambda: now).read([TITLE])
    assert not old.exists()
    assert fresh.exists() and someone_elses.exists()


def test_merged_notes_heights_and_links_move_with_their_rows(tmp_path: Path) -> None:
    path = tmp_path / "report.xlsx"
    new_sheet(path, [("a@x", 1), ("b@x", 2), ("c@x", 3), ("d@x", 4)])
    book = openpyxl.load_workbook(path)
    sheet = book[TITLE]
    sheet["C1"] = "Notes"
    sheet["C4"] = "a merged note for c and d"
    sheet.merge_cells("C4:D5")
    sheet["E4"] = "wiki"
    sheet["E4"].hyperlink = "https://example.com/c"
    sheet.row_dimensions[4].height = 40
    book.save(path)

    plan = Plan(
        title=TITLE,
        column_inserts=(ColumnInsert(3, "hours"),),
        row_deletes=(3,),  # b@x goes
        updates=(CellUpdate(3, 3, 7.5), CellUpdate(4, 3, 8.5)),
    )
    sync(path, [plan])

    sheet = openpyxl.load_workbook(path)[TITLE]
    assert [r[:4] for r in snapshot(path).rows] == [
        ("a@x", 1),
        ("c@x", 3, 7.5, "a merged note for c and d"),
        ("d@x", 4, 8.5),
    ]
    assert {r.coord for r in sheet.merged_cells.ranges} == {"D3:E4"}
    assert sheet["F3"].value == "wiki" and sheet["F3"].hyperlink.target == "https://example.com/c"
    assert sheet.row_dimensions[3].height == 40


def test_check_says_where_the_workbook_is_and_refuses_while_it_is_open(tmp_path: Path) -> None:
    from sync.errors import Busy

    path = tmp_path / "team.xlsx"
    backend = WorkbookBackend(path, timezone="UTC")
    assert "does not exist yet" in backend.check()[0]
    (tmp_path / "~$team.xlsx").write_text("x", encoding="utf-8")
    with pytest.raises(Busy):
        backend.check()
