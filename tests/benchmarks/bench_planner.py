"""Benchmark of the planner: CPU time and peak memory for large worksheets.

Run ``python -m tests.benchmarks.bench_planner`` (prints a table; not a test).
Each size runs in a fresh child process so that its peak RSS is its own.

The worksheet: N rows of 13 API fields (course_progress-like: text, e-mails,
ints, floats, booleans, date-time serials, "N/A", empty cells) plus the
``sync status`` column and a ``notes`` column with a note on 1% of rows, cells
typed as the Sheets API returns them (empty cells inside a row read as "").
Rows are in a different order in the sheet than in the report (a person
sorted them). The report: 1% of rows changed, 0.5% new keys, 0.2% of keys gone.

Targets (issue #3): 100,000 rows planned in <= 1 s CPU and <= 300 MB peak RSS;
400,000 rows complete. ``plan`` CPU is ``time.process_time`` around the
``plan()`` call alone; building the table from JSON records is timed apart.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

from sync.model import STATUS_COLUMN, Cell, Snapshot, Table
from sync.plan import PlanOptions, plan
from sync.table import build_table

FIELDS = (
    "learner_name",
    "email",
    "last_login",
    "path",
    "step",
    "course",
    "language",
    "dttm_course_started",
    "progress_pct",
    "course_id",
    "has_license",
    "hours_spent",
    "dttm_completed",
)
KEY = ("email", "path", "course")
PATHS = ["Data Analyst in Python", "Data Scientist in Python", "Data Analyst in R"]
COURSES = [f"Course {i}: {w}" for i, w in enumerate(["Basics", "Pandas", "SQL", "Stats"])]


def record(i: int, rng: random.Random) -> dict[str, Any]:
    """One learner-course row as the API sends it (JSON types)."""
    done = rng.random() < 0.4
    return {
        "learner_name": f"Learner {i}",
        "email": f"learner{i // 4}@example.org",
        "last_login": f"2024-0{1 + i % 9}-1{i % 10}T12:16:09.{i % 1000:03d}Z",
        "path": PATHS[i % 3],
        "step": i % 7,
        "course": COURSES[i % 4],
        "language": "Python" if i % 3 < 2 else "R",
        "dttm_course_started": f"2023-1{i % 3}-0{1 + i % 9}T08:00:00Z",
        "progress_pct": 100 if done else rng.randrange(0, 100),
        "course_id": "N/A" if i % 50 == 0 else str(1000 + i % 40),
        "has_license": i % 5 != 0,
        "hours_spent": round(rng.random() * 80, 2),
        "dttm_completed": "2024-02-01T10:00:00Z" if done else None,
    }


def sheet_cell(value: Cell) -> Cell:
    return "" if value is None else value


def build(rows: int, seed: int = 7) -> tuple[str, str]:
    """The report (JSON text of its records) and the worksheet as last synced
    and then sorted by a person (JSON text of its values, as the Sheets API
    returns them), 1% of rows changed, 0.5% new and 0.2% gone."""
    rng = random.Random(seed)
    old = [record(i, rng) for i in range(rows)]
    synced = build_table("course_progress", old, KEY)
    header = [*synced.columns, STATUS_COLUMN, "notes"]
    sheet_rows = []
    for n, row in enumerate(synced.rows):
        cells = [sheet_cell(c) for c in row] + ["", "called" if n % 100 == 0 else ""]
        while cells and cells[-1] == "":
            cells.pop()
        sheet_rows.append(cells)
    rng.shuffle(sheet_rows)  # a person sorted the sheet
    new = list(old)
    for i in rng.sample(range(rows), rows // 100):
        new[i] = dict(new[i], progress_pct=(new[i]["progress_pct"] + 1) % 101, step=99)
    gone = set(rng.sample(range(rows), rows // 500))
    new = [r for i, r in enumerate(new) if i not in gone]
    new.extend(record(rows * 4 + i, rng) for i in range(rows // 200))
    rng.shuffle(new)
    return json.dumps(new), json.dumps({"values": [header, *sheet_rows]})


def _proc_status_mb(field: str) -> float | None:
    """A ``Vm*`` line of /proc/self/status in MB (None where there is no /proc)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (Linux), so that a later peak is a phase's own."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(report_path: Path, sheet_path: Path, repeat: int = 3) -> dict[str, Any]:
    """One cycle's CPU work on inputs read from JSON files, in a fresh process."""
    values = json.loads(sheet_path.read_text())["values"]
    snapshot = Snapshot(
        "Course progress", header=tuple(values[0]), rows=tuple(map(tuple, values[1:]))
    )
    del values
    records = json.loads(report_path.read_text())
    t0 = time.process_time()
    table: Table = build_table("course_progress", records, KEY)
    table_cpu = time.process_time() - t0
    del records  # the engine drops the JSON once it is typed
    gc.collect()
    cycle_peak = _peak_mb()
    reset = _reset_peak()
    inputs = _proc_status_mb("VmRSS") or 0.0
    options = PlanOptions(today=date(2024, 3, 1))
    times = []
    result = None
    for _ in range(repeat):
        result = None
        t1 = time.process_time()
        result = plan(table, snapshot, options)
        times.append(time.process_time() - t1)
    assert result is not None
    plan_peak = (_proc_status_mb("VmHWM") if reset else None) or _peak_mb()
    counts = result.counts
    return {
        "rows": len(snapshot.rows),
        "table_cpu_s": round(table_cpu, 3),
        "plan_cpu_s": round(min(times), 3),
        "plan_cpu_max_s": round(max(times), 3),
        "inputs_mb": round(inputs, 1),
        "plan_peak_mb": round(plan_peak, 1),
        "cycle_peak_mb": round(max(cycle_peak, plan_peak), 1),
        "updated_rows": counts.updated_rows,
        "added": counts.added,
        "missing": counts.missing,
        "cell_writes": len(result.updates),
    }


