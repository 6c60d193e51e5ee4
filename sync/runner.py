"""The one-shot commands: ``--once`` / ``--dry-run`` and ``check``.

Builds the real parts from a config (backend, Dataquest client, writer lock),
runs them, and writes the human-readable result to ``out``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TextIO

from sync import logs
from sync.config import Config
from sync.dataquest import DataquestClient
from sync.engine import CycleResult, Engine, Source
from sync.errors import EX_OK, SyncError
from sync.lock import WriterLock
from sync.report import dry_run_details, summary_table
from sync.sheets import open_backend
from sync.sheets.base import Backend

log = logging.getLogger(__name__)

#: Seconds a --once waits for another writer to finish (default 60).
LOCK_WAIT_ENV = "DQ_SHEETS_SYNC_LOCK_WAIT"


def lock_wait(env: Mapping[str, str] = os.environ) -> float:
    try:
        return max(0.0, float(env.get(LOCK_WAIT_ENV, "60")))
    except ValueError:
        return 60.0


def make_source(config: Config) -> DataquestClient:
    logs.redact(config.dataquest.api_key)
    return DataquestClient.from_config(config.dataquest)


def run_cycle(
    config: Config,
    backend: Backend,
    source: Source,
    *,
    force: bool = False,
    dry_run: bool = False,
    only: Sequence[str] = (),
    lock_wait: float = 60.0,
) -> CycleResult:
    """One cycle under the single-writer lock (a dry run takes no lock)."""
    engine = Engine(config, backend, source, force=force, dry_run=dry_run, only=only)
    if dry_run:
        return engine.run_cycle()
    with WriterLock(backend.lock_name, wait=lock_wait, describe=backend.description):
        return engine.run_cycle()


def run_once(
    config: Config,
    out: TextIO,
    *,
    force: bool = False,
    dry_run: bool = False,
    only: Sequence[str] = (),
) -> int:
    check_only(config, only)
    backend = open_backend(config)
    try:
        cycle = run_cycle(
            config,
            backend,
            make_source(config),
            force=force,
            dry_run=dry_run,
            only=only,
            lock_wait=lock_wait(),
        )
    finally:
        backend.close()
    print(summary_table(cycle), file=out)
    if dry_run:
        details = dry_run_details(cycle)
        if details:
            print("\n" + details, file=out)
        print("\nDry run: nothing was written.", file=out)
    hints = _hints(cycle)
    if hints:
        print("\n" + "\n".join(hints), file=out)
    return cycle.exit_code


def check_only(config: Config, only: Sequence[str]) -> None:
    titles = {w.title.casefold() for w in config.worksheets}
    unknown = [t for t in only if t.casefold() not in titles]
    if unknown:
        from sync.errors import ConfigError

        known = ", ".join(repr(w.title) for w in config.worksheets)
        raise ConfigError(
            f"--only {', '.join(map(repr, unknown))}: no such worksheet (known: {known})"
        )


def _hints(cycle: CycleResult) -> list[str]:
    out = []
    for r in cycle.results:
        if r.outcome == "refused":
            out.append(f"{r.title} was refused by a guard; check the report, or run with --force.")
    return out


def check(config: Config, out: TextIO) -> int:
    """Validate and reach both APIs; write nothing."""
    print(f"Config {config.path}: valid, {len(config.worksheets)} worksheet(s).", file=out)
    source = make_source(config)
    counts: dict[str, int] = {}
    today = datetime.now(UTC).date()
    for ws in config.worksheets:
        if ws.endpoint in counts:
            continue
        counts[ws.endpoint] = len(source.fetch(ws.endpoint, params=ws.date_params(today) or None))
    print(
        f"Dataquest team {config.dataquest.team_id}: reachable; "
        + ", ".join(f"{e} {n} rows" for e, n in counts.items())
        + ".",
        file=out,
    )
    backend = open_backend(config)
    try:
        describe = getattr(backend, "check", None)
        lines = describe() if describe else []
        for line in lines:
            print(line, file=out)
        snapshots = backend.read([w.title for w in config.worksheets])
        for ws in config.worksheets:
            snap = snapshots[ws.title]
            state = (
                f"{len(snap.rows)} data rows, {len(snap.header)} columns"
                if snap.exists
                else "does not exist yet (created on the first sync)"
            )
            print(f"Worksheet {ws.title!r} ({ws.endpoint}): {state}.", file=out)
    except SyncError:
        raise
    finally:
        backend.close()
    print("All good.", file=out)
    return EX_OK
