"""Backends under test, each with a 'person' who edits the sheet between syncs.

One ``Harness`` per backend (in-memory, workbook, Google via the emulator) so
one contract test class can run against all of them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import openpyxl

from sync.config import Config, parse_config
from sync.engine import CycleResult, Engine
from sync.model import Cell, is_empty
from sync.sheets.base import Backend
from sync.sheets.google import GoogleBackend
from sync.sheets.memory import MemoryBackend
from sync.sheets.workbook import WorkbookBackend
from sync.table import to_serial

KEY_ENV = "TEST_DQ_KEY"


class StaticSource:
    """Reports held in memory (the engine's ``Source``): what Dataquest would say."""

    def __init__(self, reports: Mapping[str, list[dict[str, Any]]]) -> None:
        self.reports = {k: [dict(r) for r in v] for k, v in reports.items()}
        self.calls: list[str] = []
        self.params: list[dict[str, str]] = []

    def fetch(
        self, endpoint: str, *, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(endpoint)
        self.params.append(dict(params or {}))
        return [dict(r) for r in self.reports[endpoint]]


def tidy(rows: list[list[Any]]) -> list[list[Any]]:
    """Rows with trailing empty cells and rows removed, empties as None."""
    out = [[None if is_empty(c) else c for c in r] for r in rows]
    for r in out:
        while r and r[-1] is None:
            r.pop()
    while out and not out[-1]:
        out.pop()
    return out


class Harness:
    name = ""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path

    def config(self, worksheets: list[dict[str, Any]], **sync: Any) -> Config:
        data: dict[str, Any] = {
            "dataquest": {"team_id": "12345", "api_key_env": KEY_ENV},
            "workbook": {"path": str(self.tmp_path / "contract.xlsx")},
            "worksheet": worksheets,
        }
        if sync:
            data["sync"] = sync
        return parse_config(data, env={KEY_ENV: "k" * 20}, base_dir=self.tmp_path)

    def sync(self, config: Config, source: StaticSource, **kw: Any) -> CycleResult:
        backend = self.backend()
        try:
            return Engine(config, backend, source, **kw).run_cycle()
        finally:
            backend.close()

    # Overridden per backend:
    def backend(self) -> Backend:
        raise NotImplementedError

    def values(self, title: str) -> list[list[Cell]]:
        raise NotImplementedError

    def type(self, title: str, row: int, col: int, value: Cell) -> None:
        raise NotImplementedError

    def sort(self, title: str, col: int, *, descending: bool = False) -> None:
        raise NotImplementedError

    def insert_row(self, title: str, index: int) -> None:
        raise NotImplementedError

    def is_datetime(self, title: str, row: int, col: int) -> bool:
        raise NotImplementedError


class MemoryHarness(Harness):
    name = "memory"

    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.mem = MemoryBackend()

    def backend(self) -> Backend:
        return self.mem

    def values(self, title: str) -> list[list[Cell]]:
        return tidy(self.mem.sheet(title).rows)

    def type(self, title: str, row: int, col: int, value: Cell) -> None:
        self.mem.sheet(title).set_cell(row, col, value)

    def sort(self, title: str, col: int, *, descending: bool = False) -> None:
        rows = self.mem.sheet(title).rows
        rows[1:] = sorted(rows[1:], key=_sort_key(col), reverse=descending)

    def insert_row(self, title: str, index: int) -> None:
        self.mem.sheet(title).rows.insert(index - 1, [])

    def is_datetime(self, title: str, row: int, col: int) -> bool:
        return self.mem.sheet(title).formats.get((row, col)) == "DATE_TIME"


class WorkbookHarness(Harness):
    name = "workbook"

    @property
    def path(self) -> Path:
        return self.tmp_path / "contract.xlsx"

    def backend(self) -> Backend:
        return WorkbookBackend(self.path, timezone="UTC")

    def _edit(self, title: str, fn: Callable[[Any], None]) -> None:
        wb = openpyxl.load_workbook(self.path)
        fn(wb[title])
        wb.save(self.path)

    def values(self, title: str) -> list[list[Cell]]:
        wb = openpyxl.load_workbook(self.path)
        ws = wb[title]
        rows = [[_serial(c.value) for c in row] for row in ws.iter_rows()]
        return tidy(rows)

    def type(self, title: str, row: int, col: int, value: Cell) -> None:
        self._edit(title, lambda ws: ws.cell(row, col, value))

    def sort(self, title: str, col: int, *, descending: bool = False) -> None:
        def do(ws: Any) -> None:
            rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
            fmts = [[c.number_format for c in r] for r in ws.iter_rows(min_row=2)]
            order = sorted(
                range(len(rows)), key=lambda i: _sort_key(col)(rows[i]), reverse=descending
            )
            for new, old in enumerate(order, start=2):
                for j, value in enumerate(rows[old], start=1):
                    cell = ws.cell(new, j)
                    cell.value = value
                    cell.number_format = fmts[old][j - 1]
                    if isinstance(value, str):
                        cell.data_type = "s"

        self._edit(title, do)

    def insert_row(self, title: str, index: int) -> None:
        self._edit(title, lambda ws: ws.insert_rows(index))

    def is_datetime(self, title: str, row: int, col: int) -> bool:
        wb = openpyxl.load_workbook(self.path)
        return bool(wb[title].cell(row, col).is_date)


class GoogleHarness(Harness):
    name = "google"

    def __init__(self, tmp_path: Path, emulator: Any) -> None:
        super().__init__(tmp_path)
        self.emulator = emulator
        self.credentials = emulator.service_account(tmp_path / "sa")
        self.spreadsheet_id = emulator.create_spreadsheet(
            "Contract", shared_with=["sync@test-project.iam.gserviceaccount.com"]
        )
        self.person = emulator.person(self.spreadsheet_id)

    def backend(self) -> Backend:
        return GoogleBackend(self.spreadsheet_id, self.credentials, api_url=self.emulator.url)

    def values(self, title: str) -> list[list[Cell]]:
        return tidy(self.person.values(title))

    def type(self, title: str, row: int, col: int, value: Cell) -> None:
        self.person.set_cells(title, row, col, [[value]])

    def sort(self, title: str, col: int, *, descending: bool = False) -> None:
        self.person.sort_rows(title, col, descending=descending)

    def insert_row(self, title: str, index: int) -> None:
        self.person.insert_rows(title, index)

    def is_datetime(self, title: str, row: int, col: int) -> bool:
        fmt = self.person.number_format(title, row, col) or {}
        return fmt.get("type") == "DATE_TIME"


def _serial(value: Any) -> Any:
    from datetime import datetime

    return to_serial(value) if isinstance(value, datetime) else value


def _sort_key(col: int) -> Callable[[list[Any]], tuple[int, str]]:
    def key(row: list[Any]) -> tuple[int, str]:
        value = row[col - 1] if len(row) >= col else None
        return (1, "") if is_empty(value) else (0, str(value))

    return key
