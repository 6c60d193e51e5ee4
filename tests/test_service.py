"""Service mode in-process, on a fake clock: the timetable, retries, stop and reload.

The service writes a real .xlsx workbook (the workbook backend) and reads its
reports from an in-process source built on the sandbox's data generator; time
is a fake clock whose ``sleep`` moves it on, so hours pass in milliseconds.
The second half runs the real CLI as a subprocess against the sandbox and
the Sheets API emulator (or a workbook).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from sync.config import Config, parse_config
from sync.engine import Cancelled
from sync.errors import EX_OK, AuthError, BadResponse, SourceError
from sync.lock import WriterLock
from sync.notify import Notifier
from sync.sandbox import Sandbox
from sync.sandbox_data import World
from sync.service import Service, status_line
from sync.sheets.workbook import WorkbookBackend
from sync.timetable import next_at, next_slot
from tests.e2e import Site, clean_env
from tests.emulator import Emulator

START = datetime(2024, 1, 15, 11, 0, tzinfo=UTC)


class FakeClock:
    """Seconds since START; ``sleep`` advances it and fires due events."""

    def __init__(self) -> None:
        self.t = 0.0
        self.events: list[tuple[float, Callable[[], None]]] = []
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return START + timedelta(seconds=self.t)

    def monotonic(self) -> float:
        return self.t

    def at(self, t: float, action: Callable[[], None]) -> None:
        self.events.append((t, action))
        self.events.sort(key=lambda e: e[0])

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        target = self.t + seconds
        while self.events and self.events[0][0] <= target:
            when, action = self.events.pop(0)
            self.t = max(self.t, when)
            action()
            return  # an event wakes the sleeper, like a signal would
        self.t = target


@dataclass
class FakeSource:
    """The sandbox's generated reports, in-process; each fetch is one epoch on."""

    clock: FakeClock
    fail: list[Exception | None] = field(default_factory=list)
    duration: list[float] = field(default_factory=list)
    calls: list[float] = field(default_factory=list)
    on_fetch: Callable[[], None] | None = None
    world: World = field(default_factory=lambda: World(1, 4))

    def fetch(self, endpoint: str, *, params: Any = None) -> list[dict[str, Any]]:
        self.calls.append(self.clock.t)
        n = len(self.calls) - 1
        if self.on_fetch is not None:
            self.on_fetch()
        if n < len(self.duration):
            self.clock.t += self.duration[n]
        if n < len(self.fail) and self.fail[n] is not None:
            raise self.fail[n]  # type: ignore[misc]
        return self.world.records(endpoint, n)


def make_config(tmp_path: Path, **schedule: Any) -> Config:
    data = {
        "dataquest": {"team_id": "12345"},
        "workbook": {"path": "out.xlsx"},
        "schedule": schedule or {"every": "1h"},
        "worksheet": [{"endpoint": "time_spent", "title": "Time spent"}],
    }
    return parse_config(data, env={"DATAQUEST_API_KEY": "k" * 24}, base_dir=tmp_path)


class Harness:
    def __init__(self, tmp_path: Path, config: Config, **kwargs: Any) -> None:
        self.clock = FakeClock()
        self.source = kwargs.pop("source", None) or FakeSource(self.clock)
        self.path = tmp_path / "out.xlsx"
        env = {"RUNTIME_DIRECTORY": str(tmp_path), **kwargs.pop("env", {})}
        self.service = Service(
            config,
            env=env,
            open_backend=lambda c: WorkbookBackend(c.workbook.path, timezone="UTC"),
            make_source=lambda c, sleep: self.source,
            now=self.clock.now,
            monotonic=self.clock.monotonic,
            sleep=self.clock.sleep,
            lock_wait_seconds=0,
            **kwargs,
        )

    def run_until(self, t: float) -> int:
        self.clock.at(t, lambda: self.service.request_stop("test over"))
        return self.service.run()

    def status(self) -> dict[str, str]:
        book = openpyxl.load_workbook(self.path)
        sheet = book["Sync status"]
        rows = list(sheet.iter_rows(values_only=True))
        header = list(rows[0])
        return {r[0]: str(r[header.index("result")]) for r in rows[1:]}


