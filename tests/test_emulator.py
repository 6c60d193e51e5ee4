"""The Sheets API emulator behaves like Google where the backend relies on it.

Real gspread and google-auth talk to the emulator over 127.0.0.1; raw HTTP
tests use ``requests`` with a token the emulator issued.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import gspread
import pytest
import requests
from google.auth.exceptions import RefreshError

from tests.emulator import Emulator, gspread_client_for

EMAIL = "sync@test-project.iam.gserviceaccount.com"


class Api:
    """Raw HTTP to one spreadsheet of the emulator."""

    def __init__(self, emulator: Emulator, spreadsheet_id: str, email: str = EMAIL) -> None:
        self.base = f"{emulator.url}/v4/spreadsheets/{spreadsheet_id}"
        self.session = requests.Session()
        self.session.headers["Authorization"] = "Bearer " + emulator.issue_token(email)

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.session.get(self.base + path, params=params, timeout=10)

    def post(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.session.post(self.base + path, json=body, params=params, timeout=10)

    def put(self, path: str, body: Any, **params: Any) -> requests.Response:
        return self.session.put(self.base + path, json=body, params=params, timeout=10)

    def values(self, rng: str, **params: Any) -> dict[str, Any]:
        r = self.get(f"/values/{requests.utils.quote(rng, safe='')}", **params)
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]


@pytest.fixture
def sheet_id(emulator: Emulator) -> str:
    return emulator.create_spreadsheet("Team report", shared_with=[EMAIL])


@pytest.fixture
def api(emulator: Emulator, sheet_id: str) -> Api:
    return Api(emulator, sheet_id)


# --- gspread through the emulator ---------------------------------------------------


def test_gspread_methods_work_through_the_emulator(
    emulator: Emulator, gspread_client: gspread.Client, sheet_id: str
) -> None:
    book = gspread_client.open_by_key(sheet_id)
    ws = book.worksheet("Sheet1")
    ws.update([["email", "hours"], ["a@x.org", 3]], "A1")
    assert ws.get_all_values() == [["email", "hours"], ["a@x.org", "3"]]
    ws.batch_update([{"range": "C1", "values": [["note"]]}])
    assert ws.batch_get(["A1:C1"])[0] == [["email", "hours", "note"]]
    ws.append_rows([["b@x.org", 5]])
    assert ws.get("A3:B3", value_render_option="UNFORMATTED_VALUE") == [["b@x.org", 5]]
    ws.insert_cols([["id", 1, 2]], 1)
    assert ws.row_values(1) == ["id", "email", "hours", "note"]
    ws.resize(rows=50, cols=8)
    ws.freeze(rows=1)
    ws.format("A1:D1", {"textFormat": {"bold": True}})
    person = emulator.person(sheet_id)
    assert person.grid("Sheet1") == (50, 8)
    assert person.frozen_rows("Sheet1") == 1
    assert person.is_bold("Sheet1", 1, 4) and not person.is_bold("Sheet1", 2, 1)
    new = book.add_worksheet("Course progress", rows=10, cols=3)
    book.values_batch_update(
        {"valueInputOption": "RAW", "data": [{"range": "'Course progress'!A1", "values": [["x"]]}]}
    )
    got = book.values_batch_get(["'Course progress'!A1:B2", "Sheet1!A1:A2"])
    assert [v.get("values") for v in got["valueRanges"]] == [[["x"]], [["id"], ["1"]]]
    assert new.get_all_values() == [["x"]]


# --- reads --------------------------------------------------------------------------


def test_reads_trim_trailing_empties_and_keep_inner_gaps(api: Api) -> None:
    api.put(
        "/values/Sheet1!A1",
        {"values": [["a", "", "c", ""], ["", ""], ["", "b"]]},
        valueInputOption="RAW",
    )
    got = api.values("Sheet1")
    assert got["values"] == [["a", "", "c"], [], ["", "b"]]
    empty = api.values("Sheet1!D5:E9")
    assert "values" not in empty and empty["range"] == "Sheet1!D5:E9"


def test_range_echo_quotes_names_and_clamps_open_ranges(emulator: Emulator, api: Api) -> None:
    api.post(":batchUpdate", {"requests": [{"addSheet": {"properties": {"title": "Jon's Data"}}}]})
    assert api.values("Sheet1")["range"] == "Sheet1!A1:Z1000"
    assert api.values("Sheet1!A1:C")["range"] == "Sheet1!A1:C1000"
    assert api.values("Sheet1!3:5")["range"] == "Sheet1!A3:Z5"
    assert api.values("'Jon''s Data'!A1:B2")["range"] == "'Jon''s Data'!A1:B2"
    assert api.values("A1")["range"] == "Sheet1!A1"


def test_reads_and_writes_past_the_grid_are_rejected_with_googles_message(api: Api) -> None:
    r = api.put("/values/Sheet1!A1001", {"values": [["x"]]}, valueInputOption="RAW")
    assert r.status_code == 400
    assert r.json()["error"] == {
        "code": 400,
        "message": "Range (Sheet1!A1001) exceeds grid limits. Max rows: 1000, max columns: 26",
        "status": "INVALID_ARGUMENT",
    }
    assert api.get("/values/Sheet1!AA1:AB2").status_code == 400
    r = api.post(
        "/values:batchUpdate",
        {"valueInputOption": "RAW", "data": [{"range": "Sheet1!Z1", "values": [["a", "b"]]}]},
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"].startswith("Invalid data[0]: Range (Sheet1!Z1:AA1)")


def test_raw_keeps_text_while_user_entered_parses_it(api: Api) -> None:
    row = [["=1+1", "12", "2020-01-01", "TRUE", "10%"]]
    api.put("/values/Sheet1!A1", {"values": row}, valueInputOption="RAW")
    api.put("/values/Sheet1!A2", {"values": row}, valueInputOption="USER_ENTERED")
    got = api.values("Sheet1", valueRenderOption="UNFORMATTED_VALUE")["values"]
    assert got[0] == row[0]
    assert got[1] == [2, 12, 43831, True, 0.1]
    formulas = api.values("Sheet1!A1:A2", valueRenderOption="FORMULA")["values"]
    assert formulas == [["=1+1"], ["=1+1"]]


def test_render_options(api: Api) -> None:
    api.put(
        "/values/Sheet1!A1",
        {"values": [[1.5, True, "2021-03-04", 7]]},
        valueInputOption="USER_ENTERED",
    )
    formatted = api.values("Sheet1")["values"][0]
    assert formatted == ["1.5", "TRUE", "2021-03-04", "7"]
    serial = api.values(
        "Sheet1", valueRenderOption="UNFORMATTED_VALUE", dateTimeRenderOption="SERIAL_NUMBER"
    )["values"][0]
    assert serial == [1.5, True, 44259, 7]
    text = api.values(
        "Sheet1", valueRenderOption="UNFORMATTED_VALUE", dateTimeRenderOption="FORMATTED_STRING"
    )["values"][0]
    assert text == [1.5, True, "2021-03-04", 7]
    columns = api.values("Sheet1!A1:B1", majorDimension="COLUMNS")["values"]
    assert columns == [["1.5"], ["TRUE"]]


def test_null_skips_a_cell_and_empty_string_clears_it(api: Api) -> None:
    api.put("/values/Sheet1!A1", {"values": [["a", "b", "c"]]}, valueInputOption="RAW")
    r = api.put("/values/Sheet1!A1", {"values": [[None, "", "z"]]}, valueInputOption="RAW")
    assert r.json()["updatedCells"] == 2
    assert api.values("Sheet1")["values"] == [["a", "", "z"]]


# --- batchUpdate --------------------------------------------------------------------


def test_batch_update_is_atomic(emulator: Emulator, api: Api, sheet_id: str) -> None:
    r = api.post(
        ":batchUpdate",
        {
            "requests": [
                {"addSheet": {"properties": {"title": "New"}}},
                {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 5}},
                {"deleteSheet": {"sheetId": 424242}},
            ]
        },
    )
    assert r.status_code == 400
    assert (
        r.json()["error"]["message"] == "Invalid requests[2].deleteSheet: No sheet with id: 424242"
    )
    book = api.get("").json()
    assert [s["properties"]["title"] for s in book["sheets"]] == ["Sheet1"]
    assert emulator.person(sheet_id).grid("Sheet1") == (1000, 26)


def test_batch_update_structure_formats_and_metadata(
    emulator: Emulator, api: Api, sheet_id: str
) -> None:
    api.put("/values/Sheet1!A1", {"values": [["k"], ["a"], ["b"]]}, valueInputOption="RAW")
    r = api.post(
        ":batchUpdate",
        {
            "requests": [
                {
                    "insertDimension": {
                        "range": {"sheetId": 0, "dimension": "ROWS", "startIndex": 1, "endIndex": 2}
                    }
                },
                {
                    "insertDimension": {
                        "range": {
                            "sheetId": 0,
                            "dimension": "COLUMNS",
                            "startIndex": 0,
                            "endIndex": 1,
                        }
                    }
                },
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": 0, "gridProperties": {"frozenRowCount": 1}},
                        "fields": "gridProperties.frozenRowCount",
                    }
                },
                {
                    "repeatCell": {
                        "range": {
                            "sheetId": 0,
                            "startRowIndex": 1,
                            "endRowIndex": 4,
                            "startColumnIndex": 1,
                            "endColumnIndex": 2,
                        },
                        "cell": {
                            "userEnteredFormat": {
                                "numberFormat": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd"}
                            }
                        },
                        "fields": "userEnteredFormat.numberFormat",
                    }
                },
                {
                    "updateCells": {
                        "rows": [{"values": [{"userEnteredValue": {"numberValue": 1}}]}],
                        "fields": "userEnteredValue",
                        "start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 1},
                    }
                },
                {
                    "createDeveloperMetadata": {
                        "developerMetadata": {
                            "metadataKey": "dq",
                            "metadataValue": "row",
                            "location": {
                                "dimensionRange": {
                                    "sheetId": 0,
                                    "dimension": "ROWS",
                                    "startIndex": 2,
                                    "endIndex": 3,
                                }
                            },
                            "visibility": "DOCUMENT",
                        }
                    }
                },
            ]
        },
    )
    assert r.status_code == 200, r.text
    replies = r.json()["replies"]
    assert replies[:5] == [{}, {}, {}, {}, {}]
    assert replies[5]["createDeveloperMetadata"]["developerMetadata"]["metadataKey"] == "dq"
    person = emulator.person(sheet_id)
    assert person.values("Sheet1") == [["", "k"], ["", 1], ["", "a"], ["", "b"]]
    assert person.frozen_rows("Sheet1") == 1
    assert person.number_format("Sheet1", 3, 2) == {"type": "DATE_TIME", "pattern": "yyyy-mm-dd"}
    assert api.values("Sheet1!B2")["values"] == [["1899-12-31"]]


def test_grid_growth_is_limited_to_ten_million_cells(api: Api) -> None:
    r = api.post(
        ":batchUpdate",
        {
            "requests": [
                {
                    "updateSheetProperties": {
                        "properties": {"sheetId": 0, "gridProperties": {"rowCount": 400_000}},
                        "fields": "gridProperties/rowCount",
                    }
                }
            ]
        },
    )
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "Invalid requests[0].updateSheetProperties: This action would increase the number of "
        "cells in the workbook above the limit of 10000000 cells."
    )


# --- access, quota, faults ----------------------------------------------------------


def test_unshared_spreadsheet_is_403_and_unknown_is_404(emulator: Emulator, sheet_id: str) -> None:
    stranger = Api(emulator, sheet_id, email="other@test-project.iam.gserviceaccount.com")
    r = stranger.get("")
    assert r.status_code == 403
    assert r.json()["error"]["message"] == "The caller does not have permission"
    missing = Api(emulator, "nope")
    assert missing.get("").json()["error"] == {
        "code": 404,
        "message": "Requested entity was not found.",
        "status": "NOT_FOUND",
    }
    emulator.share(sheet_id, "other@test-project.iam.gserviceaccount.com")
    assert stranger.get("").status_code == 200


def test_quota_exhausted_then_refilled_after_a_minute() -> None:
    now = [1000.0]
    with Emulator(clock=lambda: now[0]) as emu:
        sid = emu.create_spreadsheet()
        api = Api(emu, sid)
        emu.set_quota(read_per_minute=3, write_per_minute=1)
        assert [api.get("").status_code for _ in range(4)] == [200, 200, 200, 429]
        r = api.get("")
        assert r.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert "'Read requests per minute per user'" in r.json()["error"]["message"]
        ok = api.put("/values/A1", {"values": [["x"]]}, valueInputOption="RAW")
        denied = api.put("/values/A1", {"values": [["y"]]}, valueInputOption="RAW")
        assert (ok.status_code, denied.status_code) == (200, 429)
        assert "'Write requests'" in denied.json()["error"]["message"]
        now[0] += 60.0
        assert api.get("").status_code == 200
        assert api.put("/values/A1", {"values": [["y"]]}, valueInputOption="RAW").status_code == 200


def test_injected_faults_and_dropped_connections(
    emulator: Emulator, api: Api, sheet_id: str
) -> None:
    emulator.inject(503, count=2, kind="values.get")
    assert api.get("/values/A1").status_code == 503
    assert api.get("").status_code == 200  # another kind is not affected
    r = api.get("/values/A1")
    assert r.json()["error"]["status"] == "UNAVAILABLE"
    assert api.get("/values/A1").status_code == 200
    emulator.inject(drop=True, kind="values.update")
    with pytest.raises(requests.ConnectionError):
        api.put("/values/A1", {"values": [["lost"]]}, valueInputOption="RAW")
    assert emulator.person(sheet_id).values("Sheet1") == []
    emulator.inject(apply_then_drop=True, kind="values.update")
    with pytest.raises(requests.ConnectionError):
        api.put("/values/A1", {"values": [["applied"]]}, valueInputOption="RAW")
    assert emulator.person(sheet_id).values("Sheet1") == [["applied"]]


def test_before_request_hook_runs_a_persons_edit_between_read_and_write(
    emulator: Emulator, api: Api, sheet_id: str
) -> None:
    api.put("/values/A1", {"values": [["k"], ["b"], ["a"]]}, valueInputOption="RAW")
    person = emulator.person(sheet_id)
    emulator.before_request(lambda req: person.sort_rows("Sheet1", 1), kind="values.get", nth=2)
    first = api.values("Sheet1!A:A")["values"]
    second = api.values("Sheet1!A:A")["values"]
    assert first == [["k"], ["b"], ["a"]] and second == [["k"], ["a"], ["b"]]


def test_request_log_counts_ranges_and_cells(emulator: Emulator, api: Api) -> None:
    emulator.latency = 0.0
    emulator.clear_log()
    api.post(
        "/values:batchUpdate",
        {
            "valueInputOption": "RAW",
            "data": [
                {"range": "Sheet1!A1", "values": [["a", None, "c"]]},
                {"range": "Sheet1!B5", "values": [[1], [2]]},
            ],
        },
    )
    (entry,) = emulator.log
    assert entry.kind == "values.batchUpdate" and entry.status == 200
    assert entry.ranges == ["Sheet1!A1", "Sheet1!B5"]
    assert entry.value_input_option == "RAW" and entry.cells_written == 4
    assert entry.bytes_in > 0 and entry.bytes_out > 0


def test_latency_uses_the_injected_sleep() -> None:
    slept: list[float] = []
    with Emulator(latency=0.05, sleep=slept.append) as emu:
        Api(emu, emu.create_spreadsheet()).get("")
    assert slept == [0.05]


def test_person_edits_move_whole_rows_and_columns(emulator: Emulator, sheet_id: str) -> None:
    person = emulator.person(sheet_id)
    person.set_cells("Sheet1", 1, 1, [["key", "note"], ["b", "nb"], ["a", "na"]])
    person.sort_rows("Sheet1", 1)
    assert person.values("Sheet1") == [["key", "note"], ["a", "na"], ["b", "nb"]]
    person.insert_rows("Sheet1", 2)
    person.move_column("Sheet1", 2, 1)
    assert person.values("Sheet1") == [["note", "key"], [], ["na", "a"], ["nb", "b"]]
    person.delete_rows("Sheet1", 2)
    person.insert_columns("Sheet1", 1)
    person.delete_columns("Sheet1", 3)
    person.rename_sheet("Sheet1", "Renamed")
    assert person.values("Renamed") == [["", "note"], ["", "na"], ["", "nb"]]
    assert person.grid("Renamed") == (1000, 26)


# --- auth ---------------------------------------------------------------------------


def test_token_flow_with_a_real_service_account_file(emulator: Emulator, tmp_path: Path) -> None:
    path = emulator.service_account(tmp_path, email="reader@test-project.iam.gserviceaccount.com")
    info = json.loads(path.read_text())
    assert info["token_uri"] == emulator.token_uri and info["type"] == "service_account"
    sid = emulator.create_spreadsheet(shared_with=["reader@test-project.iam.gserviceaccount.com"])
    client = gspread_client_for(
        emulator, path, scopes=("https://www.googleapis.com/auth/spreadsheets.readonly",)
    )
    book = client.open_by_key(sid)
    (grant,) = emulator.token_requests
    assert grant.client_email == "reader@test-project.iam.gserviceaccount.com"
    assert grant.scope == "https://www.googleapis.com/auth/spreadsheets.readonly"
    with pytest.raises(gspread.exceptions.APIError) as err:
        book.sheet1.update([["x"]], "A1")
    assert err.value.response.status_code == 403
    assert "insufficient authentication scopes" in str(err.value)


def test_token_endpoint_refuses_a_key_it_does_not_know(emulator: Emulator, tmp_path: Path) -> None:
    other = Emulator()  # never started: its keys are unknown to ``emulator``
    other.token_uri = emulator.token_uri
    path = other.service_account(tmp_path)
    client = gspread_client_for(emulator, path)
    with pytest.raises(RefreshError, match="invalid_grant"):
        client.open_by_key(emulator.create_spreadsheet())
    assert emulator.token_requests == []


def test_requests_without_a_token_are_401(emulator: Emulator) -> None:
    r = requests.get(f"{emulator.url}/v4/spreadsheets/x", timeout=10)
    assert r.status_code == 401 and r.json()["error"]["status"] == "UNAUTHENTICATED"


# --- size ---------------------------------------------------------------------------


def test_a_large_sheet_reads_and_writes_in_bounded_time(emulator: Emulator, api: Api) -> None:
    rows = 20_000
    api.post(
        ":batchUpdate",
        {"requests": [{"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": rows}}]},
    )
    data = [[f"u{i}@x.org", i, i * 0.5] + ["x"] * 12 for i in range(rows)]
    r = api.post(
        "/values:batchUpdate",
        {"valueInputOption": "RAW", "data": [{"range": "Sheet1!A2", "values": data}]},
    )
    assert r.json()["totalUpdatedCells"] == rows * 15
    got = api.get(
        "/values:batchGet",
        ranges="Sheet1",
        valueRenderOption="UNFORMATTED_VALUE",
        dateTimeRenderOption="SERIAL_NUMBER",
    ).json()["valueRanges"][0]["values"]
    assert len(got) == rows + 1 and got[-1][:3] == [
        f"u{rows - 1}@x.org",
        rows - 1,
        (rows - 1) * 0.5,
    ]
