"""The three ways of refreshing a worksheet that the sync benchmark compares.

Each strategy performs one refresh of one worksheet through the real Sheets
API client stack (gspread + google-auth, or the product's Google backend)
against whatever ``api_url`` serves the Sheets API (the emulator in the
benchmark). None of them knows it is being measured: the benchmark reads the
emulator's request log and the process's peak RSS from outside.

- ``engine_refresh``: dq-sheets-sync itself, ``Engine.run_cycle()`` with the
  Google backend and an in-process report source.
- ``full_rewrite``: what overwrite-mode connectors and most scripts do. The
  classic gspread recipe: open the worksheet, ``worksheet.clear()``, grow the
  grid with ``worksheet.resize(rows=...)`` when the report has more rows than
  the grid (``values.update`` beyond the grid is an HTTP 400), then
  ``worksheet.update(header + rows, "A1")`` (RAW, empty values as ""). Every
  column of the sheet is cleared, the user's annotation columns included.
- ``row_upsert``: what "lookup row, then update row / create row" automation
  steps do (Zapier, Make, IFTTT). Modelled generously for the baseline:
  the automation's trigger hands it exactly the changed and new records (the
  diff costs no Sheets request); it reads the header row once (``values.get``)
  and the key columns once (one ``values:batchGet``) per refresh, where
  Zapier's "Lookup Spreadsheet Row" reads again for every record, so real
  automations make up to twice the requests counted here; then it writes each
  changed record's managed columns on its row with its own ``values.update``
  and appends each new record with its own ``values.append`` (range ``A1``,
  RAW). Keys that left the report are not touched. With no changed record the
  trigger never fires: no request at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gspread
import requests
from gspread.utils import rowcol_to_a1

from sync.config import parse_config
from sync.engine import Engine
from sync.model import normalise_key
from sync.sheets.google import GoogleBackend
from tests.emulator.client import gspread_client_for
from tests.harness import StaticSource

log = logging.getLogger(__name__)

ENDPOINT = "mission_progress"
KEY_FIELDS = ("email", "path", "course", "mission")
STATUS_SHEET = "Sync status"


#: Called with each strategy's HTTP session before its first request (the
#: benchmark adds a response hook to it to add up the time spent waiting).
Observer = Callable[[requests.Session], None]


@dataclass(frozen=True)
class Target:
    """Where a strategy writes: a worksheet of a spreadsheet behind ``api_url``."""

    api_url: str
    spreadsheet_id: str
    credentials: Path
    title: str
    observe: Observer | None = None


def _gspread(target: Target) -> gspread.Worksheet:
    """Open the worksheet the way a gspread script does (two ``spreadsheets.get``)."""
    client = gspread_client_for(SimpleNamespace(url=target.api_url), target.credentials)
    if target.observe is not None:
        target.observe(client.http_client.session)
    return client.open_by_key(target.spreadsheet_id).worksheet(target.title)


def plain(value: Any) -> Any:
    """A record value as a script writes it: None as "", everything else as is."""
    return "" if value is None else value


def engine_refresh(
    target: Target, records: list[dict[str, Any]], *, now: datetime
) -> dict[str, Any]:
    """One ``Engine.run_cycle()`` of dq-sheets-sync (status sheet on, as by default)."""
    config = parse_config(
        {
            "dataquest": {"team_id": "12345", "api_key_env": "BENCH_DQ_KEY"},
            "google": {
                "spreadsheet": target.spreadsheet_id,
                "credentials_file": str(target.credentials),
                "api_url": target.api_url,
            },
            "sync": {"status_sheet": STATUS_SHEET},
            "worksheet": [{"endpoint": ENDPOINT, "title": target.title}],
        },
        env={"BENCH_DQ_KEY": "k" * 32},
        base_dir=target.credentials.parent,
    )
    assert config.google is not None
    backend = GoogleBackend.from_config(config.google)
    if target.observe is not None:
        target.observe(backend.http.session)
    try:
        result = Engine(
            config, backend, StaticSource({ENDPOINT: records}), now=lambda: now
        ).run_cycle()
    finally:
        backend.close()
    (ws,) = result.results
    if ws.error is not None:
        raise RuntimeError(f"the engine failed: {ws.result_text}")
    c = ws.counts
    return {
        "outcome": ws.outcome,
        "data_cells_planned": len(ws.plan.updates) if ws.plan else 0,
        "added": c.added,
        "updated_rows": c.updated_rows,
        "updated_cells": c.updated_cells,
        "missing": c.missing,
    }


def full_rewrite(
    target: Target, records: Sequence[Mapping[str, Any]], fields: Sequence[str]
) -> dict[str, Any]:
    """Clear the worksheet and write the header and every row again."""
    ws = _gspread(target)
    values = [list(fields)] + [[plain(r.get(f)) for f in fields] for r in records]
    ws.clear()
    if ws.row_count < len(values):
        ws.resize(rows=len(values))
    ws.update(values, "A1", raw=True)
    return {"rows_written": len(values) - 1}


def row_upsert(
    target: Target,
    changed: Sequence[Mapping[str, Any]],
    fields: Sequence[str],
    key_fields: Sequence[str] = KEY_FIELDS,
    *,
    on_request: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Look up each changed or new record's key, then write that row alone.

    ``changed`` holds the changed and new records (the trigger's output).
    ``on_request`` is called before each per-record write (the benchmark uses
    it to cap the run). Returns how many rows were updated and appended.
    """
    if not changed:
        return {"updated": 0, "appended": 0}
    ws = _gspread(target)
    header = [str(h) for h in ws.row_values(1)]
    col = {name: header.index(name) + 1 for name in fields if name in header}
    missing = [f for f in fields if f not in col]
    if missing:
        raise RuntimeError(f"row upsert: columns {missing} are not in the header")
    key_cols = [col[k] for k in key_fields]
    ranges = [f"{rowcol_to_a1(2, c)[:-1]}2:{rowcol_to_a1(2, c)[:-1]}" for c in key_cols]
    columns = [(vr or [[]]) for vr in ws.batch_get(ranges, major_dimension="COLUMNS")]
    key_values = [c[0] if c else [] for c in columns]
    height = max((len(c) for c in key_values), default=0)
    rows_by_key: dict[tuple[str, ...], int] = {}
    for i in range(height):
        key = normalise_key([c[i] if i < len(c) else None for c in key_values])
        if key is not None:
            rows_by_key.setdefault(key, i + 2)
    first, last = min(col.values()), max(col.values())
    updated = appended = 0
    for record in changed:
        line: list[Any] = [None] * (last - first + 1)
        for name in fields:
            line[col[name] - first] = plain(record.get(name))
        key = normalise_key([record.get(k) for k in key_fields])
        if on_request is not None:
            on_request()
        row = rows_by_key.get(key) if key is not None else None
        if row is not None:
            ws.update([line], f"{rowcol_to_a1(row, first)}:{rowcol_to_a1(row, last)}", raw=True)
            updated += 1
        else:
            ws.append_row(line, value_input_option="RAW", table_range="A1")
            appended += 1
    return {"updated": updated, "appended": appended}
