"""The Google Sheets backend: one batched read and one batched write per cycle.

Per cycle: one ``spreadsheets.get`` (sheet ids, grid sizes, time zone), one
``values:batchGet`` of every configured worksheet (UNFORMATTED_VALUE,
SERIAL_NUMBER), at most one ``spreadsheets.batchUpdate`` for every structural
change, one ``values:batchGet`` of the key columns (the re-read guard), and one
``values:batchUpdate`` (RAW) per ~2 MB of cell writes. Never ``values.append``:
its table detection misplaces rows.
"""

from __future__ import annotations

import json
import logging
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path
from typing import Any

from gspread.utils import absolute_range_name

from sync.errors import GridLimit, QuotaExceeded, SyncError
from sync.model import Cell, CellUpdate, Plan, Snapshot, column_letter
from sync.sheets.google_http import GOOGLE_SHEETS, RetryPolicy, connect

log = logging.getLogger(__name__)

CELL_LIMIT = 10_000_000
COLUMN_LIMIT = 18_278
NEW_SHEET_ROWS = 1000
NEW_SHEET_COLS = 26
#: Split a values write before its JSON body passes this many bytes.
MAX_BODY = 2_000_000
DATE_TIME_FORMAT = {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm:ss"}
#: Gaps of at most this many untouched cells inside a row are sent as JSON
#: null (which leaves a cell as it is) to merge two runs into one range.
MAX_GAP = 3


@dataclass
class _Sheet:
    sheet_id: int
    rows: int
    cols: int


def spreadsheet_id_from(value: str) -> str:
    """The id in a spreadsheet URL, or the value itself when it is an id."""
    marker = "/spreadsheets/d/"
    if marker in value:
        return value.split(marker, 1)[1].split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
    return value.strip()


class GoogleBackend:
    """``sync.sheets.base.Backend`` over the Sheets API v4 via gspread."""

    def __init__(
        self,
        spreadsheet_id: str,
        credentials_file: Path | None = None,
        *,
        api_url: str = GOOGLE_SHEETS,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], float] | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        self.spreadsheet_id = spreadsheet_id_from(spreadsheet_id)
        self.lock_name = f"google:{self.spreadsheet_id}"
        self.description = f"spreadsheet {self.spreadsheet_id}"
        self.client, self.client_email = connect(
            credentials_file,
            api_url=api_url,
            spreadsheet_label=self.description,
            policy=policy,
            sleep=sleep,
            clock=clock,
        )
        self.http = self.client.http_client
        self.max_body = max_body
        self._tz = "UTC"
        self._title = ""
        self._sheets: dict[str, _Sheet] = {}

    def _api(self, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """One gspread call; an answer cut off mid-body (not JSON) is transient."""
        try:
            return call(*args, **kwargs)
        except ValueError as exc:  # requests.JSONDecodeError from gspread's response.json()
            raise QuotaExceeded(
                f"Google's answer for {self.description} was cut off or was not JSON "
                f"({type(exc).__name__}); the next run tries again"
            ) from None

    @classmethod
    def from_config(cls, google: Any) -> GoogleBackend:
        return cls(google.spreadsheet_id, google.credentials_file, api_url=google.api_url)

    # -- reading -----------------------------------------------------------------

    def _metadata(self) -> None:
        meta = self._api(
            self.http.fetch_sheet_metadata,
            self.spreadsheet_id,
            params={
                "includeGridData": "false",
                "fields": "properties(title,timeZone),"
                "sheets(properties(sheetId,title,gridProperties))",
            },
        )
        props = meta.get("properties", {})
        self._tz = props.get("timeZone") or "UTC"
        self._title = props.get("title", "")
        self._sheets = {}
        for sheet in meta.get("sheets", []):
            p = sheet.get("properties", {})
            grid = p.get("gridProperties", {})
            # Google matches sheet titles ignoring case: so do we.
            self._sheets[str(p.get("title", "")).casefold()] = _Sheet(
                int(p.get("sheetId", 0)),
                int(grid.get("rowCount", 0)),
                int(grid.get("columnCount", 0)),
            )

    def read(self, titles: Sequence[str]) -> dict[str, Snapshot]:
        self._metadata()
        present = [t for t in titles if t.casefold() in self._sheets]
        values: dict[str, list[list[Any]]] = {}
        if present:
            reply = self._api(
                self.http.values_batch_get,
                self.spreadsheet_id,
                [absolute_range_name(t) for t in present],
                params={
                    "valueRenderOption": "UNFORMATTED_VALUE",
                    "dateTimeRenderOption": "SERIAL_NUMBER",
                    "majorDimension": "ROWS",
                },
            )
            for title, vr in zip(present, reply.get("valueRanges", []), strict=False):
                values[title] = vr.get("values", [])
        out: dict[str, Snapshot] = {}
        for title in titles:
            sheet = self._sheets.get(title.casefold())
            if sheet is None:
                out[title] = Snapshot(title, exists=False)
                continue
            rows = values.get(title, [])
            out[title] = Snapshot(
                title,
                exists=True,
                header=tuple(rows[0]) if rows else (),
                rows=tuple(tuple(r) for r in rows[1:]),
                row_count=sheet.rows,
                col_count=sheet.cols,
            )
        return out

    def timezone(self) -> str:
        return self._tz

    def read_keys(
        self, columns: Mapping[str, tuple[int, ...]]
    ) -> dict[str, tuple[tuple[Cell, ...], ...]]:
        return {t: keys for t, (_, keys) in self.read_guard(columns).items()}

    def read_guard(
        self, columns: Mapping[str, tuple[int, ...]]
    ) -> dict[str, tuple[tuple[Cell, ...], tuple[tuple[Cell, ...], ...]]]:
        """Header rows and key columns of every title in one ``values:batchGet``."""
        ranges: list[str] = []
        owners: list[tuple[str, bool]] = []  # (title, is the header)
        for title, cols in columns.items():
            ranges.append(absolute_range_name(title, "1:1"))
            owners.append((title, True))
            for col in cols:
                letter = column_letter(col)
                ranges.append(absolute_range_name(title, f"{letter}2:{letter}"))
                owners.append((title, False))
        if not ranges:
            return {}
        reply = self._api(
            self.http.values_batch_get,
            self.spreadsheet_id,
            ranges,
            params={
                "valueRenderOption": "UNFORMATTED_VALUE",
                "dateTimeRenderOption": "SERIAL_NUMBER",
                "majorDimension": "COLUMNS",
            },
        )
        headers: dict[str, list[Cell]] = {t: [] for t in columns}
        found: dict[str, list[list[Cell]]] = {t: [] for t in columns}
        for (title, is_header), vr in zip(owners, reply.get("valueRanges", []), strict=False):
            values = vr.get("values") or []
            if is_header:  # COLUMNS: one single-cell list per column
                headers[title] = [col[0] if col else None for col in values]
            else:
                found[title].append(values[0] if values else [])
        return {
            t: (tuple(headers[t]), tuple(zip_longest(*found[t], fillvalue=None))) for t in columns
        }

    # -- writing -----------------------------------------------------------------

    def refuse(self, plans: Sequence[Plan]) -> dict[str, SyncError]:
        """Plans whose grid growth would pass Google's 10,000,000-cell limit."""
        total = sum(s.rows * s.cols for s in self._sheets.values())
        refused: dict[str, SyncError] = {}
        for p in plans:
            rows, cols = self._grid_after(p)
            sheet = self._sheets.get(p.title.casefold())
            before = sheet.rows * sheet.cols if sheet else 0
            after = total - before + rows * cols
            if cols > COLUMN_LIMIT or after > CELL_LIMIT:
                refused[p.title] = GridLimit(
                    f"{p.title}: the sheet would need {rows:,} rows x {cols:,} columns, "
                    f"{after:,} cells in the spreadsheet in all, over Google's limit of "
                    f"{CELL_LIMIT:,} cells; delete unused rows, columns or tabs, or split the "
                    "report with start_date/end_date"
                )
            else:
                total = after
        return refused

    def _grid_after(self, p: Plan) -> tuple[int, int]:
        sheet = self._sheets.get(p.title.casefold())
        if sheet is None:
            return max(p.min_rows, NEW_SHEET_ROWS), max(p.min_cols, NEW_SHEET_COLS)
        cols = sheet.cols
        for ins in p.column_inserts:
            cols = max(cols, ins.index - 1) + 1
        return max(sheet.rows - len(p.row_deletes), p.min_rows), max(cols, p.min_cols)

    def apply_structure(self, plans: Sequence[Plan]) -> None:
        requests: list[dict[str, Any]] = []
        grids: dict[str, _Sheet] = {}
        for p in plans:
            reqs, grid = self._structure(p)
            requests.extend(reqs)
            grids[p.title.casefold()] = grid
        if not requests:
            return
        self._api(self.http.batch_update, self.spreadsheet_id, {"requests": requests})
        self._sheets.update(grids)

    def _structure(self, p: Plan) -> tuple[list[dict[str, Any]], _Sheet]:
        reqs: list[dict[str, Any]] = []
        sheet = self._sheets.get(p.title.casefold())
        if sheet is None:
            sheet = _Sheet(
                self._new_sheet_id(p.title),
                max(p.min_rows, NEW_SHEET_ROWS),
                max(p.min_cols, NEW_SHEET_COLS),
            )
            reqs.append(
                {
                    "addSheet": {
                        "properties": {
                            "sheetId": sheet.sheet_id,
                            "title": p.title,
                            "gridProperties": {
                                "rowCount": sheet.rows,
                                "columnCount": sheet.cols,
                                "frozenRowCount": 1,
                            },
                        }
                    }
                }
            )
            reqs.append(_bold_row(sheet.sheet_id, 1, sheet.cols))
        else:
            sheet = _Sheet(sheet.sheet_id, sheet.rows, sheet.cols)
        sid = sheet.sheet_id
        for ins in p.column_inserts:
            if ins.index - 1 > sheet.cols:
                reqs.append(_append(sid, "COLUMNS", ins.index - 1 - sheet.cols))
                sheet.cols = ins.index - 1
            reqs.append(
                {
                    "insertDimension": {
                        "range": _dim(sid, "COLUMNS", ins.index - 1, ins.index),
                        "inheritFromBefore": False,
                    }
                }
            )
            sheet.cols += 1
            reqs.append(
                {
                    "updateCells": {
                        "rows": [
                            {
                                "values": [
                                    {
                                        "userEnteredValue": {"stringValue": ins.header},
                                        "userEnteredFormat": {"textFormat": {"bold": True}},
                                    }
                                ]
                            }
                        ],
                        "fields": "userEnteredValue,userEnteredFormat.textFormat.bold",
                        "start": {"sheetId": sid, "rowIndex": 0, "columnIndex": ins.index - 1},
                    }
                }
            )
        for first, last in _runs(sorted(p.row_deletes, reverse=True)):
            reqs.append({"deleteDimension": {"range": _dim(sid, "ROWS", first - 1, last)}})
            sheet.rows -= last - first + 1
        if p.min_rows > sheet.rows:
            reqs.append(_append(sid, "ROWS", p.min_rows - sheet.rows))
            sheet.rows = p.min_rows
        if p.min_cols > sheet.cols:
            reqs.append(_append(sid, "COLUMNS", p.min_cols - sheet.cols))
            sheet.cols = p.min_cols
        for f in p.formats:
            reqs.append(
                {
                    "repeatCell": {
                        "range": {
                            "sheetId": sid,
                            "startRowIndex": f.first_row - 1,
                            "endRowIndex": f.last_row,
                            "startColumnIndex": f.col - 1,
                            "endColumnIndex": f.col,
                        },
                        "cell": {"userEnteredFormat": {"numberFormat": DATE_TIME_FORMAT}},
                        "fields": "userEnteredFormat.numberFormat",
                    }
                }
            )
        return reqs, sheet

    def _new_sheet_id(self, title: str) -> int:
        used = {s.sheet_id for s in self._sheets.values()}
        candidate = zlib.crc32(title.encode()) % 2_000_000_000 + 1
        while candidate in used:
            candidate += 1
        return candidate

    def apply_values(self, plans: Sequence[Plan]) -> None:
        chunk: list[dict[str, Any]] = []
        size = 0
        for p in plans:
            for data in _ranges(p.title, p.updates):
                for piece, n in _pieces(data, self.max_body):
                    if chunk and size + n > self.max_body:
                        self._write(chunk)
                        chunk, size = [], 0
                    chunk.append(piece)
                    size += n
        if chunk:
            self._write(chunk)

    def _write(self, data: list[dict[str, Any]]) -> None:
        self._api(
            self.http.values_batch_update,
            self.spreadsheet_id,
            {"valueInputOption": "RAW", "data": data, "includeValuesInResponse": False},
        )

    # -- check -------------------------------------------------------------------

    def check(self) -> list[str]:
        """Lines for ``dq-sheets-sync check``: who we are, and whether we may write."""
        lines = [f"Service account: {self.client_email or 'Application Default Credentials'}."]
        self._metadata()
        lines.append(f"Spreadsheet {self.spreadsheet_id}: opens ({self._title!r}, {self._tz}).")
        # A write that changes nothing: 403 when the account may only read.
        self._api(
            self.http.batch_update,
            self.spreadsheet_id,
            {
                "requests": [
                    {
                        "updateSpreadsheetProperties": {
                            "properties": {"title": self._title},
                            "fields": "title",
                        }
                    }
                ]
            },
        )
        lines.append("Write access: yes.")
        return lines

    def close(self) -> None:
        session = getattr(self.http, "session", None)
        if session is not None:
            session.close()


# -- request building (pure) ---------------------------------------------------------


def _dim(sheet_id: int, dimension: str, start: int, end: int) -> dict[str, Any]:
    return {"sheetId": sheet_id, "dimension": dimension, "startIndex": start, "endIndex": end}


def _append(sheet_id: int, dimension: str, length: int) -> dict[str, Any]:
    return {"appendDimension": {"sheetId": sheet_id, "dimension": dimension, "length": length}}


def _bold_row(sheet_id: int, row: int, cols: int) -> dict[str, Any]:
    return {
        "repeatCell": {
            "range": {
                "sheetId": sheet_id,
                "startRowIndex": row - 1,
                "endRowIndex": row,
                "startColumnIndex": 0,
                "endColumnIndex": cols,
            },
            "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
            "fields": "userEnteredFormat.textFormat.bold",
        }
    }


def _runs(descending: Sequence[int]) -> Iterator[tuple[int, int]]:
    """Consecutive rows as (first, last), highest first: [9, 8, 5] -> (8, 9), (5, 5)."""
    i = 0
    while i < len(descending):
        last = first = descending[i]
        while i + 1 < len(descending) and descending[i + 1] == first - 1:
            i += 1
            first = descending[i]
        yield first, last
        i += 1


def _size(data: Any) -> int:
    return len(json.dumps(data, ensure_ascii=False).encode())


def _pieces(data: dict[str, Any], limit: int) -> Iterator[tuple[dict[str, Any], int]]:
    """A value range split by rows into pieces of about ``limit`` bytes at most."""
    size = _size(data)
    rows = data["values"]
    if size <= limit or len(rows) == 1:
        yield data, size
        return
    sheet, _, cells = data["range"].rpartition("!")
    first, last = cells.split(":")
    top = int(first.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    left, right = first.rstrip("0123456789"), last.rstrip("0123456789")
    step = max(1, len(rows) * limit // size)
    for start in range(0, len(rows), step):
        block = rows[start : start + step]
        a, b = top + start, top + start + len(block) - 1
        piece = {**data, "range": f"{sheet}!{left}{a}:{right}{b}", "values": block}
        yield piece, _size(piece)


def _json_value(value: Cell) -> Any:
    return "" if value is None else value


def _ranges(title: str, updates: Sequence[CellUpdate]) -> Iterator[dict[str, Any]]:
    """Cell updates as value ranges: runs within a row (small gaps as null, which
    leaves a cell alone), and consecutive rows of the same span as one block."""
    by_row: dict[int, dict[int, Cell]] = {}
    for u in updates:
        by_row.setdefault(u.row, {})[u.col] = u.value
    spans: list[tuple[int, int, int, list[Any]]] = []  # row, first col, last col, values
    for row in sorted(by_row):
        cells = by_row[row]
        cols = sorted(cells)
        start = prev = cols[0]
        for col in cols[1:] + [None]:
            if col is not None and col - prev - 1 <= MAX_GAP:
                prev = col
                continue
            spans.append(
                (
                    row,
                    start,
                    prev,
                    [_json_value(cells[c]) if c in cells else None for c in range(start, prev + 1)],
                )
            )
            if col is not None:
                start = prev = col
    i = 0
    while i < len(spans):
        row, first, last, values = spans[i]
        block = [values]
        while (
            i + 1 < len(spans)
            and spans[i + 1][0] == row + len(block)
            and spans[i + 1][1:3] == (first, last)
        ):
            i += 1
            block.append(spans[i][3])
        a1 = f"{column_letter(first)}{row}:{column_letter(last)}{row + len(block) - 1}"
        yield {"range": absolute_range_name(title, a1), "majorDimension": "ROWS", "values": block}
        i += 1