# --- the timetable (pure) ----------------------------------------------------------


def test_next_slot_skips_slots_a_long_cycle_ran_past() -> None:
    t0 = START
    assert next_slot(None, t0, 60) == t0 + timedelta(seconds=60)
    assert next_slot(t0, t0 + timedelta(seconds=5), 60) == t0 + timedelta(seconds=60)
    # a cycle that took 150 s: the slots at 60 and 120 are gone, the next is 180
    assert next_slot(t0, t0 + timedelta(seconds=150), 60) == t0 + timedelta(seconds=180)


def test_next_at_uses_the_timezone_and_rolls_over_to_tomorrow() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    now = datetime(2024, 1, 15, 10, 0, tzinfo=UTC)  # 11:00 in Berlin
    assert next_at(["07:00", "13:00"], now, berlin) == datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
    late = datetime(2024, 1, 15, 20, 0, tzinfo=UTC)  # 21:00 in Berlin
    assert next_at(["07:00", "13:00"], late, berlin) == datetime(2024, 1, 16, 6, 0, tzinfo=UTC)
    new_york = ZoneInfo("America/New_York")
    assert next_at(["07:00"], now, new_york) == datetime(
        2024, 1, 15, 12, 0, tzinfo=UTC
    )  # 05:00 there


def test_next_at_across_daylight_saving_time() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    # 07:00 in summer time is 05:00 UTC, the day after the clocks moved
    before = datetime(2024, 3, 30, 12, 0, tzinfo=UTC)
    assert next_at(["07:00"], before, berlin) == datetime(2024, 3, 31, 5, 0, tzinfo=UTC)
    # 02:30 does not exist on 31 March in Berlin: it runs an hour later (03:30 CEST)
    gap = next_at(["02:30"], before, berlin)
    assert gap.astimezone(berlin).hour == 3 and gap.date().day == 31


def test_status_line_reads_like_a_sentence() -> None:
    from sync.engine import CycleResult, WorksheetResult

    ok = WorksheetResult("Time spent", "time_spent", "synced")
    bad = WorksheetResult("Courses", "course_progress", "failed", error=SourceError("down"))
    when = datetime(2024, 1, 15, 12, 0)
    assert status_line(CycleResult((ok,), START, 1.0), when) == (
        "12:00 1 worksheet synced, 0 cells updated"
    )
    assert status_line(CycleResult((ok, bad), START, 1.0), when) == (
        "12:00 1 of 2 worksheets synced, 0 cells updated; failed: Courses"
    )


# --- the loop on a fake clock ------------------------------------------------------


def test_first_cycle_at_start_then_every_interval(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_config(tmp_path, every="1h"))
    assert h.run_until(3 * 3600 + 10) == EX_OK
    assert h.source.calls == [0, 3600, 7200, 10800]
    assert h.status() == {"Time spent": "ok"}
    # the sheet follows the source: the last cycle's hours, one row per learner
    rows = list(openpyxl.load_workbook(h.path)["Time spent"].iter_rows(values_only=True))
    col = {name: i for i, name in enumerate(rows[0])}
    sheet = {r[col["email"]]: r[col["all time: hours spent"]] for r in rows[1:]}
    latest = h.source.world.records("time_spent", 3)
    assert len(sheet) == len(rows) - 1
    assert {r["email"]: r["all time: hours spent"] for r in latest}.items() <= sheet.items()


def test_a_long_cycle_never_triggers_a_burst_of_catch_up_cycles(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_config(tmp_path, every="1h"))
    # the second cycle takes 2.5 hours: the slots at 2h and 3h are skipped
    h.source.duration = [0, 2.5 * 3600]
    h.run_until(6 * 3600 + 10)
    assert h.source.calls == [0, 3600, 4 * 3600, 5 * 3600, 6 * 3600]


def test_transient_failures_retry_after_1_2_4_minutes(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_config(tmp_path, every="1h"))
    down = SourceError("Dataquest answered HTTP 502")
    h.source.fail = [down, down, down, down, None]
    h.run_until(3600 + 10)
    assert h.source.calls == [0, 60, 180, 420, 900, 3600]
    assert h.status() == {"Time spent": "ok"}


