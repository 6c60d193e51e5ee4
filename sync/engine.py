"""One sync cycle over all configured worksheets.

The engine wires the parts and owns nothing else: it fetches every report,
reads every worksheet in one go, plans each (pure), asks the guards, then hands
all plans to the backend for one structural write, the re-read guard and one
values write. A failure is isolated to its worksheet wherever the failure is
the worksheet's own (its report, its plan, its guard); a failure of the shared
write fails every worksheet that was being written.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.config import Config, WorksheetConfig
from sync.errors import (
    EX_CONFIG,
    EX_FAILED,
    EX_OK,
    EX_TEMPFAIL,
    SheetError,
    SyncError,
    UnsafeSync,
)
from sync.guards import GuardOptions, check
from sync.model import (
    Cell,
    Counts,
    Key,
    Plan,
    Snapshot,
    Table,
    header_after,
    header_text,
    keys_match,
    normalise_key,
)
from sync.plan import PlanOptions, plan
from sync.sheets.base import Backend
from sync.table import build_table

log = logging.getLogger(__name__)

#: How often the re-read guard may plan again before the cycle gives up.
MAX_REPLANS = 3

STATUS_COLUMNS = (
    "worksheet",
    "endpoint",
    "last attempt",
    "last success",
    "rows",
    "added",
    "updated",
    "missing",
    "result",
)


class Source(Protocol):
    """Where reports come from (the Dataquest client, or a stand-in)."""

    def fetch(
        self, endpoint: str, *, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]: ...


#: What the re-read guard expects of a worksheet: key columns, header, keys.
_Expected = tuple[tuple[int, ...], tuple[str, ...], tuple[Key | None, ...]]


class Cancelled(SyncError):
    """The service was asked to stop before this cycle wrote anything."""

    transient = True
    exit_code = EX_TEMPFAIL


class RowsMoved(SheetError):
    """Rows kept moving under the re-read guard; the next cycle will try again."""

    transient = True
    exit_code = EX_TEMPFAIL


@dataclass(frozen=True)
class WorksheetResult:
    title: str
    endpoint: str
    #: "synced", "unchanged", "planned" (dry run), "refused" or "failed".
    outcome: str
    counts: Counts = field(default_factory=Counts)
    seconds: float = 0.0
    error: SyncError | None = None
    plan: Plan | None = None
    warnings: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def result_text(self) -> str:
        if self.error is None:
            return self.outcome
        return f"{self.outcome}: {self.error}"


@dataclass(frozen=True)
class CycleResult:
    results: tuple[WorksheetResult, ...]
    started: datetime
    seconds: float
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        errors = [r.error for r in self.results if r.error is not None]
        if not errors:
            return EX_OK
        if any(e.exit_code == EX_CONFIG for e in errors):
            return EX_CONFIG
        if all(e.transient for e in errors):
            return EX_TEMPFAIL
        return EX_FAILED

    @property
    def cells_written(self) -> int:
        return sum(len(r.plan.updates) for r in self.results if r.plan and r.ok)


@dataclass
class _Work:
    """A worksheet on its way through one cycle (mutable, private)."""

    ws: WorksheetConfig
    started: float
    records: list[dict[str, Any]] | None = None
    table: Table | None = None
    plan: Plan | None = None
    error: SyncError | None = None
    outcome: str = ""
    seconds: float = 0.0


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        log.warning("Unknown time zone %r from the spreadsheet; using UTC.", name)
        return ZoneInfo("UTC")


class Engine:
    """Runs cycles for one configuration against one backend and one source."""

    def __init__(
        self,
        config: Config,
        backend: Backend,
        source: Source,
        *,
        force: bool = False,
        dry_run: bool = False,
        only: Sequence[str] = (),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> None:
        self.config = config
        self.backend = backend
        self.source = source
        self.force = force
        self.dry_run = dry_run
        self.only = tuple(only)
        self._now = now
        self._monotonic = monotonic
        self._should_stop = should_stop

    def selected(self) -> tuple[WorksheetConfig, ...]:
        if not self.only:
            return self.config.worksheets
        wanted = {t.casefold() for t in self.only}
        return tuple(w for w in self.config.worksheets if w.title.casefold() in wanted)

    # -- the cycle -------------------------------------------------------------

    def run_cycle(self) -> CycleResult:
        started_at = self._now()
        t0 = self._monotonic()
        work = [_Work(ws, t0) for ws in self.selected()]
        self._fetch(work)
        try:
            self._sync(work, started_at)
        except SyncError as exc:
            # A failure of the shared read or write fails every worksheet not yet failed.
            for w in work:
                if w.error is None:
                    w.error, w.outcome = exc, "failed"
        t1 = self._monotonic()
        results = tuple(self._result(w, t1) for w in work)
        for r in results:
            self._log(r)
        return CycleResult(results, started_at, t1 - t0, dry_run=self.dry_run)

    def _checkpoint(self) -> None:
        """Stop here when asked to: only before the first write of a cycle."""
        if self._should_stop():
            raise Cancelled("stopped before writing anything (shutting down)")

    def _fetch(self, work: list[_Work]) -> None:
        # "today" in start_date/end_date is the user's day: the schedule's zone, else local.
        zone = self.config.schedule.timezone
        now = self._now()
        today = (now.astimezone(_zone(zone)) if zone else now.astimezone()).date()
        cache: dict[tuple[str, tuple[tuple[str, str], ...]], list[dict[str, Any]]] = {}
        failures: dict[tuple[str, tuple[tuple[str, str], ...]], SyncError] = {}
        for w in work:
            params = w.ws.date_params(today)
            fetch_key = (w.ws.endpoint, tuple(sorted(params.items())))
            try:
                self._checkpoint()
                if fetch_key in failures:
                    raise failures[fetch_key]
                if fetch_key not in cache:
                    cache[fetch_key] = self.source.fetch(w.ws.endpoint, params=params or None)
                w.records = cache[fetch_key]
            except SyncError as exc:
                failures[fetch_key] = exc
                w.error, w.outcome = exc, "failed"
            w.seconds = self._monotonic() - w.started

    def _status_title(self) -> str:
        return self.config.sync.status_sheet

    def _sync(self, work: list[_Work], started_at: datetime) -> None:
        live = [w for w in work if w.error is None]
        status_title = self._status_title() if not self.dry_run else ""
        titles = [w.ws.title for w in live] + ([status_title] if status_title else [])
        if not titles:
            return
        self._checkpoint()
        snapshots = self.backend.read(titles)
        zone = _zone(self.backend.timezone())
        today = started_at.astimezone(zone).date()
        options = PlanOptions(today=today, missing_rows=self.config.sync.missing_rows)
        guard = GuardOptions(
            self.config.sync.max_missing_fraction,
            force=self.force,
            missing_rows=self.config.sync.missing_rows,
        )
        for w in live:
            t = self._monotonic()
            try:
                assert w.records is not None
                w.table = self._fit(
                    build_table(w.ws.endpoint, w.records, w.ws.key, timezone=zone.key)
                )
                w.plan = plan(w.table, snapshots[w.ws.title], options)
                check(w.plan, snapshots[w.ws.title], replace(guard, key_fields=w.ws.key))
                w.outcome = (
                    "planned" if self.dry_run else ("unchanged" if w.plan.is_noop else "synced")
                )
            except SyncError as exc:
                w.error = exc
                w.outcome = "refused" if isinstance(exc, UnsafeSync) else "failed"
            w.seconds += self._monotonic() - t
        if self.dry_run:
            return
        ready = [w for w in work if w.error is None and w.plan is not None]
        for title, refusal in self.backend.refuse([w.plan for w in ready if w.plan]).items():
            for w in ready:
                if w.ws.title == title:
                    w.error, w.outcome = refusal, "failed"
        ready = [w for w in ready if w.error is None]
        jobs: dict[str, tuple[Table, PlanOptions]] = {
            w.ws.title: (w.table, options) for w in ready if w.table is not None
        }
        plans: dict[str, Plan] = {w.ws.title: w.plan for w in ready if w.plan is not None}
        if status_title:
            status_table = self._status_table(work, snapshots[status_title], started_at, zone)
            status_options = replace(options, missing_rows="keep", status_column=None)
            jobs[status_title] = (status_table, status_options)
            plans[status_title] = plan(status_table, snapshots[status_title], status_options)
        self._checkpoint()
        self._write(plans, jobs, snapshots)
        for w in ready:
            w.plan = plans.get(w.ws.title, w.plan)

    def _fit(self, table: Table) -> Table:
        """The table as the destination will store it (e.g. an .xlsx cell drops
        control characters), so the planner compares like with like and a
        second sync writes nothing."""
        clean: Callable[[Cell], Cell] | None = getattr(self.backend, "clean", None)
        if clean is None:
            return table
        rows = tuple(tuple(clean(c) for c in row) for row in table.rows)
        changed = sum(
            a != b
            for old, new in zip(table.rows, rows, strict=True)
            for a, b in zip(old, new, strict=True)
        )
        if not changed:
            return table
        at = [table.columns.index(f) for f in table.key_fields]
        keys = tuple(
            normalise_key([row[i] for i in at]) or old
            for row, old in zip(rows, table.keys, strict=True)
        )
        note = f"{changed} value(s) changed to fit the destination's cells"
        return replace(table, rows=rows, keys=keys, warnings=(*table.warnings, note))

    def _write(
        self,
        plans: dict[str, Plan],
        jobs: Mapping[str, tuple[Table, PlanOptions]],
        snapshots: Mapping[str, Snapshot],
    ) -> None:
        """Structure, re-read guard, values; plans again (in place) when rows or
        columns moved since the snapshot."""
        snapshots = dict(snapshots)

        def replan(stale: list[str]) -> None:
            log.info("Rows moved while syncing %s; planning again.", ", ".join(stale))
            fresh = self.backend.read(stale)
            for t in stale:
                table, opts = jobs[t]
                plans[t] = plan(table, fresh[t], opts)
                snapshots[t] = fresh[t]

        # Rows to delete are addressed as the snapshot saw them: check that they
        # still are before deleting anything (only plans that delete pay for it).
        def before_structure() -> dict[str, _Expected]:
            out = {}
            for t, p in plans.items():
                cols = _key_columns(snapshots[t], jobs[t][0].key_fields)
                if p.row_deletes and cols:
                    out[t] = (
                        cols,
                        header_text(snapshots[t].header),
                        _snapshot_keys(snapshots[t], cols),
                    )
            return out

        self._settle(before_structure, replan)
        pending = [p for p in plans.values() if not p.is_noop]
        if not pending:
            return
        self.backend.apply_structure([p for p in pending if p.has_structure])

        # The re-read guard: header and keys as the plan expects them after its
        # structural changes, just before the values write.
        def before_values() -> dict[str, _Expected]:
            return {
                p.title: (
                    p.key_columns,
                    header_after(snapshots[p.title].header, p.column_inserts),
                    p.expected_keys,
                )
                for p in plans.values()
                if p.updates
            }

        def replan_and_restructure(stale: list[str]) -> None:
            replan(stale)
            self.backend.apply_structure([plans[t] for t in stale if plans[t].has_structure])

        self._settle(before_values, replan_and_restructure)
        pending = [p for p in plans.values() if not p.is_noop]
        self.backend.apply_values([p for p in pending if p.updates])

    def _settle(
        self,
        expected: Callable[[], dict[str, _Expected]],
        replan: Callable[[list[str]], None],
    ) -> None:
        """Read headers and key columns until they are as ``expected`` says,
        planning again (at most MAX_REPLANS times) where they are not."""
        for attempt in range(MAX_REPLANS + 1):
            wanted = expected()
            columns = {t: cols for t, (cols, _, _) in wanted.items()}
            found = self.backend.read_guard(columns) if columns else {}
            stale = [
                t
                for t, (header, cells) in found.items()
                if header_text(header) != wanted[t][1] or not keys_match(wanted[t][2], _keys(cells))
            ]
            if not stale:
                return
            if attempt == MAX_REPLANS:
                raise RowsMoved(
                    f"rows of {', '.join(stale)} kept moving while writing (someone is "
                    "sorting or inserting rows); nothing more was written, the next run retries"
                )
            replan(stale)

    # -- the status worksheet --------------------------------------------------

    def _status_table(
        self, work: list[_Work], snapshot: Snapshot, started_at: datetime, zone: ZoneInfo
    ) -> Table:
        previous = _previous_status(snapshot)
        stamp = started_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
        records = []
        for w in work:
            counts = w.plan.counts if w.plan is not None else Counts()
            old = previous.get(w.ws.title, {})
            records.append(
                {
                    "worksheet": w.ws.title,
                    "endpoint": w.ws.endpoint,
                    "last attempt": stamp,
                    "last success": stamp if w.error is None else old.get("last success"),
                    "rows": counts.rows if w.plan is not None else old.get("rows"),
                    "added": counts.added if w.error is None else None,
                    "updated": counts.updated_rows if w.error is None else None,
                    "missing": counts.missing if w.error is None else old.get("missing"),
                    "result": "ok" if w.error is None else f"{w.outcome}: {w.error}",
                }
            )
        return build_table("status", records, ("worksheet",), timezone=zone.key)

    # -- reporting ---------------------------------------------------------------

    def _result(self, w: _Work, now: float) -> WorksheetResult:
        return WorksheetResult(
            title=w.ws.title,
            endpoint=w.ws.endpoint,
            outcome=w.outcome or "failed",
            counts=w.plan.counts if w.plan is not None else Counts(),
            seconds=w.seconds,
            error=w.error,
            plan=w.plan,
            warnings=(w.table.warnings if w.table else ()) + (w.plan.warnings if w.plan else ()),
        )

    def _log(self, r: WorksheetResult) -> None:
        for warning in r.warnings:
            log.warning("%s: %s", r.title, warning)
        c = r.counts
        if isinstance(r.error, Cancelled):
            log.info("%s: %s", r.title, r.result_text)
        elif r.error is not None:
            log.error("%s: %s", r.title, r.result_text)
        elif r.outcome == "planned":
            log.info(
                "%s (dry run): would add %d, update %d, mark %d missing",
                r.title,
                c.added,
                c.updated_rows,
                c.missing,
            )
        else:
            log.info(
                "%s: %d added, %d updated, %d missing", r.title, c.added, c.updated_rows, c.missing
            )


def _key_columns(snapshot: Snapshot, key_fields: tuple[str, ...]) -> tuple[int, ...]:
    """1-based columns of the key fields in the snapshot's header (first match)."""
    header = header_text(snapshot.header)
    if not all(f in header for f in key_fields):
        return ()
    return tuple(header.index(f) + 1 for f in key_fields)


def _snapshot_keys(snapshot: Snapshot, cols: tuple[int, ...]) -> tuple[Key | None, ...]:
    return tuple(
        normalise_key([row[c - 1] if c - 1 < len(row) else None for c in cols])
        for row in snapshot.rows
    )


def _keys(cells: tuple[tuple[Any, ...], ...]) -> tuple[Key | None, ...]:
    return tuple(normalise_key(row) for row in cells)


def _previous_status(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """The status sheet's rows by worksheet title, as dicts of header -> cell."""
    header = [str(h).strip() if h is not None else "" for h in snapshot.header]
    out: dict[str, dict[str, Any]] = {}
    if "worksheet" not in header:
        return out
    for row in snapshot.rows:
        cells = dict(zip(header, row, strict=False))
        title = cells.get("worksheet")
        if isinstance(title, str) and title and title not in out:
            out[title] = cells
    return out
