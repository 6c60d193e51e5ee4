"""Benchmark: dq-sheets-sync side by side with a full rewrite and a per-row upsert.

Run it (from the repository root; about 5 minutes for the default sizes)::

    python -m tests.benchmarks.bench_sync [--sizes 1000,10000,100000]
        [--latency 0.05] [--out tests/benchmarks/RESULTS.md] [--upsert-cap N]

What runs (issue #8): for each size N and each strategy (``strategies.py``),
on identical data:

1. setup (not measured, emulator latency 0): a fresh spreadsheet; the
   strategy's own first load of a mission_progress-like report of N rows and
   13 fields (the engine's first sync; the baselines' full write); then a
   person types two annotation columns ("emailed?", "note") on 10% of the
   rows and sorts the data rows by ``progress_pct`` (descending), as people do;
2. the planner alone, for the engine (``sync.plan.plan`` on the table and
   snapshot of step 3, best of 3, in its own process);
3. the measured refresh, with the emulator answering every request after
   ``--latency`` seconds: 1% of the rows changed (``progress_pct``, and every
   other one also ``dttm_completed``), 0.5% new keys, 0.2% keys gone;
4. a no-change refresh (the same report again), measured the same way.

Every measured step runs in a fresh child process (``--child``); the Sheets
API emulator runs in this parent process. So a strategy's peak RSS is the
child's ``ru_maxrss``: Python, gspread, the report (N records, generated
in-process: the engine reads them through a ``StaticSource``, not over HTTP
from the sandbox, so that all three strategies pay the same nothing for the
fetch), and whatever the strategy builds; the emulator's copy of the sheet is
not in it. Requests, cells written and bytes come from the emulator's request
log (token requests excluded); wall time is measured in the child from
opening the client to the last answer.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from tests.api_fields import KNOWN_FIELDS
from tests.benchmarks import strategies
from tests.benchmarks.strategies import KEY_FIELDS, Target

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
TITLE = "Mission progress"
EMAIL = "sync@bench-project.iam.gserviceaccount.com"
FIELDS = KNOWN_FIELDS["mission_progress"]
ANNOTATIONS = ("emailed?", "note")
STRATEGIES = ("dq-sheets-sync", "full rewrite", "per-row upsert")
SORT_COLUMN = "progress_pct"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
T0 = datetime(2024, 1, 1, tzinfo=UTC)
MISSIONS_PER_LEARNER = 25
PATHS = (
    ("Data Analyst in Python", 1, "python"),
    ("Data Scientist in Python", 2, "python"),
    ("Data Analyst in R", 3, "r"),
)
CHANGED, NEW, GONE, ANNOTATED = 0.01, 0.005, 0.002, 0.10
WRITES_PER_MINUTE = 60


# -- the data -----------------------------------------------------------------------


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def make_record(i: int, rng: random.Random) -> dict[str, Any]:
    """Row ``i`` of the report: learner i // 25, mission i % 25.

    The key (email, path, course, mission) is unique per ``i``."""
    learner, mission = divmod(i, MISSIONS_PER_LEARNER)
    path, path_id, language = PATHS[learner % len(PATHS)]
    course = mission // 5
    login = T0 + timedelta(seconds=(learner * 7_919_993) % (150 * 86_400))
    started = T0 + timedelta(seconds=rng.randrange(120 * 86_400), milliseconds=rng.randrange(1000))
    return {
        "learner_name": f"Learner {learner:06d}",
        "email": f"learner{learner:06d}@example.com",
        "last_login": _ts(login),
        "path": path,
        "path_id": path_id,
        "step": course + 1,
        "language": language,
        "course_id": 100 * path_id + course,
        "course": f"{path}: course {course + 1}",
        "mission": f"Mission {mission + 1}",
        "dttm_started_mission": _ts(started),
        "progress_pct": round(rng.uniform(0, 90), 2),
        "dttm_completed": None,
    }


def key_of(record: dict[str, Any]) -> tuple[str, ...]:
    return tuple(str(record[k]) for k in KEY_FIELDS)


@dataclass
class Scenario:
    """The first report, the refreshed one, and who annotated what (deterministic)."""

    size: int
    seed: int = 8
    base: list[dict[str, Any]] = field(default_factory=list)
    refreshed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[int] = field(default_factory=list)
    gone: list[int] = field(default_factory=list)
    new: int = 0
    annotated: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.base = [make_record(i, rng) for i in range(self.size)]
        pick = random.Random(self.seed + 1)
        n_changed, n_gone = round(self.size * CHANGED), round(self.size * GONE)
        chosen = pick.sample(range(self.size), n_changed + n_gone)
        self.changed, self.gone = sorted(chosen[:n_changed]), sorted(chosen[n_changed:])
        self.annotated = sorted(pick.sample(range(self.size), round(self.size * ANNOTATED)))
        self.new = round(self.size * NEW)
        changed, gone = set(self.changed), set(self.gone)
        for i, record in enumerate(self.base):
            if i in gone:
                continue
            if i in changed:
                record = dict(record, progress_pct=round(record["progress_pct"] + 7.5, 2))
                if i % 2 == 0:
                    record["dttm_completed"] = _ts(NOW - timedelta(hours=i % 48))
            self.refreshed.append(record)
        fresh = random.Random(self.seed + 2)
        self.refreshed += [make_record(self.size + j, fresh) for j in range(self.new)]

    def annotation(self, i: int) -> tuple[str, str]:
        record = self.base[i]
        return f"yes ({i % 28 + 1} May)", f"note for {record['email']} / {record['mission']}"

    def changed_records(self, *, no_change: bool = False) -> list[dict[str, Any]]:
        """Changed and new records of the refresh (what an automation trigger emits)."""
        if no_change:
            return []
        base = {key_of(r): r for r in self.base}
        return [r for r in self.refreshed if base.get(key_of(r)) != r]

    def expected_cells(self) -> dict[str, int]:
        """What the refresh changes: managed cells of kept rows, gone rows, new rows' cells."""
        base = {key_of(r): r for r in self.base}
        changed = 0
        new_cells = 0
        for r in self.refreshed:
            old = base.get(key_of(r))
            if old is None:
                new_cells += sum(1 for f in FIELDS if r.get(f) is not None)
            else:
                changed += sum(1 for f in FIELDS if old.get(f) != r.get(f))
        return {"changed": changed, "status": len(self.gone), "appended": new_cells}