def test_retries_never_go_past_the_next_scheduled_run(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_config(tmp_path, every="3m"))
    down = SourceError("Dataquest could not be reached")
    h.source.fail = [down, down, down, None]
    h.run_until(400)
    # 0 fails, retry at 60 fails; 60 + 120 = 180 is the scheduled run itself,
    # which fails and starts a new series (1 minute), then succeeds
    assert h.source.calls == [0, 60, 180, 240, 360]


def test_a_worksheet_failure_is_recorded_and_the_service_keeps_running(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_config(tmp_path, every="1h"))
    h.source.fail = [None, BadResponse("Dataquest's time_spent returned an HTML page")]
    statuses: list[dict[str, str]] = []
    h.clock.at(3600 + 5, lambda: statuses.append(h.status()))
    h.run_until(2 * 3600 + 5)
    # not transient: no retry, the next scheduled run goes on and succeeds
    assert h.source.calls == [0, 3600, 7200]
    assert statuses[0]["Time spent"].startswith("failed: Dataquest's time_spent returned")
    assert h.status() == {"Time spent": "ok"}


def test_a_credentials_problem_in_the_first_cycle_exits_78(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_config(tmp_path, every="1h"))
    h.source.fail = [AuthError("Dataquest refused the API key (HTTP 401)")]
    with pytest.raises(AuthError) as caught:
        h.service.run()
    assert caught.value.exit_code == 78


def test_at_times_with_a_timezone(tmp_path: Path) -> None:
    config = make_config(tmp_path, at=["13:00", "07:00"], timezone="Europe/Berlin")
    h = Harness(tmp_path, config)
    h.run_until(26 * 3600)
    # START is 12:00 in Berlin: at start, 13:00 (1 h later), 07:00 next day (19 h), 13:00 (25 h)
    assert h.source.calls == [0, 3600, 19 * 3600, 25 * 3600]


def test_stop_while_idle_returns_at_once(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_config(tmp_path, every="1h"))
    assert h.run_until(100) == EX_OK
    assert h.clock.t == 100
    assert h.source.calls == [0]


def test_stop_before_the_first_write_writes_nothing(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_config(tmp_path, every="1h"))
    h.source.on_fetch = lambda: h.service.request_stop("SIGTERM received")
    assert h.service.run() == EX_OK
    assert not h.path.exists()


def test_a_stop_interrupts_waits_inside_a_cycle(tmp_path: Path) -> None:
    h = Harness(tmp_path, make_config(tmp_path, every="1h"))
    h.clock.at(5, lambda: h.service.request_stop("SIGTERM received"))
    with pytest.raises(Cancelled):
        h.service.pause(60)  # e.g. a Retry-After wait of the Dataquest client
    assert h.clock.t == 5


def test_a_write_stuck_past_the_stop_bound_is_cut_off(tmp_path: Path) -> None:
    exited: list[int] = []
    released = threading.Event()

    class StuckBackend(WorkbookBackend):
        def apply_values(self, plans: Any) -> None:
            h.service.request_stop("SIGTERM received")
            released.wait(5)  # the write hangs until the bound cuts it off
            super().apply_values(plans)

    h = Harness(
        tmp_path,
        make_config(tmp_path, every="1h"),
        stop_bound=0.05,
        force_exit=lambda code: (exited.append(code), released.set()),
    )
    h.service._open_backend = lambda c: StuckBackend(c.workbook.path, timezone="UTC")
    h.service.run()
    assert exited == [75]


