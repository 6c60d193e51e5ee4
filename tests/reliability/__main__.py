"""``python -m tests.reliability``: the full reliability run, with its figures.

Runs the full counts of crash consistency and concurrent people, the whole
fault matrix, and the hostile-input and secrets tests (through pytest), prints
every figure as Markdown tables and writes them to ``tests/reliability/RESULTS.md``.

    python -m tests.reliability                 # full counts (a few minutes)
    python -m tests.reliability --crash 8 --concurrent 15 --no-write   # a quick look
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sync.sandbox import Sandbox
from tests.emulator import Emulator
from tests.reliability import concurrent, crash, faults
from tests.sandbox_plugin import FakeClock

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No log lines, and no tracebacks of server threads writing to dead clients."""
    logging.disable(logging.CRITICAL)
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            yield
    finally:
        logging.disable(logging.NOTSET)


def run_crash(n: int, tmp: Path) -> tuple[str, list[str]]:
    with (
        Emulator() as emulator,
        Sandbox(clock=time.monotonic, rate_per_minute=1000, learners=10) as sb,
        quiet(),
    ):
        trials = crash.run_crash_trials(range(n), tmp / "crash", emulator, sb)
    rows = []
    for phase in crash.PHASES:
        of = [t for t in trials if t.phase == phase]
        rows.append(
            [
                phase,
                len(of),
                sum(t.killed for t in of),
                sum(t.first_sync for t in of),
                sum(t.converged for t in of),
            ]
        )
    rows.append(
        [
            "**all**",
            len(trials),
            sum(t.killed for t in trials),
            sum(t.first_sync for t in trials),
            sum(t.converged for t in trials),
        ]
    )
    text = table(["kill aimed at", "trials", "killed", "during a first sync", "converged"], rows)
    failures = [crash.describe(t) for t in trials if not t.converged]
    return text, failures


def run_concurrent(n: int, tmp: Path) -> tuple[str, str, list[str]]:
    with Emulator() as emulator:
        credentials = emulator.service_account(tmp / "sa", email=concurrent.EMAIL)
        with quiet():
            trials = concurrent.run_concurrent_trials(range(n), emulator, credentials, tmp)
    cols = ["trials", "edited", "misplaced", "lost", "converged"]
    by_moment = concurrent.summarise(trials, lambda t: t.moment)
    moment_rows = [[m, *(by_moment[m][c] for c in cols)] for m in concurrent.MOMENTS]
    guarded = [t for t in trials if t.moment in concurrent.GUARDED]
    g = concurrent.summarise(guarded, lambda t: "guarded")["guarded"]
    moment_rows.append(
        ["**guarded moments (targets: 0 misplaced, 0 lost)**", *(g[c] for c in cols)]
    )
    by_pair = concurrent.summarise(trials, lambda t: f"{t.moment} / {t.edit}")
    pair_rows = [[k, *(v[c] for c in cols)] for k, v in by_pair.items()]
    failures = [
        concurrent.describe(t)[:600] for t in guarded if t.misplaced or t.lost or not t.converged
    ]
    return (
        table(["edit lands", *cols], moment_rows),
        table(["moment / edit", *cols], pair_rows),
        failures,
    )


def run_faults(tmp: Path) -> tuple[str, list[str]]:
    rows, failures = [], []
    with Emulator() as emulator:
        for i, cell in enumerate(faults.CELLS):
            with Sandbox(clock=FakeClock(), rate_per_minute=1000, learners=10) as sb, quiet():
                r = faults.run_cell(cell, emulator, sb, tmp / f"fault-{i}")
            verdict = "as expected" if r.as_expected else "**UNEXPECTED**"
            if cell.bug:
                verdict = "as expected" if r.as_expected else "**bug** (xfail)"
            message = r.message.split(" | ")[0].split(": ", 1)[-1]
            rows.append(
                [
                    cell.side,
                    cell.name,
                    f"{r.exit_code}"
                    + ("" if r.exit_code == cell.exit_code else f" (want {cell.exit_code})"),
                    (message[:90] + "...") if len(message) > 90 else (message or "-"),
                    r.state,
                    "yes" if r.other_ok else "no",
                    f"{r.slept:.0f}",
                    f"exit {r.next_exit}, " + ("converged" if r.converged else "NOT converged"),
                    verdict,
                ]
            )
            if not r.as_expected:
                known = f" (known bug, a strict xfail: {cell.bug})" if cell.bug else ""
                failures.append(faults.describe(r) + known)
    header = [
        "API",
        "fault",
        "exit",
        "message (first worksheet)",
        "Time spent after",
        "other worksheet ok",
        "waited (fake s)",
        "next run",
        "verdict",
    ]
    return table(header, rows), failures