# -- the child: one strategy, one step, its own process --------------------------------


def peak_rss_kb() -> int:
    """This process's peak resident set since its ``exec`` (``VmHWM``), in kB.

    Not ``ru_maxrss``: on Linux, ``exec`` carries the pre-exec memory's high-water
    mark into ``ru_maxrss``, so a child forked from this parent (which holds the
    emulator's sheets) would report the parent's size. ``VmHWM`` is per address
    space. Falls back to ``ru_maxrss`` where /proc is missing.
    """
    try:
        with open("/proc/self/status") as fh:
            for text in fh:
                if text.startswith("VmHWM:"):
                    return int(text.split()[1])
    except OSError:
        pass
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class _Waits:
    """Adds up, per response, the time from sending a request to its answer's
    headers (``Response.elapsed``): latency plus the server's own work."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.count = 0

    def observe(self, session: requests.Session) -> None:
        session.hooks["response"].append(self._hook)

    def _hook(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.seconds += response.elapsed.total_seconds()
        self.count += 1


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """Run ``spec['step']`` of ``spec['strategy']``; returns the measurements."""
    scenario = Scenario(spec["size"], spec["seed"])
    step, strategy = spec["step"], spec["strategy"]
    waits = _Waits()
    target = Target(
        spec["url"], spec["spreadsheet_id"], Path(spec["credentials"]), TITLE, waits.observe
    )
    records = scenario.base if step == "setup" else scenario.refreshed
    if step == "planner":
        return _planner(target, records)
    changed = scenario.changed_records(no_change=step == "nochange")
    cap = int(spec.get("upsert_cap") or 0)
    rss_before = peak_rss_kb()
    t0 = time.perf_counter()
    if strategy == "dq-sheets-sync":
        info = strategies.engine_refresh(target, records, now=NOW)
    elif strategy == "full rewrite" or step == "setup":
        # the per-row upsert's sheet starts from one bulk load too
        info = strategies.full_rewrite(target, records, FIELDS)
    else:
        info = _upsert(target, changed, cap)
    wall = time.perf_counter() - t0
    info.update(
        wall=wall,
        api_wait=waits.seconds,
        rss_before_kb=rss_before,
        peak_rss_kb=peak_rss_kb(),
    )
    return info


class _Capped(Exception):
    pass


def _upsert(target: Target, changed: list[dict[str, Any]], cap: int) -> dict[str, Any]:
    """The per-row upsert, stopped after ``cap`` row writes when ``cap`` > 0."""
    done = 0
    times: list[float] = []

    def tick() -> None:
        nonlocal done
        times.append(time.perf_counter())
        if cap and done >= cap:
            raise _Capped
        done += 1

    t0 = time.perf_counter()
    try:
        info = strategies.row_upsert(target, changed, FIELDS, on_request=tick)
        info["capped"] = False
    except _Capped:
        info = {"capped": True}
    info["row_writes_done"] = done
    info["row_writes_total"] = len(changed)
    if len(times) >= 2:
        info["seconds_per_row_write"] = (times[-1] - times[0]) / (len(times) - 1)
        info["seconds_before_writes"] = times[0] - t0
    return info


def _planner(target: Target, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The planner alone on the refresh's table and the sheet as it is now."""
    from sync.plan import PlanOptions, plan
    from sync.sheets.google import GoogleBackend
    from sync.table import build_table

    backend = GoogleBackend(target.spreadsheet_id, target.credentials, api_url=target.api_url)
    try:
        snapshot = backend.read([TITLE])[TITLE]
    finally:
        backend.close()
    t0 = time.perf_counter()
    table = build_table("mission_progress", records, KEY_FIELDS, timezone="Etc/GMT")
    build = time.perf_counter() - t0
    options = PlanOptions(today=NOW.date())
    best = math.inf
    result = None
    for _ in range(3):
        t = time.perf_counter()
        result = plan(table, snapshot, options)
        best = min(best, time.perf_counter() - t)
    assert result is not None
    return {
        "build_table": build,
        "plan": best,
        "updates": len(result.updates),
        "peak_rss_kb": peak_rss_kb(),
    }


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [sys.executable, "-m", "tests.benchmarks.bench_sync", "--child", json.dumps(spec)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"{spec['strategy']} {spec['step']} at {spec['size']} rows failed:\n{proc.stderr}"
        )
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- the parent: emulator, person, measurements ----------------------------------------


