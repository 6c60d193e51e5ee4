"""Crash consistency: SIGKILL a real ``--once`` at a seeded moment, then run clean.

One trial: a spreadsheet in the emulator (with latency, so a run lasts long
enough to be cut), optionally synced once already and annotated by a person
(notes beside keys, a hand-typed row, a sort), a report that moved on (new
values, learners who joined or left, a new field: so the run has a structural
write), then ``python -m sync --once`` killed

- from inside an emulator ``before_request`` hook at a precise phase: the
  read (``spreadsheets.get``, first ``values.batchGet``), the plan (killed as
  the structural write arrives, which is then dropped: planned, nothing
  written), the structural write (applied, then killed), the re-read guard
  (second ``values.batchGet``), the values write (dropped, or applied then
  killed);
- or at a random time after its first request to the Teams API.

Then a clean ``--once`` must exit 0 and leave every worksheet exactly right
(``common.sheet_problems``).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import DEFAULT_KEYS, load_config
from sync.engine import Engine
from sync.sandbox import Sandbox
from sync.sheets.google import GoogleBackend
from tests.e2e import WORKSHEETS, Site
from tests.emulator import Emulator, LoggedRequest
from tests.harness import StaticSource
from tests.reliability.common import Notes, annotate, sheet_problems, typed

#: Where a kill is aimed: (request kind, nth, drop the request) or a random time.
PHASES: dict[str, tuple[str, int, bool] | None] = {
    "read: spreadsheets.get": ("spreadsheets.get", 1, False),
    "read: values.batchGet": ("values.batchGet", 1, False),
    "plan (structure dropped)": ("spreadsheets.batchUpdate", 1, True),
    "structure applied": ("spreadsheets.batchUpdate", 1, False),
    "re-read guard": ("values.batchGet", 2, False),
    "values dropped": ("values.batchUpdate", 1, True),
    "values applied": ("values.batchUpdate", 1, False),
    "random time": None,
}
#: Random kills land within this many seconds of the run's first Teams API request.
RANDOM_WINDOW = 1.2
LATENCY = 0.03
NEW_FIELDS = ("cohort", "mentor", "team.region")
KEY_ENV = "DATAQUEST_API_KEY"


@dataclass
class CrashTrial:
    seed: int
    phase: str
    first_sync: bool
    killed: bool = False
    clean_exit: int = -1
    problems: list[str] = field(default_factory=list)
    clean_stderr: str = ""

    @property
    def converged(self) -> bool:
        return self.clean_exit == 0 and not self.problems


def _sync_in_process(site: Site, reports: dict[str, list[dict[str, Any]]]) -> None:
    """A baseline sync without a subprocess (the trial's setup, not under test)."""
    config = load_config(site.config_path, {KEY_ENV: site.sandbox.api_key})
    backend = GoogleBackend(site.spreadsheet_id, site.credentials, api_url=site.emulator.url)
    try:
        result = Engine(config, backend, StaticSource(reports)).run_cycle()
    finally:
        backend.close()
    if result.exit_code != 0:
        raise RuntimeError(f"baseline sync failed: {result.results}")


def _reports(sandbox: Sandbox) -> dict[str, list[dict[str, Any]]]:
    return {e: sandbox.records(e) for e, _ in WORKSHEETS}


def _wait_logged(emulator: Emulator, kind: str, n: int, timeout: float = 3.0) -> None:
    """Until the emulator has finished the ``n``th request of ``kind`` (applied or dropped)."""
    deadline = time.monotonic() + timeout
    while len(emulator.requests_of(kind)) < n and time.monotonic() < deadline:
        time.sleep(0.005)


def run_crash_trial(
    seed: int,
    workdir: Path,
    emulator: Emulator,
    sandbox: Sandbox,
    *,
    phase: str | None = None,
) -> CrashTrial:
    rng = random.Random(seed)
    phase = phase or rng.choice(list(PHASES))
    first_sync = rng.random() < 0.25
    trial = CrashTrial(seed, phase, first_sync)
    workdir.mkdir(parents=True, exist_ok=True)
    emulator.latency = LATENCY
    sandbox.auto_advance = False
    sandbox.epoch = rng.randrange(0, 20)
    site = Site(workdir, emulator, sandbox)
    # Several days on, most of mission_progress may change keys: that is the
    # missing-rows guard's business (tested elsewhere), not a crash's.
    site.write_config(extra="\n[sync]\nmax_missing_fraction = 1.0\n")
    titles = dict(WORKSHEETS)
    notes: dict[str, Notes] = {}
    if not first_sync:
        _sync_in_process(site, _reports(sandbox))
        for endpoint, title in WORKSHEETS:
            notes[title] = annotate(site.person, title, rng, DEFAULT_KEYS[endpoint])
            width = len(site.values(title)[0])
            site.person.sort_rows(title, rng.randint(1, width), descending=rng.random() < 0.5)
        sandbox.advance(rng.randint(1, 3))
    reports = _reports(sandbox)
    extra = rng.choice(NEW_FIELDS)
    for rec in reports["course_progress"]:
        rec[extra] = f"{extra} {rng.randrange(5)}"
    body = json.dumps(reports["course_progress"])
    sandbox.inject(200, endpoint="course_progress", body=body)
    before = len(sandbox.requests)

    env = site.env(RUNTIME_DIRECTORY=str(workdir))
    cmd = [sys.executable, "-m", "sync", "--config", str(site.config_path), "--once"]
    holder: dict[str, subprocess.Popen[str]] = {}
    aim = PHASES[phase]
    fired = threading.Event()
    if aim is not None:
        kind, nth, drop = aim

        def kill(_: LoggedRequest) -> None:
            proc = holder.get("proc")
            if proc is not None:
                os.kill(proc.pid, signal.SIGKILL)
                fired.set()

        emulator.before_request(kill, kind=kind, nth=nth)
        if drop:
            emulator.inject(None, kind=kind, drop=True, after=nth - 1)
    proc = subprocess.Popen(
        cmd,
        env=env,
        cwd=workdir,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    holder["proc"] = proc
    if aim is None:
        deadline = time.monotonic() + 30
        while len(sandbox.requests) == before and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.002)
        time.sleep(rng.uniform(0.0, RANDOM_WINDOW))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    trial.killed = proc.returncode == -signal.SIGKILL
    # Leave no armed hook or fault behind for the clean run.
    if aim is not None:
        kind, nth, _ = aim
        if fired.is_set():
            _wait_logged(emulator, kind, nth)
        with emulator.lock:
            emulator.hooks.pending.clear()
            emulator.faults.pending.clear()
    consumed = any(r.endpoint == "course_progress" for r in sandbox.requests[before:])
    if consumed:
        sandbox.inject(200, endpoint="course_progress", body=body)

    clean = site.cli("--once", RUNTIME_DIRECTORY=str(workdir))
    trial.clean_exit = clean.returncode
    trial.clean_stderr = clean.stderr[-2000:]
    for endpoint, title in WORKSHEETS:
        table = typed(endpoint, reports[endpoint])
        found = sheet_problems(site.values(title), table, notes.get(title, Notes()))
        trial.problems.extend(f"{titles[endpoint]}: {p}" for p in found)
    return trial


def run_crash_trials(
    seeds: range | list[int], workdir: Path, emulator: Emulator, sandbox: Sandbox
) -> list[CrashTrial]:
    """Trials for ``seeds``, the phases taken in turn so every phase gets its share."""
    names = list(PHASES)
    return [
        run_crash_trial(
            seed, workdir / f"crash-{seed}", emulator, sandbox, phase=names[i % len(names)]
        )
        for i, seed in enumerate(seeds)
    ]


def describe(trial: CrashTrial) -> str:
    state = "converged" if trial.converged else "NOT converged"
    how = "killed" if trial.killed else "finished before the kill"
    return (
        f"seed {trial.seed} ({trial.phase}, {'first sync' if trial.first_sync else 'later sync'}, "
        f"{how}): {state}, clean exit {trial.clean_exit}"
        + ("" if trial.converged else f"; {trial.problems[:5]} {trial.clean_stderr[-500:]}")
    )
