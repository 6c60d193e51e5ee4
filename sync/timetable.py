"""The service's timetable: when the next cycle and the next retry are due.

What this module owns, all pure timing logic with the clock passed in:

- ``next_slot`` and ``next_at``: the next run of ``[schedule] every`` or
  ``at`` (+ ``timezone``). ``every`` slots are anchored at the start; a cycle
  that runs past later slots is followed by the next future slot, never by a
  burst of catch-up cycles;
- ``ClockedScheduler``/``ClockedJob``: the timetable as one job of the
  ``schedule`` library. ``schedule`` reads ``datetime.now()`` itself, so these
  route every time read through an injected ``now`` and compute the next run
  with ``next_slot``/``next_at``: tests drive a fake clock and never patch
  globals (one job, so ``run_pending`` runs at most one cycle);
- ``retry_delay``: after a transient failure, retries wait 1, 2, 4... minutes;
- ``describe_schedule``: the schedule in words, for logs and systemd status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import time as clock_time
from typing import Any
from zoneinfo import ZoneInfo

import schedule

from sync.config import ScheduleConfig

__all__ = [
    "RETRY_FIRST",
    "Clock",
    "ClockedJob",
    "ClockedScheduler",
    "describe_schedule",
    "next_at",
    "next_slot",
    "retry_delay",
    "schedule_zone",
]

#: The first retry of a transient failure waits this long; each next one doubles.
RETRY_FIRST = 60.0

Clock = Callable[[], datetime]


def next_slot(previous: datetime | None, now: datetime, every: float) -> datetime:
    """The first slot of an ``every``-second timetable strictly after ``now``.

    Slots are anchored at ``previous`` (the slot that just ran): slots passed
    while a cycle ran long are skipped, not caught up. Without ``previous``,
    ``now + every``.
    """
    period = timedelta(seconds=every)
    if previous is None:
        return now + period
    missed = max(0, (now - previous) // period)
    return previous + (missed + 1) * period


def next_at(times: Sequence[str], now: datetime, zone: tzinfo | None) -> datetime:
    """The first of the daily ``times`` ("HH:MM") in ``zone`` strictly after ``now``.

    ``zone`` None is the machine's local time. A time that does not exist on a
    day (a daylight-saving gap) runs that much later; an ambiguous one runs at
    its first occurrence. Returned in UTC.
    """
    if not times:
        raise ValueError("no times of day")
    local = now.astimezone(zone) if zone is not None else now.astimezone()
    for days in range(3):
        day = local.date() + timedelta(days=days)
        found = []
        for text in times:
            hour, minute = (int(part) for part in text.split(":"))
            wall = datetime.combine(day, clock_time(hour, minute))
            moment = wall.replace(tzinfo=zone) if zone is not None else wall.astimezone()
            if moment.astimezone(UTC) > now:
                found.append(moment.astimezone(UTC))
        if found:
            return min(found)
    raise AssertionError("unreachable: a daily time recurs within two days")


def retry_delay(failures: int) -> timedelta:
    """How long to wait before the next retry, when ``failures`` transient failures
    came before this one in the series (0 for the first): 1, 2, 4... minutes."""
    return timedelta(seconds=RETRY_FIRST * 2**failures)


def schedule_zone(spec: ScheduleConfig) -> ZoneInfo | None:
    """The schedule's time zone; None is the machine's local time."""
    return ZoneInfo(spec.timezone) if spec.timezone else None


def describe_schedule(spec: ScheduleConfig) -> str:
    """The schedule in words: "every 1h" or "daily at 07:00, 13:00 (Europe/Berlin)"."""
    if spec.every_seconds:
        return f"every {_duration(spec.every_seconds)}"
    where = spec.timezone or "local time"
    return f"daily at {', '.join(spec.at)} ({where})"


def _duration(seconds: float) -> str:
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


class ClockedJob(schedule.Job):
    """The one job of a service: a ``schedule.Job`` on an injected clock."""

    def __init__(self, spec: ScheduleConfig, scheduler: ClockedScheduler) -> None:
        super().__init__(spec.every_seconds or 1, scheduler)
        self.spec = spec
        self.zone = schedule_zone(spec)
        self._now = scheduler.now
        if spec.every_seconds:
            self.unit = "seconds"
        else:
            self.unit = "days"
            self.at(spec.at[0])  # schedule checks the HH:MM form; next_at uses all times

    @property
    def should_run(self) -> bool:
        return self.next_run is not None and self._now() >= self.next_run

    def run(self) -> Any:
        assert self.job_func is not None
        result = self.job_func()
        self.last_run = self._now()
        self._schedule_next_run()
        return result

    def _schedule_next_run(self) -> None:
        now = self._now()
        if self.spec.every_seconds:
            self.next_run = next_slot(self.next_run, now, self.spec.every_seconds)
        else:
            self.next_run = next_at(self.spec.at, now, self.zone)


class ClockedScheduler(schedule.Scheduler):
    """A ``schedule.Scheduler`` whose ``idle_seconds`` reads the injected clock."""

    def __init__(self, now: Clock) -> None:
        super().__init__()
        self.now = now

    def add(self, spec: ScheduleConfig, action: Callable[[], object]) -> ClockedJob:
        job = ClockedJob(spec, self)
        job.do(action)
        return job

    @property
    def idle_seconds(self) -> float | None:
        upcoming = self.get_next_run()
        return None if upcoming is None else (upcoming - self.now()).total_seconds()