@dataclass
class Step:
    """One measured step of one strategy at one size."""

    strategy: str
    size: int
    step: str
    reads: int = 0
    writes: int = 0
    cells: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    wall: float = 0.0
    api_wait: float = 0.0
    peak_rss_mb: float = 0.0
    annotations_kept: float = math.nan
    rows_current: float = math.nan
    sheet_cells_changed: int = 0
    info: dict[str, Any] = field(default_factory=dict)
    projected: bool = False

    @property
    def requests(self) -> int:
        return self.reads + self.writes

    @property
    def quota_minutes(self) -> float:
        return self.writes / WRITES_PER_MINUTE


def log_stats(emulator: Any, spreadsheet_id: str) -> dict[str, int]:
    """Requests, cells and bytes of one spreadsheet in the emulator's log (no tokens)."""
    with emulator.lock:
        reqs = [r for r in emulator.log if r.spreadsheet_id == spreadsheet_id]
    reqs = [r for r in reqs if r.kind != "token"]
    return {
        "reads": sum(1 for r in reqs if r.method == "GET"),
        "writes": sum(1 for r in reqs if r.method != "GET"),
        "cells": sum(r.cells_written for r in reqs),
        "bytes_sent": sum(r.bytes_in for r in reqs),
        "bytes_received": sum(r.bytes_out for r in reqs),
    }


def _grid(values: list[list[Any]]) -> dict[tuple[int, int], Any]:
    return {
        (i, j): v for i, row in enumerate(values) for j, v in enumerate(row) if v not in ("", None)
    }


def cells_changed(before: list[list[Any]], after: list[list[Any]]) -> int:
    """How many cells of a sheet hold another value than before (empty == "")."""
    a, b = _grid(before), _grid(after)
    return sum(1 for k in a.keys() | b.keys() if a.get(k) != b.get(k))


