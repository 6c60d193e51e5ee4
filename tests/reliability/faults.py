"""The fault matrix: each failure of either API, what the user sees, what the sheet keeps.

Every cell runs in-process against the Teams API sandbox and the Sheets API
emulator (real HTTP), with the real ``DataquestClient`` and ``GoogleBackend``
sleeping on a fake clock, so retries and ``Retry-After`` waits cost no real
time. A cell: a synced, annotated spreadsheet (``Time spent`` with notes and a
hand-typed row, plus ``Invitations``); the report moves on and gains a field
(so the cycle has a structural write); the fault is armed; one cycle runs.
Expected: its exit code, a fragment of its message, and the state of ``Time
spent`` (``unchanged``, ``converged``, or ``any`` for a write cut halfway);
then the fault heals and the next cycle must leave the sheet exactly right.
Dataquest faults hit ``time_spent`` only: ``Invitations`` must sync anyway.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import Config, parse_config
from sync.dataquest import DataquestClient
from sync.engine import CycleResult, Engine
from sync.sandbox import Sandbox
from sync.sheets.google import GoogleBackend
from tests.emulator import Emulator
from tests.reliability.common import Notes, annotate, sheet_problems, typed
from tests.sandbox_plugin import FakeClock

EMAIL = "sync@test-project.iam.gserviceaccount.com"
TITLE = "Time spent"
OTHER = ("invitations_status", "Invitations")
NEW_FIELD = "cohort"


class Widened:
    """The Teams API client, with a new field in ``time_spent`` (a column insert)."""

    def __init__(self, client: DataquestClient) -> None:
        self.client = client

    def fetch(
        self, endpoint: str, *, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        records = self.client.fetch(endpoint, params=params)
        if endpoint == "time_spent":
            for i, rec in enumerate(records):
                rec[NEW_FIELD] = f"cohort {i % 3}"
        return records


@dataclass
class Ctx:
    emulator: Emulator
    sandbox: Sandbox
    clock: FakeClock
    spreadsheet: str
    credentials: Path
    config: Config
    #: Extra ``DataquestClient`` arguments for this cell.
    client: dict[str, Any] = field(default_factory=dict)
    #: Whether ``time_spent`` gains the new field (not in the baseline sync).
    widen: bool = True
    #: The records the next successful ``time_spent`` fetch returns (before widening).
    records: list[dict[str, Any]] = field(default_factory=list)

    def cycle(self) -> CycleResult:
        kwargs: dict[str, Any] = {
            "team_id": self.sandbox.team_id,
            "api_key": self.sandbox.api_key,
            "base_url": self.sandbox.url,
            "requests_per_minute": 1000,
            "clock": self.clock,
            "sleep": self.clock.sleep,
            "rng": random.Random(0),
            "timeout_seconds": 5.0,
            **self.client,
        }
        client = DataquestClient(**kwargs)
        backend = GoogleBackend(
            self.spreadsheet,
            self.credentials,
            api_url=self.emulator.url,
            sleep=self.clock.sleep,
            clock=self.clock,
        )
        try:
            source = Widened(client) if self.widen else client
            return Engine(self.config, backend, source).run_cycle()
        finally:
            backend.close()
            client.close()


Step = Callable[[Ctx], None]


def _nothing(ctx: Ctx) -> None:
    pass


def heal(ctx: Ctx) -> None:
    """Both services work again."""
    with ctx.emulator.lock:
        ctx.emulator.faults.pending.clear()
    with ctx.sandbox._lock:  # the test double's own queue
        ctx.sandbox._faults.clear()


@dataclass(frozen=True)
class FaultCell:
    name: str
    side: str
    arm: Step
    exit_code: int
    #: A fragment of the worksheet's error message ("" when it succeeds).
    message: str
    #: ``Time spent`` right after the faulty cycle: unchanged | converged | any.
    state: str
    client: Mapping[str, Any] = field(default_factory=dict)
    heal: Step = heal
    #: Runs after ``heal``, before the next cycle.
    again: Step = _nothing
    #: A known product bug that makes this cell fail (the test is a strict xfail).
    bug: str = ""


@dataclass
class CellResult:
    cell: FaultCell
    exit_code: int = -1
    message: str = ""
    state: str = ""
    other_ok: bool = False
    slept: float = 0.0
    next_exit: int = -1
    problems: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return self.next_exit == 0 and not self.problems

    @property
    def as_expected(self) -> bool:
        c = self.cell
        return (
            self.exit_code == c.exit_code
            and c.message.casefold() in self.message.casefold()
            and (c.state == "any" or self.state == c.state)
            and self.other_ok
            and self.converged
        )


# --- arming -----------------------------------------------------------------------


def dq(status: int, count: int = 1, **kw: Any) -> Step:
    def arm(ctx: Ctx) -> None:
        ctx.sandbox.inject(status, count=count, endpoint="time_spent", **kw)

    return arm


def dq_body(make: Callable[[list[dict[str, Any]]], str]) -> Step:
    def arm(ctx: Ctx) -> None:
        ctx.sandbox.inject(200, endpoint="time_spent", body=make(ctx.records))

    return arm


def _ten_times(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = list(records)
    for j in range(1, 10):
        out += [{**r, "email": f"copy{j}.{r['email']}"} for r in records]
    return out


def ten_times(ctx: Ctx) -> None:
    ctx.records = _ten_times(ctx.records)
    ctx.sandbox.inject(200, endpoint="time_spent", body=json.dumps(ctx.records))


def sheets(status: int | None, count: int = 1, kind: str | None = None, **kw: Any) -> Step:
    def arm(ctx: Ctx) -> None:
        ctx.emulator.inject(status, count=count, kind=kind, **kw)

    return arm


def huge_other_tab(ctx: Ctx) -> None:
    book = ctx.emulator.spreadsheet(ctx.spreadsheet)
    other = book.sheet_by_title("Sheet1")
    assert other is not None
    other.grid["rowCount"], other.grid["columnCount"] = 384_000, 26


def small_other_tab(ctx: Ctx) -> None:
    book = ctx.emulator.spreadsheet(ctx.spreadsheet)
    other = book.sheet_by_title("Sheet1")
    assert other is not None
    other.grid["rowCount"], other.grid["columnCount"] = 1000, 26


FOREVER = 10_000
GRID = "Range ('Time spent'!A2:Z60) exceeds grid limits. Max rows: 40, max columns: 26"
CELLS_MSG = (
    "Invalid requests[0].insertDimension: This action would increase the number of cells "
    "in the workbook above the limit of 10000000 cells."
)

CELLS: tuple[FaultCell, ...] = (
    FaultCell("429 x3, Retry-After 7", "Dataquest", dq(429, 3, retry_after=7), 0, "", "converged"),
    FaultCell(
        "429 storm, Retry-After 30",
        "Dataquest",
        dq(429, FOREVER, retry_after=30),
        75,
        "kept throttling",
        "unchanged",
    ),
    FaultCell("500 x2", "Dataquest", dq(500, 2), 0, "", "converged"),
    FaultCell("500 (lasting)", "Dataquest", dq(500, FOREVER), 75, "HTTP 500", "unchanged"),
    FaultCell(
        "502 HTML page (lasting)",
        "Dataquest",
        dq(502, FOREVER, content_type="text/html"),
        75,
        "502 Bad Gateway",
        "unchanged",
    ),
    FaultCell(
        "timeout (lasting)",
        "Dataquest",
        dq(200, FOREVER, delay=0.3),
        75,
        "did not answer within",
        "unchanged",
        client={"timeout_seconds": 0.1, "max_attempts": 3},
    ),
    FaultCell(
        "connection reset (lasting)",
        "Dataquest",
        dq(200, FOREVER, drop=True),
        75,
        "could not be reached",
        "unchanged",
    ),
    FaultCell(
        "truncated JSON",
        "Dataquest",
        dq_body(lambda r: json.dumps(r)[: len(json.dumps(r)) // 2]),
        1,
        "not JSON",
        "unchanged",
    ),
    FaultCell(
        "wrong shape (object)",
        "Dataquest",
        dq_body(lambda r: json.dumps({"results": r})),
        1,
        "expected a list of objects",
        "unchanged",
    ),
    FaultCell(
        "missing key field",
        "Dataquest",
        dq_body(lambda r: json.dumps([{k: v for k, v in x.items() if k != "email"} for x in r])),
        1,
        "key field 'email' is missing",
        "unchanged",
    ),
    FaultCell(
        "report 10x larger",
        "Dataquest",
        ten_times,
        0,
        "",
        "converged",
        again=lambda ctx: ctx.sandbox.inject(
            200, endpoint="time_spent", body=json.dumps(ctx.records)
        ),
    ),
    FaultCell("429 x3 (read)", "Sheets", sheets(429, 3, "spreadsheets.get"), 0, "", "converged"),
    FaultCell(
        "429 (lasting, values write)",
        "Sheets",
        sheets(429, FOREVER, "values.batchUpdate"),
        75,
        "try again later",
        "any",
    ),
    FaultCell("500 x2 (read)", "Sheets", sheets(500, 2, "values.batchGet"), 0, "", "converged"),
    FaultCell(
        "500 (lasting, values write)",
        "Sheets",
        sheets(500, FOREVER, "values.batchUpdate"),
        75,
        "kept failing (HTTP 500)",
        "any",
    ),
    FaultCell(
        "500 on the structural write",
        "Sheets",
        sheets(500, 1, "spreadsheets.batchUpdate"),
        75,
        "HTTP 500",
        "unchanged",
    ),
    FaultCell(
        "503 x2 (structural write)",
        "Sheets",
        sheets(503, 2, "spreadsheets.batchUpdate"),
        0,
        "",
        "converged",
    ),
    FaultCell(
        "403 not shared",
        "Sheets",
        sheets(403, FOREVER, "spreadsheets.get"),
        78,
        "Share",
        "unchanged",
    ),
    FaultCell(
        "404 not found",
        "Sheets",
        sheets(404, FOREVER, "spreadsheets.get"),
        78,
        "not found",
        "unchanged",
    ),
    FaultCell(
        "grid limit (Google's 400)",
        "Sheets",
        sheets(400, 1, "values.batchUpdate", message=GRID),
        1,
        "exceeds grid limits",
        "any",
    ),
    FaultCell(
        "cell limit (Google's 400)",
        "Sheets",
        sheets(400, 1, "spreadsheets.batchUpdate", message=CELLS_MSG),
        1,
        "above the limit",
        "unchanged",
    ),
    FaultCell(
        "cell limit (refused before writing)",
        "Sheets",
        huge_other_tab,
        1,
        "10,000,000",
        "unchanged",
        again=small_other_tab,
    ),
    FaultCell(
        "dropped after the values write applied",
        "Sheets",
        sheets(None, 1, "values.batchUpdate", apply_then_drop=True),
        0,
        "",
        "converged",
    ),
    FaultCell(
        "dropped before the structural write",
        "Sheets",
        sheets(None, 1, "spreadsheets.batchUpdate", drop=True),
        75,
        "structural change",
        "unchanged",
    ),
    FaultCell(
        "dropped after the structural write applied",
        "Sheets",
        sheets(None, 1, "spreadsheets.batchUpdate", apply_then_drop=True),
        75,
        "structural change",
        "any",
    ),
)


def _config(tmp: Path) -> Config:
    data: dict[str, Any] = {
        "dataquest": {"team_id": "12345", "api_key_env": "K"},
        "workbook": {"path": str(tmp / "unused.xlsx")},  # the engine gets its backend directly
        "worksheet": [
            {"endpoint": "time_spent", "title": TITLE},
            {"endpoint": OTHER[0], "title": OTHER[1]},
        ],
    }
    return parse_config(data, env={"K": "k" * 20}, base_dir=tmp)


def _error_text(result: CycleResult) -> str:
    return " | ".join(f"{r.title}: {r.error}" for r in result.results if r.error is not None)


def run_cell(cell: FaultCell, emulator: Emulator, sandbox: Sandbox, tmp: Path) -> CellResult:
    emulator.latency = 0.0
    sandbox.auto_advance = False
    sandbox.epoch = 3
    credentials = emulator.service_account(tmp / "sa", email=EMAIL)
    ctx = Ctx(
        emulator,
        sandbox,
        FakeClock(),
        emulator.create_spreadsheet("Faults", shared_with=[EMAIL]),
        credentials,
        _config(tmp),
    )
    person = emulator.person(ctx.spreadsheet)
    ctx.widen = False
    base = ctx.cycle()
    ctx.widen = True
    if base.exit_code != 0:
        raise RuntimeError(f"baseline failed: {_error_text(base)}")
    notes = annotate(person, TITLE, random.Random(cell.name), ("email",))
    before = person.values(TITLE)
    sandbox.advance()
    ctx.records = sandbox.records("time_spent")
    ctx.client = dict(cell.client)
    cell.arm(ctx)
    ctx.clock.sleeps.clear()
    result = ctx.cycle()
    out = CellResult(cell, result.exit_code, _error_text(result), slept=ctx.clock.slept)
    after = person.values(TITLE)
    expected = [dict(r) for r in ctx.records]
    for i, rec in enumerate(expected):
        rec[NEW_FIELD] = f"cohort {i % 3}"
    table = typed("time_spent", expected)
    if after == before:
        out.state = "unchanged"
    elif not sheet_problems(after, table, notes):
        out.state = "converged"
    else:
        out.state = "partial"
    other = typed(OTHER[0], sandbox.records(OTHER[0]))
    if cell.side == "Dataquest":  # a Teams API fault fails its own worksheet only
        out.other_ok = not sheet_problems(person.values(OTHER[1]), other, Notes())
    cell.heal(ctx)
    cell.again(ctx)
    ctx.client = {}
    again = ctx.cycle()
    out.next_exit = again.exit_code
    out.problems = sheet_problems(person.values(TITLE), table, notes)
    if cell.side == "Sheets":
        out.other_ok = not sheet_problems(person.values(OTHER[1]), other, Notes())
    return out


def describe(r: CellResult) -> str:
    return (
        f"{r.cell.side} {r.cell.name}: exit {r.exit_code} (expected {r.cell.exit_code}), "
        f"state {r.state} (expected {r.cell.state}), other worksheet ok {r.other_ok}, "
        f"next run exit {r.next_exit}, problems {r.problems[:4]}, message {r.message!r}"
    )
