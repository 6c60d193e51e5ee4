"""Service mode: refresh on the configured schedule until told to stop.

What this module owns:

- the loop that runs the timetable of ``sync.timetable`` (``[schedule] every``
  or ``at``); the first cycle runs at start;
- one cycle at a time, each under the single-writer lock;
- retries of a transient failure (exit code 75) after 1, 2, 4... minutes
  (``retry_delay``), never later than the next scheduled run (which starts a
  new series);
- signals: SIGTERM/SIGINT stop (a cycle that has not written yet stops at its
  next checkpoint, one that is writing finishes its write; bounded by
  ``STOP_BOUND`` seconds), a second SIGINT stops at once (``KeyboardInterrupt``,
  exit 130), SIGHUP re-reads the config and keeps the old one if the new one
  is invalid;
- systemd notifications (``sync.notify``): READY=1, STATUS= after each cycle,
  WATCHDOG=1 from the main loop (also during long waits), RELOADING=1/READY=1
  around a reload, STOPPING=1.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import FrameType

from sync import logs
from sync.config import Config, find_config_path, load_config
from sync.dataquest import DataquestClient
from sync.engine import Cancelled, CycleResult, Engine, Source
from sync.errors import EX_CONFIG, EX_OK, EX_TEMPFAIL, ConfigError, SyncError
from sync.lock import WriterLock
from sync.notify import Notifier, Watchdog
from sync.runner import check_only, lock_wait
from sync.sheets import open_backend
from sync.sheets.base import Backend
from sync.timetable import Clock, ClockedScheduler, describe_schedule, retry_delay, schedule_zone

log = logging.getLogger(__name__)

__all__ = [
    "Service",
    "run_service",
    "status_line",
]

#: Seconds a stop request gives the cycle in progress to finish its write.
STOP_BOUND = 30.0
#: The most the Dataquest client waits between retries within one cycle.
SOURCE_WAIT_MAX = 300.0

Sleep = Callable[[float], object]


# --- reporting ----------------------------------------------------------------


def status_line(result: CycleResult | SyncError, when: datetime) -> str:
    """The STATUS= text after a cycle: "12:00 4 worksheets synced, 37 cells updated"."""
    stamp = f"{when:%H:%M}"
    if isinstance(result, SyncError):
        return f"{stamp} cycle failed: {result}"
    total = len(result.results)
    ok = sum(1 for r in result.results if r.ok)
    plural = "s" if total != 1 else ""
    synced = (
        f"{ok} worksheet{plural} synced" if ok == total else f"{ok} of {total} worksheets synced"
    )
    text = f"{stamp} {synced}, {result.cells_written} cells updated"
    failed = [r.title for r in result.results if not r.ok]
    if failed:
        text += f"; failed: {', '.join(failed)}"
    return text


def _one_line(exc: BaseException) -> str:
    if isinstance(exc, ConfigError) and len(exc.problems) > 1:
        head = f"{exc.source}: " if exc.source else ""
        return head + "; ".join(str(p) for p in exc.problems)
    return " ".join(str(exc).split())


def default_source(config: Config, sleep: Callable[[float], None]) -> Source:
    """The Dataquest client for a service: interruptible sleeps, and a retry budget
    per request no longer than a quarter of the interval (the service retries too)."""
    logs.redact(config.dataquest.api_key)
    every = config.schedule.every_seconds
    budget = min(SOURCE_WAIT_MAX, every / 4) if every else SOURCE_WAIT_MAX
    return DataquestClient.from_config(config.dataquest, sleep=sleep, max_total_wait=budget)


def _close(thing: object) -> None:
    close = getattr(thing, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # closing is best effort; never hide the real outcome
            log.debug("Closing %r failed", thing, exc_info=True)


# --- the service ----------------------------------------------------------------


class Service:
    """The long-running loop for one configuration. ``run()`` returns the exit code.

    Everything time-related is injected: ``now`` (aware datetimes), ``monotonic``
    and ``sleep``. By default ``sleep`` is an ``Event.wait`` that a stop (or,
    when idle, a reload) interrupts; a test passes a fake clock's sleep.
    """

    def __init__(
        self,
        config: Config,
        *,
        config_arg: str | None = None,
        env: Mapping[str, str] = os.environ,
        force: bool = False,
        only: Sequence[str] = (),
        notifier: Notifier | None = None,
        open_backend: Callable[[Config], Backend] = open_backend,
        make_source: Callable[[Config, Callable[[float], None]], Source] = default_source,
        now: Clock = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep | None = None,
        stop_bound: float = STOP_BOUND,
        force_exit: Callable[[int], object] = os._exit,
        lock_wait_seconds: float | None = None,
    ) -> None:
        self.config = config
        self.config_arg = config_arg
        self.env = env
        self.force = force
        self.only = tuple(only)
        self.notifier = notifier if notifier is not None else Notifier.from_env(env)
        self.watchdog = Watchdog.from_env(self.notifier, env, monotonic=monotonic)
        self._open_backend = open_backend
        self._make_source = make_source
        self._now = now
        self._monotonic = monotonic
        self._stop_event = threading.Event()
        self._wake_event = threading.Event()
        self._sleep_stoppable: Sleep = sleep or self._stop_event.wait
        self._sleep_idle: Sleep = sleep or self._wake_event.wait
        self._stop_bound = stop_bound
        self._force_exit = force_exit
        self._lock_wait = lock_wait(env) if lock_wait_seconds is None else lock_wait_seconds
        self.stopping = False
        self._reload_requested = False
        self._in_cycle = False
        self._timer: threading.Timer | None = None
        self._failures = 0
        self._retry_at: datetime | None = None
        self._last: CycleResult | SyncError | None = None
        self.cycles = 0
        self.backend: Backend | None = None
        self.source: Source | None = None
        self.scheduler = ClockedScheduler(now)

    # -- requests from signal handlers (or tests) ------------------------------

    def request_stop(self, reason: str = "stop requested") -> None:
        if self.stopping:
            return
        self.stopping = True
        self._stop_event.set()
        self._wake_event.set()
        if self._in_cycle:
            log.info(
                "%s: finishing the cycle in progress, then stopping (at most %.0f s).",
                reason,
                self._stop_bound,
            )
            self._timer = threading.Timer(self._stop_bound, self._overdue)
            self._timer.daemon = True
            self._timer.start()
        else:
            log.info("%s: stopping.", reason)

    def request_reload(self) -> None:
        self._reload_requested = True
        self._wake_event.set()

    def _overdue(self) -> None:
        if not self._in_cycle:
            return
        log.error(
            "The cycle did not finish within %.0f s of the stop request; exiting now "
            "(the next run repairs anything half written).",
            self._stop_bound,
        )
        self.notifier.stopping()
        self._force_exit(EX_TEMPFAIL)

    # -- the loop --------------------------------------------------------------

    def run(self) -> int:
        try:
            check_only(self.config, self.only)
            self._open(self.config)
            self.notifier.ready(f"starting; {describe_schedule(self.config.schedule)}")
            self.watchdog.ping()
            log.info(
                "Service started: %d worksheet(s) into %s, %s.",
                len(self.config.worksheets),
                self.backend.description if self.backend else "?",
                describe_schedule(self.config.schedule),
            )
            self.scheduler.add(self.config.schedule, self._scheduled)
            first = self._cycle()
            if not self.stopping and first.exit_code == EX_CONFIG:
                raise _config_error(first)
            self._after(first, scheduled=True)
            while not self.stopping:
                self._step()
            return EX_OK
        finally:
            if self._timer is not None:
                self._timer.cancel()
            self.notifier.stopping("stopping")
            _close(self.source)
            _close(self.backend)
            self.notifier.close()

    def _step(self) -> None:
        """One turn of the loop: a reload, a due cycle, or a wait."""
        self._wake_event.clear()
        if self._reload_requested:
            self._reload()
            return
        idle = self.scheduler.idle_seconds
        if idle is not None and idle <= 0:
            self._last = None
            self.scheduler.run_pending()
            if self._last is not None:
                self._after(self._last, scheduled=True)
            return
        wait = idle if idle is not None else 3600.0
        if self._retry_at is not None:
            left = (self._retry_at - self._now()).total_seconds()
            if left <= 0:
                self._retry_at = None
                log.info("Retrying after the transient failure.")
                self._after(self._cycle(), scheduled=False)
                return
            wait = min(wait, left)
        self._idle(wait)

    def _scheduled(self) -> None:
        self._last = self._cycle()

    def _idle(self, seconds: float) -> None:
        due = self.watchdog.seconds_until_due()
        if due is not None:
            seconds = min(seconds, due)
        if not self.stopping and not self._reload_requested:
            self._sleep_idle(max(0.0, seconds))
        self.watchdog.ping_if_due()

    def pause(self, seconds: float) -> None:
        """A sleep for work inside a cycle (Dataquest retries, the lock wait): pings
        the watchdog while it waits and raises ``Cancelled`` when a stop is requested."""
        deadline = self._monotonic() + max(0.0, seconds)
        while True:
            if self.stopping:
                raise Cancelled("stopped while waiting (shutting down)")
            self.watchdog.ping_if_due()
            left = deadline - self._monotonic()
            if left <= 0:
                return
            due = self.watchdog.seconds_until_due()
            self._sleep_stoppable(left if due is None else min(left, max(due, 0.01)))

    # -- one cycle -------------------------------------------------------------

    def _cycle(self) -> CycleResult | SyncError:
        assert self.backend is not None and self.source is not None
        backend = self.backend
        engine = Engine(
            self.config,
            backend,
            self.source,
            force=self.force,
            only=self.only,
            now=self._now,
            monotonic=self._monotonic,
            should_stop=lambda: self.stopping,
        )
        lock = WriterLock(
            backend.lock_name,
            wait=self._lock_wait,
            env=self.env,
            clock=self._monotonic,
            sleep=self.pause,
            describe=backend.description,
        )
        self._in_cycle = True
        self.cycles += 1
        try:
            with lock:
                return engine.run_cycle()
        except SyncError as exc:  # the lock (another writer), or a stop while waiting for it
            if not isinstance(exc, Cancelled):
                log.warning("The cycle did not run: %s", exc)
            return exc
        finally:
            self._in_cycle = False
            self.watchdog.ping_if_due()

    def _after(self, result: CycleResult | SyncError, *, scheduled: bool) -> None:
        """Log and report a finished cycle; plan a retry after a transient failure."""
        if self.stopping:
            return
        if scheduled:
            self._failures = 0
        upcoming = self.scheduler.get_next_run()
        status = status_line(result, self._local(self._now()))
        if result.exit_code == EX_TEMPFAIL:
            retry = self._now() + retry_delay(self._failures)
            self._failures += 1
            if upcoming is None or retry < upcoming:
                self._retry_at = retry
                status += f"; retrying at {self._local(retry):%H:%M}"
            else:
                self._retry_at = None
        else:
            self._failures = 0
            self._retry_at = None
        if upcoming is not None:
            log.info("%s. Next run at %s.", status, f"{self._local(upcoming):%Y-%m-%d %H:%M:%S}")
        else:
            log.info("%s.", status)
        self.notifier.status(status)

    def _local(self, moment: datetime) -> datetime:
        zone = schedule_zone(self.config.schedule)
        return moment.astimezone(zone) if zone is not None else moment.astimezone()

    # -- configuration -----------------------------------------------------------

    def _open(self, config: Config) -> None:
        backend = self._open_backend(config)
        try:
            source = self._make_source(config, self.pause)
        except BaseException:
            _close(backend)
            raise
        old = (self.backend, self.source)
        self.config, self.backend, self.source = config, backend, source
        for thing in old:
            if thing is not None:
                _close(thing)

    def _reload(self) -> None:
        self._reload_requested = False
        self.notifier.reloading()
        log.info("Reloading the configuration (SIGHUP).")
        try:
            path = find_config_path(self.config_arg, self.env)
            config = load_config(path, self.env)
            check_only(config, self.only)
            old_schedule = self.config.schedule
            self._open(config)
        except SyncError as exc:
            log.error("Reloading failed; keeping the previous configuration: %s", _one_line(exc))
            self.notifier.ready("reload failed; previous configuration kept")
            return
        for warning in config.warnings:
            log.warning("%s", warning)
        if config.schedule != old_schedule:
            self.scheduler.clear()
            self.scheduler.add(config.schedule, self._scheduled)
            self._retry_at = None
        log.info(
            "Configuration reloaded from %s: %d worksheet(s), %s.",
            path,
            len(config.worksheets),
            describe_schedule(config.schedule),
        )
        self.notifier.ready(f"configuration reloaded; {describe_schedule(config.schedule)}")


def _config_error(result: CycleResult | SyncError) -> SyncError:
    if isinstance(result, SyncError):
        return result
    for r in result.results:
        if r.error is not None and r.error.exit_code == EX_CONFIG:
            return r.error
    return ConfigError("the first cycle failed with a configuration problem")


# --- the entry point --------------------------------------------------------------


def run_service(
    config: Config,
    *,
    config_arg: str | None = None,
    env: Mapping[str, str] = os.environ,
    force: bool = False,
    only: Sequence[str] = (),
) -> int:
    """Run as a service with signal handlers installed; the CLI's entry point."""
    service = Service(config, config_arg=config_arg, env=env, force=force, only=only)

    def on_stop(signum: int, frame: FrameType | None) -> None:
        if service.stopping and signum == signal.SIGINT:
            raise KeyboardInterrupt  # a second Ctrl-C: stop at once
        service.request_stop(f"{signal.Signals(signum).name} received")

    def on_reload(signum: int, frame: FrameType | None) -> None:
        service.request_reload()

    handlers = {signal.SIGTERM: on_stop, signal.SIGINT: on_stop, signal.SIGHUP: on_reload}
    previous = {sig: signal.signal(sig, handler) for sig, handler in handlers.items()}
    try:
        return service.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