def _rows_by_key(values: list[list[Any]]) -> tuple[list[str], dict[tuple[str, ...], list[Any]]]:
    header = [str(h) for h in values[0]] if values else []
    if not all(k in header for k in KEY_FIELDS):
        return header, {}
    idx = [header.index(k) for k in KEY_FIELDS]
    rows: dict[tuple[str, ...], list[Any]] = {}
    for row in values[1:]:
        key = tuple(str(row[i]) if i < len(row) else "" for i in idx)
        rows.setdefault(key, row)
    return header, rows


def check_sheet(scenario: Scenario, values: list[list[Any]]) -> tuple[float, float]:
    """(share of annotation cells still on their key's row, share of report rows current)."""
    header, rows = _rows_by_key(values)
    total = kept = 0
    for i in scenario.annotated:
        row = rows.get(key_of(scenario.base[i]))
        for name, expected in zip(ANNOTATIONS, scenario.annotation(i), strict=True):
            total += 1
            j = header.index(name) if name in header else -1
            if row is not None and 0 <= j < len(row) and row[j] == expected:
                kept += 1
    current = 0
    p = header.index("progress_pct") if "progress_pct" in header else -1
    for record in scenario.refreshed:
        row = rows.get(key_of(record))
        if row is not None and 0 <= p < len(row) and row[p] == record["progress_pct"]:
            current += 1
    return kept / max(total, 1), current / max(len(scenario.refreshed), 1)


def annotate_and_sort(person: Any, scenario: Scenario) -> None:
    """A person adds two columns of notes on 10% of the rows, then sorts the data rows."""
    values = person.values(TITLE)
    header, _ = _rows_by_key(values)
    while header and header[-1] == "":
        header.pop()
    first = len(header) + 1
    person.set_cells(TITLE, 1, first, [list(ANNOTATIONS)])
    key_idx = [header.index(k) for k in KEY_FIELDS]
    row_of = {
        tuple(str(row[i]) for i in key_idx): n
        for n, row in enumerate(values[1:], start=2)
        if len(row) > max(key_idx)
    }
    for i in scenario.annotated:
        person.set_cells(
            TITLE, row_of[key_of(scenario.base[i])], first, [list(scenario.annotation(i))]
        )
    person.sort_rows(TITLE, header.index(SORT_COLUMN) + 1, descending=True)


@dataclass
class Options:
    sizes: tuple[int, ...]
    latency: float
    seed: int = 8
    upsert_cap: int = 0
    strategies: tuple[str, ...] = STRATEGIES
    #: Run each step in this process instead of a child (the smoke test: fast,
    #: exact counts, but RSS and times are not the strategy's own).
    in_process: bool = False
    #: 1-minute load average before and after the run.
    load: tuple[float, float] = (0.0, 0.0)

    def run(self, spec: dict[str, Any]) -> dict[str, Any]:
        return child(spec) if self.in_process else run_child(spec)


def run_size(emulator: Any, credentials: Path, size: int, opts: Options) -> list[Step]:
    scenario = Scenario(size, opts.seed)
    steps: list[Step] = []
    for strategy in opts.strategies:
        steps += run_strategy(emulator, credentials, scenario, strategy, opts)
    return steps