def test_reload_picks_up_a_new_worksheet_and_ignores_a_broken_config(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.toml"
    base = (
        '[dataquest]\nteam_id = "12345"\n[workbook]\npath = "out.xlsx"\n[schedule]\nevery = "1h"\n'
    )
    first = base + '[[worksheet]]\nendpoint = "time_spent"\ntitle = "Time spent"\n'
    path.write_text(first)
    env = {"DATAQUEST_API_KEY": "k" * 24}
    from sync.config import load_config

    h = Harness(tmp_path, load_config(path, env), env=env)
    h.service.config_arg = str(path)
    second = base + '[[worksheet]]\nendpoint = "time_spent"\ntitle = "Hours"\n'

    def reload(text: str) -> Callable[[], None]:
        def act() -> None:
            path.write_text(text)
            h.service.request_reload()

        return act

    h.clock.at(100, reload(second))
    h.clock.at(200, reload("[dataquest\nbroken"))
    h.run_until(3600 + 10)
    book = openpyxl.load_workbook(h.path)
    assert "Hours" in book.sheetnames
    assert h.service.config.worksheets[0].title == "Hours"
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("keeping the previous configuration" in m and "TOML" in m for m in errors)


def test_systemd_notifications_and_watchdog_during_long_waits(tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(0.2)
    messages: list[str] = []
    done = threading.Event()

    def drain() -> None:  # systemd reads as messages come; a full queue would block
        while not done.is_set():
            try:
                messages.append(listener.recv(4096).decode())
            except TimeoutError:
                continue

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        h = Harness(
            tmp_path,
            make_config(tmp_path, every="1h"),
            notifier=Notifier(address),
            env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "600000000"},  # 10 min
        )
        h.run_until(3600 + 10)
        deadline = time.monotonic() + 5
        while not any(m.startswith("STOPPING=1") for m in messages[-1:]):
            assert time.monotonic() < deadline, messages[-3:]
            time.sleep(0.01)
    finally:
        done.set()
        reader.join()
        listener.close()
    assert messages[0].startswith("READY=1")
    statuses = [m for m in messages if m.startswith("STATUS=") and "synced" in m]
    assert re.fullmatch(r"STATUS=\d\d:\d\d 1 worksheet synced, \d+ cells updated\.?.*", statuses[0])
    # pinged every 5 minutes through an hour of idling, never sleeping longer
    assert sum(m == "WATCHDOG=1" for m in messages) >= 12
    assert max(h.clock.sleeps) <= 300
    assert messages[-1].startswith("STOPPING=1")


# --- the real CLI as a subprocess ----------------------------------------------------
#
# Subprocesses cannot share a fake clock: these use a real 2 s interval (allowed
# only with DQ_SHEETS_SYNC_ALLOW_SHORT_INTERVALS=1) and loose timing assertions.

BOUND = 30.0  # the stop bound the service promises


class Child:
    """``python -m sync`` in the background; always killed by ``close``."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.log_path = cwd / f"service-{len(list(cwd.glob('service-*.log')))}.log"
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sync", *args],
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, sig: int) -> float:
        self.proc.send_signal(sig)
        return time.monotonic()

    def wait(self, timeout: float = BOUND + 5) -> int:
        return self.proc.wait(timeout=timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


def wait_for(check: Callable[[], Any], child: Child, what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        if child.proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}; service log:\n{child.log()[-3000:]}")


@pytest.fixture
def team(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(clock=time.monotonic, rate_per_minute=1000, learners=8)


def workbook_site(tmp_path: Path, team: Sandbox, title: str = "Time spent") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        f'[dataquest]\nteam_id = "{team.team_id}"\nbase_url = "{team.url}"\n'
        '[workbook]\npath = "out.xlsx"\n[schedule]\nevery = "2s"\n'
        f'[[worksheet]]\nendpoint = "time_spent"\ntitle = "{title}"\n',
        encoding="utf-8",
    )
    return path


def service_env(team: Sandbox, tmp_path: Path, **extra: str) -> dict[str, str]:
    return clean_env(
        DATAQUEST_API_KEY=team.api_key,
        DQ_SHEETS_SYNC_ALLOW_SHORT_INTERVALS="1",
        RUNTIME_DIRECTORY=str(tmp_path),
        **extra,
    )


def sheet_results(path: Path) -> dict[str, str]:
    """The status worksheet's "result" per worksheet, read like a person would."""
    try:
        book = openpyxl.load_workbook(path, read_only=True)
    except (OSError, KeyError, zipfile.BadZipFile):
        return {}
    if "Sync status" not in book.sheetnames:
        return {}
    rows = list(book["Sync status"].iter_rows(values_only=True))
    book.close()
    header = list(rows[0])
    return {r[0]: str(r[header.index("result")]) for r in rows[1:] if r and r[0]}


def test_service_runs_cycles_and_the_sheet_follows_the_team(
    tmp_path: Path, emulator: Emulator, team: Sandbox
) -> None:
    site = Site(tmp_path, emulator, team, worksheets=[("time_spent", "Time spent")])
    site.write_config([("time_spent", "Time spent")], extra='\n[schedule]\nevery = "2s"\n')
    child = Child(["--config", str(site.config_path)], service_env(team, tmp_path), tmp_path)
    try:
        wait_for(
            lambda: child.log().count("worksheet synced") >= 3, child, "three cycles", timeout=30
        )
        child.signal(signal.SIGTERM)
        assert child.wait() == 0
    finally:
        child.close()
    assert len(team.requests) >= 3
    sheet = {r["email"]: r["all time: hours spent"] for r in site.records("Time spent")}
    world = World(team.seed, team.learners)
    epochs = [
        e
        for e in range(2, team.epoch + 1)
        if all(
            sheet.get(r["email"]) == r["all time: hours spent"]
            for r in world.records("time_spent", e)
        )
    ]
    assert epochs, "the sheet shows the data of the third cycle or a later one"
    assert site.records("Sync status")[0]["result"] == "ok"


def test_sigterm_during_a_slow_write_finishes_it_and_exits_0(
    tmp_path: Path, emulator: Emulator, team: Sandbox
) -> None:
    site = Site(tmp_path, emulator, team, worksheets=[("time_spent", "Time spent")])
    site.write_config([("time_spent", "Time spent")], extra='\n[schedule]\nevery = "2s"\n')
    emulator.latency = 0.3
    child = Child(["--config", str(site.config_path)], service_env(team, tmp_path), tmp_path)
    sent: list[float] = []
    emulator.before_request(
        lambda req: sent.append(child.signal(signal.SIGTERM)), kind="values.batchUpdate"
    )
    try:
        assert child.wait() == 0
        stopped = time.monotonic()
    finally:
        child.close()
    assert sent and stopped - sent[0] < BOUND
    # the write in progress was finished: every learner is on the sheet
    emails = [r["email"] for r in site.records("Time spent")]
    assert len(emails) == team.learners
    emulator.latency = 0.0
    once = site.cli("--once", timeout=60, DQ_SHEETS_SYNC_ALLOW_SHORT_INTERVALS="1")
    assert once.returncode == 0, once.stderr
    emails = [r["email"] for r in site.records("Time spent")]
    assert len(emails) == len(set(emails)) >= team.learners  # converged, no duplicates


def test_systemd_notify_reload_and_a_broken_config(tmp_path: Path, team: Sandbox) -> None:
    config = workbook_site(tmp_path, team)
    address = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(address)
    listener.settimeout(0.2)
    messages: list[str] = []
    done = threading.Event()

    def drain() -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                messages.extend(listener.recv(4096).decode().split("\n"))

    reader = threading.Thread(target=drain)
    reader.start()
    env = service_env(team, tmp_path, NOTIFY_SOCKET=address, WATCHDOG_USEC="400000")
    child = Child(["--config", str(config)], env, tmp_path)
    try:
        wait_for(lambda: "READY=1" in messages, child, "READY=1")
        wait_for(
            lambda: any(m.startswith("STATUS=") and "1 worksheet synced" in m for m in messages),
            child,
            "STATUS= after a cycle",
        )
        wait_for(lambda: messages.count("WATCHDOG=1") >= 3, child, "watchdog pings")
        # SIGHUP with a new worksheet title: the new tab appears
        workbook_site(tmp_path, team, title="Hours")
        child.signal(signal.SIGHUP)
        wait_for(lambda: "RELOADING=1" in messages, child, "RELOADING=1")
        reloaded = messages.index("RELOADING=1")
        assert any(m.startswith("MONOTONIC_USEC=") for m in messages[reloaded:])
        wait_for(lambda: "READY=1" in messages[reloaded:], child, "READY=1 after the reload")
        wait_for(lambda: "Hours" in sheet_results(tmp_path / "out.xlsx"), child, "the new tab")
        # a broken config is logged and ignored; the service goes on
        config.write_text("[dataquest\nbroken", encoding="utf-8")
        child.signal(signal.SIGHUP)
        wait_for(lambda: "keeping the previous configuration" in child.log(), child, "a log line")
        seen = len(messages)
        wait_for(lambda: any("synced" in m for m in messages[seen:]), child, "a cycle after that")
        child.signal(signal.SIGTERM)
        assert child.wait() == 0
        deadline = time.monotonic() + 5
        while "STOPPING=1" not in messages and time.monotonic() < deadline:
            time.sleep(0.01)  # already sent; the reader thread may not have it yet
    finally:
        child.close()
        done.set()
        reader.join()
        listener.close()
    assert "STOPPING=1" in messages[-3:]
    line = [x for x in child.log().splitlines() if "keeping the previous configuration" in x]
    assert len(line) == 1 and "TOML" in line[0]


def test_once_exits_75_while_another_writer_holds_the_lock(tmp_path: Path, team: Sandbox) -> None:
    config = workbook_site(tmp_path, team)
    env = service_env(team, tmp_path, DQ_SHEETS_SYNC_LOCK_WAIT="0.5")
    holder = WriterLock(str((tmp_path / "out.xlsx").resolve()), env=env, wait=0)
    with holder:
        once = subprocess.run(
            [sys.executable, "-m", "sync", "--config", str(config), "--once"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert once.returncode == 75, once.stderr
        assert f"pid {os.getpid()}" in once.stderr
        # the service waits its turn too: it keeps running and syncs once the lock is free
        child = Child(["--config", str(config)], env, tmp_path)
        try:
            wait_for(lambda: "is writing to" in child.log(), child, "the service to find it busy")
            holder.release()
            wait_for(lambda: sheet_results(tmp_path / "out.xlsx"), child, "a sync after release")
            child.signal(signal.SIGTERM)
            assert child.wait() == 0
        finally:
            child.close()


def test_a_failing_dataquest_is_recorded_then_the_service_recovers(
    tmp_path: Path, team: Sandbox
) -> None:
    config = workbook_site(tmp_path, team)
    team.inject(500, count=2)
    child = Child(["--config", str(config)], service_env(team, tmp_path), tmp_path)
    seen: list[str] = []

    def watch() -> bool:
        result = sheet_results(tmp_path / "out.xlsx").get("Time spent")
        if result and (not seen or seen[-1] != result):
            seen.append(result)
        return bool(seen) and seen[-1] == "ok"

    try:
        wait_for(watch, child, "a failure, then success", timeout=30)
        child.signal(signal.SIGTERM)
        assert child.wait() == 0
    finally:
        child.close()
    assert seen[0].startswith("failed: ") and "HTTP 500" in seen[0]
    assert seen[-1] == "ok"


def test_a_second_ctrl_c_stops_at_once_with_130(
    tmp_path: Path, emulator: Emulator, team: Sandbox
) -> None:
    site = Site(tmp_path, emulator, team, worksheets=[("time_spent", "Time spent")])
    site.write_config([("time_spent", "Time spent")], extra='\n[schedule]\nevery = "2s"\n')
    env = service_env(team, tmp_path)
    assert site.cli("--once", **env).returncode == 0  # the worksheet exists: reads take 2 calls
    child = Child(["--config", str(site.config_path)], env, tmp_path)
    first = threading.Event()

    def interrupt(req: Any) -> None:
        child.signal(signal.SIGINT)  # the read goes on: nothing written yet
        emulator.latency = 5.0  # the rest of the read hangs
        first.set()

    emulator.before_request(interrupt, kind="spreadsheets.get")
    try:
        assert first.wait(20), child.log()
        time.sleep(0.5)
        second = child.signal(signal.SIGINT)
        assert child.wait() == 130
        assert time.monotonic() - second < 4  # did not wait for the slow read
    finally:
        child.close()
    assert "Interrupted." in child.log()
