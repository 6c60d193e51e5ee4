"""``dq-sheets-sync demo``: the whole tool at work with no credentials.

Starts the Teams API sandbox in-process on a free 127.0.0.1 port, syncs all
four reports into ``DIR/dataquest-demo.xlsx`` through the real engine, client
and workbook backend, and prints the summary. Each run moves the sandbox's
data on by one step (kept in ``DIR/.dataquest-demo.json``), so a second run
shows changed values, new learners and learners who left, while the notes a
person typed beside the rows stay where they were.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, TextIO

from sync.config import Config, parse_config
from sync.dataquest import DataquestClient
from sync.errors import ConfigError
from sync.report import summary_table
from sync.runner import run_cycle
from sync.sandbox import Sandbox
from sync.sheets.workbook import WorkbookBackend

log = logging.getLogger(__name__)

WORKBOOK = "dataquest-demo.xlsx"
STATE = ".dataquest-demo.json"
SEED = 7
LEARNERS = 40
_KEY_ENV = "DQ_SHEETS_SYNC_DEMO_KEY"

WORKSHEETS = (
    ("course_progress", "Course progress"),
    ("mission_progress", "Mission progress"),
    ("invitations_status", "Invitations"),
    ("time_spent", "Time spent"),
)


def demo_config(folder: Path, sandbox: Sandbox) -> Config:
    data: dict[str, Any] = {
        "dataquest": {
            "team_id": sandbox.team_id,
            "api_key_env": _KEY_ENV,
            "base_url": sandbox.url,
        },
        "workbook": {"path": WORKBOOK},
        "worksheet": [{"endpoint": e, "title": t} for e, t in WORKSHEETS],
    }
    return parse_config(
        data, env={_KEY_ENV: sandbox.api_key}, base_dir=folder, source="the demo's configuration"
    )


def _load_epoch(path: Path) -> int:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        epoch = int(state.get("epoch", 0))
        return max(0, epoch)
    except (OSError, ValueError, AttributeError, TypeError):
        return 0


def run_demo(folder: str | Path, out: TextIO) -> int:
    root = Path(folder).expanduser()
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"demo --dir {root}: cannot create the folder ({exc.strerror})") from None
    state_path = root / STATE
    epoch = _load_epoch(state_path)
    workbook = root / WORKBOOK
    first = not workbook.exists()
    with Sandbox(learners=LEARNERS, seed=SEED, epoch=epoch, auto_advance=False) as sandbox:
        config = demo_config(root, sandbox)
        source = DataquestClient.from_config(config.dataquest)
        backend = WorkbookBackend(workbook)
        try:
            cycle = run_cycle(config, backend, source, lock_wait=5.0)
        finally:
            backend.close()
    if cycle.exit_code == 0:
        state_path.write_text(json.dumps({"epoch": epoch + 1}) + "\n", encoding="utf-8")
    print(f"Synced the demo team (step {epoch + 1}) into {workbook}\n", file=out)
    print(summary_table(cycle), file=out)
    print("", file=out)
    if first:
        print(
            "Try it: open the workbook, add a column 'Notes' to 'Course progress' and type "
            "something beside a few learners, sort the rows if you like, save and close it, "
            "then run `dq-sheets-sync demo` again: the sandbox data moves on (progress, new "
            "and departed learners), and your notes stay on their rows.",
            file=out,
        )
    else:
        print(
            "The data moved on a step. Your own columns were not touched: check that every "
            "note is still beside its learner. Learners who left are marked in 'sync status'.",
            file=out,
        )
    print(
        "\nNext: copy config.example.toml to config.toml, point it at your team and your "
        "Google Sheet, and run `dq-sheets-sync check`.",
        file=out,
    )
    return cycle.exit_code