def run_strategy(
    emulator: Any, credentials: Path, scenario: Scenario, strategy: str, opts: Options
) -> list[Step]:
    ours = strategy == "dq-sheets-sync"
    sid = emulator.create_spreadsheet(
        "Benchmark", shared_with=[EMAIL], sheets=("Sheet1",) if ours else (TITLE,)
    )
    spec = {
        "strategy": strategy,
        "size": scenario.size,
        "seed": opts.seed,
        "url": emulator.url,
        "spreadsheet_id": sid,
        "credentials": str(credentials),
        "upsert_cap": opts.upsert_cap,
    }
    person = emulator.person(sid)
    steps: list[Step] = []
    try:
        _say(f"{scenario.size:>7} rows, {strategy}: setup")
        emulator.latency = 0.0
        opts.run({**spec, "step": "setup"})
        annotate_and_sort(person, scenario)
        if ours:
            planner = opts.run({**spec, "step": "planner"})
            steps.append(
                Step(
                    strategy,
                    scenario.size,
                    "planner",
                    peak_rss_mb=planner["peak_rss_kb"] / 1024,
                    wall=planner["plan"],
                    info=planner,
                )
            )
        emulator.latency = opts.latency
        for step in ("refresh", "nochange"):
            _say(f"{scenario.size:>7} rows, {strategy}: {step}")
            before = person.values(TITLE)
            emulator.clear_log()
            info = opts.run({**spec, "step": step})
            stats = log_stats(emulator, sid)
            after = person.values(TITLE)
            kept, current = check_sheet(scenario, after)
            s = Step(
                strategy,
                scenario.size,
                step,
                wall=info["wall"],
                api_wait=info["api_wait"],
                peak_rss_mb=info["peak_rss_kb"] / 1024,
                annotations_kept=kept,
                rows_current=current,
                sheet_cells_changed=cells_changed(before, after),
                info=info,
                **stats,
            )
            if info.get("capped"):
                _project(s, info)
            steps.append(s)
    finally:
        emulator.latency = 0.0
        with emulator.lock:
            emulator.books.pop(sid, None)
            emulator.log.clear()
    return steps


def _project(s: Step, info: dict[str, Any]) -> None:
    """Complete a capped per-row upsert by arithmetic: the rest of its row writes
    each cost one more write request, ``len(FIELDS)`` cells and the mean measured time."""
    rest = info["row_writes_total"] - info["row_writes_done"]
    per_write_bytes = s.bytes_sent / max(s.writes, 1)
    s.writes += rest
    s.cells += rest * len(FIELDS)
    s.bytes_sent += int(rest * per_write_bytes)
    s.wall += rest * info.get("seconds_per_row_write", 0.0)
    s.api_wait += rest * s.api_wait / max(s.requests - rest, 1)
    s.projected = True


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- the report ---------------------------------------------------------------------------