def _child(args: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "tests.benchmarks.bench_planner", *args]
    out = subprocess.run(command, check=True, capture_output=True, text=True)
    result: dict[str, Any] = json.loads(out.stdout) if out.stdout.strip() else {}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="*", default=[10_000, 100_000, 400_000])
    parser.add_argument("--generate", nargs=3, metavar=("ROWS", "REPORT", "SHEET"))
    parser.add_argument("--measure", nargs=2, metavar=("REPORT", "SHEET"))
    args = parser.parse_args(argv)
    if args.generate:
        report, sheet = build(int(args.generate[0]))
        Path(args.generate[1]).write_text(report)
        Path(args.generate[2]).write_text(sheet)
        return 0
    if args.measure:
        print(json.dumps(measure(Path(args.measure[0]), Path(args.measure[1]))))
        return 0
    print(
        f"{'rows':>8} {'plan CPU s min/max':>19} {'table CPU s':>11} {'inputs MB':>9} "
        f"{'plan peak MB':>12} {'cycle peak MB':>13} {'updated':>7} {'added':>5} "
        f"{'missing':>7} {'writes':>6}"
    )
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        report, sheet = str(Path(tmp, "report.json")), str(Path(tmp, "sheet.json"))
        for rows in args.rows:
            _child(["--generate", str(rows), report, sheet])
            m = _child(["--measure", report, sheet])
            cpu = f"{m['plan_cpu_s']:.3f}/{m['plan_cpu_max_s']:.3f}"
            print(
                f"{m['rows']:>8} {cpu:>19} {m['table_cpu_s']:>11} {m['inputs_mb']:>9} "
                f"{m['plan_peak_mb']:>12} {m['cycle_peak_mb']:>13} {m['updated_rows']:>7} "
                f"{m['added']:>5} {m['missing']:>7} {m['cell_writes']:>6}"
            )
            if rows == 100_000:
                ok = m["plan_cpu_s"] <= 1.0 and m["plan_peak_mb"] <= 300
    print("inputs MB: RSS holding the Snapshot and the Table, before plan()")
    print("plan peak MB: highest RSS during plan() (inputs included)")
    print("cycle peak MB: highest RSS from reading the JSON replies through plan()")
    print("target (100,000 rows: plan <= 1 s CPU, <= 300 MB peak RSS):", "met" if ok else "MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