def run_pytest(paths: Sequence[str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rxX", *paths],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    lines = [ln for ln in result.stdout.splitlines() if ln.strip()]
    summary = [ln for ln in lines if ln.startswith(("XFAIL", "XPASS", "FAILED", "ERROR"))]
    return "\n".join(f"- {ln}" for ln in [*summary, lines[-1] if lines else "(no output)"])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability", description=__doc__)
    parser.add_argument("--crash", type=int, default=56, help="crash trials (default 56)")
    parser.add_argument(
        "--concurrent", type=int, default=120, help="concurrent-people trials (default 120)"
    )
    parser.add_argument("--output", default=str(HERE / "RESULTS.md"), help="where to write")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dq-reliability-") as folder:
        tmp = Path(folder)
        print(f"Crash consistency: {args.crash} trials...", flush=True)
        crash_table, crash_failures = run_crash(args.crash, tmp)
        print(f"Concurrent people: {args.concurrent} trials...", flush=True)
        moments, pairs, people_failures = run_concurrent(args.concurrent, tmp)
        print("Fault matrix...", flush=True)
        matrix, fault_failures = run_faults(tmp)
    print("Hostile input and secrets (pytest)...", flush=True)
    others = run_pytest(["tests/reliability/test_hostile.py", "tests/reliability/test_secrets.py"])
    minutes = (time.monotonic() - started) / 60
    report = f"""# Reliability: figures from a full run

Written by `python -m tests.reliability` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC
({minutes:.1f} min). Seeded: the same command gives the same trials.

## 1. Crash consistency

`--once` as a subprocess (sandbox + emulator with {crash.LATENCY:.2f} s latency per
request), SIGKILLed at the phase named (from an emulator hook on that request;
"dropped" means the request was never applied, "applied" that it was) or at a
random time; then a clean `--once` must exit 0 and leave every worksheet
exactly right (no duplicate keys, every note beside its key, hand-typed rows
kept, managed cells equal to the report, keys that left marked missing).

{crash_table}

## 2. Concurrent people

In-process engine + Google backend (real HTTP to the emulator). A person's
edit lands between the connector's read and its write. *misplaced*: managed
cells holding a value that is neither the old nor the new value of their row's
key; *lost*: notes no longer beside their key. *converged*: the next clean
sync leaves the sheet exactly right. An edit "before values write" lands after
the re-read guard, which cannot see it.

{moments}

By moment and edit:

{pairs}

## 3. Fault matrix

In-process on a fake clock (waits cost no real time). "Time spent after":
`unchanged` (nothing written), `converged` (exactly right), `partial` (a
structural write landed, values not yet). Dataquest faults hit `time_spent`
only: the other worksheet must sync anyway. The next run (faults healed) must
converge.

{matrix}

## 4-5. Hostile input and secrets

{others}
"""
    problems = crash_failures + people_failures + fault_failures
    if problems:
        report += (
            "\n## Trials that missed a target (guarded moments, crashes, faults)\n\n"
            + "\n".join(f"- {p}" for p in problems[:20])
            + "\n"
        )
    print("\n" + report)
    if not args.no_write:
        Path(args.output).write_text(report, encoding="utf-8")
        print(f"Written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