def _pct(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"


def _mb(n: int) -> str:
    return f"{n / 1e6:.2f} MB" if n >= 10_000 else f"{n / 1e3:.1f} kB"


def _row(cells: Sequence[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def refresh_table(steps: list[Step], step: str) -> list[str]:
    head = (
        "rows",
        "strategy",
        "Sheets requests (reads + writes)",
        "cells written",
        "bytes sent",
        "wall s (waiting for the API)",
        "write-quota min",
        "peak RSS MB",
        "annotations in place",
        "rows current",
    )
    lines = [_row(head), _row(["---"] * len(head))]
    for s in steps:
        if s.step != step:
            continue
        mark = " (projected)" if s.projected else ""
        lines.append(
            _row(
                (
                    f"{s.size:,}",
                    s.strategy,
                    f"{s.requests:,} ({s.reads} + {s.writes:,}){mark}",
                    f"{s.cells:,}{mark}",
                    _mb(s.bytes_sent),
                    f"{s.wall:.2f} ({s.api_wait:.2f}){mark}",
                    f"{s.quota_minutes:.2f}",
                    f"{s.peak_rss_mb:.0f}",
                    _pct(s.annotations_kept),
                    _pct(s.rows_current),
                )
            )
        )
    return lines


def accounting_table(steps: list[Step], scenarios: dict[int, Scenario]) -> list[str]:
    head = (
        "rows",
        "step",
        "expected data cells (changed + status + appended)",
        "data cells written (plan)",
        "data-sheet cells that changed",
        "status-sheet cells",
        "requests",
    )
    lines = [_row(head), _row(["---"] * len(head))]
    for s in steps:
        if s.strategy != STRATEGIES[0] or s.step not in ("refresh", "nochange"):
            continue
        e = scenarios[s.size].expected_cells() if s.step == "refresh" else None
        expected = (
            f"{e['changed'] + e['status'] + e['appended']:,} "
            f"({e['changed']:,} + {e['status']:,} + {e['appended']:,})"
            if e
            else "0"
        )
        data = int(s.info.get("data_cells_planned", 0))
        lines.append(
            _row(
                (
                    f"{s.size:,}",
                    s.step,
                    expected,
                    f"{data:,}",
                    f"{s.sheet_cells_changed:,}",
                    f"{s.cells - data:,}",
                    s.requests,
                )
            )
        )
    return lines


def planner_table(steps: list[Step]) -> list[str]:
    head = ("rows", "build_table s", "plan s (best of 3)", "cell updates planned", "peak RSS MB")
    lines = [_row(head), _row(["---"] * len(head))]
    for s in steps:
        if s.step == "planner":
            lines.append(
                _row(
                    (
                        f"{s.size:,}",
                        f"{s.info['build_table']:.3f}",
                        f"{s.info['plan']:.3f}",
                        f"{s.info['updates']:,}",
                        f"{s.peak_rss_mb:.0f}",
                    )
                )
            )
    return lines


def targets(steps: list[Step], scenarios: dict[int, Scenario]) -> list[str]:
    """One line per target of issue #8, for dq-sheets-sync, met or missed."""
    ours = [s for s in steps if s.strategy == STRATEGIES[0] and s.step != "planner"]
    out = []

    def line(ok: bool, text: str) -> None:
        out.append(f"- {'met' if ok else '**MISSED**'}: {text}")

    worst = max((s.requests for s in ours), default=0)
    line(worst <= 5, f"at most 5 Sheets requests per refresh (worst: {worst})")
    for s in ours:
        if s.step != "refresh":
            continue
        e = scenarios[s.size].expected_cells()
        want = e["changed"] + e["status"] + e["appended"]
        got = int(s.info.get("data_cells_planned", -1))
        line(
            got == want == s.sheet_cells_changed,
            f"{s.size:,} rows: data cells written {got:,} = changed + status + appended "
            f"{want:,} = cells that changed in the sheet {s.sheet_cells_changed:,}",
        )
        line(
            s.annotations_kept == 1.0,
            f"{s.size:,} rows: annotations in place {_pct(s.annotations_kept)}",
        )
        if s.size >= 100_000:
            line(s.wall <= 10.0, f"{s.size:,}-row refresh wall time {s.wall:.2f} s (<= 10 s)")
            line(
                s.peak_rss_mb <= 500,
                f"{s.size:,}-row refresh peak RSS {s.peak_rss_mb:.0f} MB (<= 500 MB)",
            )
    for s in ours:
        if s.step == "nochange":
            data = int(s.info.get("data_cells_planned", -1))
            line(
                data == 0 and s.sheet_cells_changed == 0,
                f"{s.size:,} rows, no change: {data} data cells written",
            )
    return out


def machine() -> str:
    model = ""
    try:
        with open("/proc/cpuinfo") as fh:
            for text in fh:
                if text.startswith("model name"):
                    model = text.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({model or platform.processor() or 'unknown CPU'}), "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


def report(steps: list[Step], scenarios: dict[int, Scenario], opts: Options, seconds: float) -> str:
    lat = f"{opts.latency * 1000:.0f} ms"
    lines = [
        "# Benchmark: dq-sheets-sync, full rewrite and per-row upsert (issue #8)",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}; "
        f"{seconds / 60:.1f} minutes in all; load average {opts.load[0]:.2f} before and "
        f"{opts.load[1]:.2f} after (other work was running on the machine: times are noisy, "
        "counts are exact).",
        "",
        "Command: `python -m tests.benchmarks.bench_sync --sizes "
        + ",".join(str(n) for n in opts.sizes)
        + f" --latency {opts.latency}"
        + (f" --upsert-cap {opts.upsert_cap}" if opts.upsert_cap else "")
        + "`",
        "",
        f"Sheets API emulator (in the parent process) answering each request after {lat}; "
        "each strategy in its own child process. A mission_progress-like worksheet of 13 "
        "fields, two annotation columns filled on 10% of the rows, the rows sorted by "
        "`progress_pct` by a person, then a refresh where 1% of the rows changed, 0.5% are "
        "new and 0.2% are gone. Records are generated in-process (deterministic, seed "
        f"{opts.seed}) and handed to the engine through a `StaticSource`; the sandbox's "
        "HTTP fetch is left out of every strategy alike.",
        "",
        "## Refresh (1% changed, 0.5% new, 0.2% gone, rows sorted by a person)",
        "",
        *refresh_table(steps, "refresh"),
        "",
        "## No-change refresh (the same report again)",
        "",
        *refresh_table(steps, "nochange"),
        "",
        "## dq-sheets-sync: cells written against cells that changed",
        "",
        *accounting_table(steps, scenarios),
        "",
        "## The planner alone (`sync.table.build_table` + `sync.plan.plan`, no I/O)",
        "",
        *planner_table(steps),
        "",
        "## Targets (dq-sheets-sync)",
        "",
        *targets(steps, scenarios),
        "",
        "## How to read this",
        "",
        "- Sheets requests: from the emulator's log, token requests excluded; reads are GETs "
        "(`spreadsheets.get`, `values.get`, `values:batchGet`), writes everything else.",
        "- Cells written: non-null cells in the bodies of value writes (`values.update`, "
        '`values:batchUpdate`, `values.append`), as the emulator counts them ("" counts; '
        "clears do not). For dq-sheets-sync this includes the `Sync status` worksheet's row.",
        "- Bytes sent: request bodies (JSON), no HTTP headers. Wall time: in the child, from "
        "creating the client (token request included) to the last answer; the report is "
        "already in memory. In brackets, the time spent waiting for answers (the sum of "
        "`requests`' `Response.elapsed`: the injected latency plus the emulator's own work, "
        "which is not Google's); the rest is the strategy's own CPU time in the child.",
        f"- Write-quota minutes: writes / {WRITES_PER_MINUTE} (Google allows "
        f"{WRITES_PER_MINUTE} write requests per minute per user), unrounded: the share of a "
        "minute's quota the refresh uses. Above 1.0 the refresh must wait for the quota, "
        "so its real wall time is at least that many minutes minus one.",
        "- Peak RSS: `VmHWM` of the child that ran the strategy (interpreter, libraries, "
        "the report's records, the strategy's own data); the emulator is not in it. Not "
        "`ru_maxrss`: on Linux it keeps the high-water mark of the memory a process had "
        "before `exec`, i.e. of the parent holding the emulator's sheets.",
        "- Annotations in place: annotation cells found on the row of the key they were typed "
        "beside. Rows current: report rows whose key has a row showing the new "
        "`progress_pct`.",
        "- Full rewrite: gspread `worksheet.clear()`, `resize(rows=...)` when the grid is too "
        "small, `worksheet.update(values, 'A1')`; two `spreadsheets.get` to open the "
        "worksheet. Per-row upsert: see `tests/benchmarks/strategies.py` (one header read and "
        "one key-column read per refresh, which is fewer reads than Zapier's per-record "
        "lookup; one `values.update` per changed row and one `values.append` per new row; "
        "no request when nothing changed).",
    ]
    if any(s.projected for s in steps):
        lines.append(
            f"- (projected): the per-row upsert was stopped after {opts.upsert_cap} row "
            "writes; its remaining row writes are added by arithmetic (one write request, "
            f"{len(FIELDS)} cells and the measured mean seconds each). Annotations and rows "
            "current are measured on the partial run."
        )
    return "\n".join(lines) + "\n"


# -- command line ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.bench_sync")
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Sheets request")
    parser.add_argument("--out", default="", help="also write the Markdown report here")
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument(
        "--upsert-cap",
        type=int,
        default=0,
        help="stop the per-row upsert after N row writes and project the rest (0: no cap)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(json.loads(args.child))))
        return 0
    from tests.emulator import Emulator

    opts = Options(
        sizes=tuple(int(s) for s in args.sizes.split(",") if s.strip()),
        latency=args.latency,
        seed=args.seed,
        upsert_cap=args.upsert_cap,
    )
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    steps: list[Step] = []
    scenarios = {n: Scenario(n, opts.seed) for n in opts.sizes}
    with tempfile.TemporaryDirectory() as tmp, Emulator() as emulator:
        credentials = emulator.service_account(Path(tmp), email=EMAIL)
        for size in opts.sizes:
            steps += run_size(emulator, credentials, size, opts)
    opts.load = (load_before, os.getloadavg()[0])
    text = report(steps, scenarios, opts, time.perf_counter() - started)
    print(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
