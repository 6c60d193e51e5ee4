"""End-to-end rig: the real CLI as a subprocess against the Teams API sandbox
and the Sheets API emulator, both real HTTP servers on 127.0.0.1.

``Site`` writes a config for a spreadsheet in the emulator, runs
``python -m sync`` with it, and reads the sheet back like a person would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sync.demo import WORKSHEETS
from sync.sandbox import Sandbox
from tests.emulator import Emulator
from tests.emulator.a1 import col_number

ROOT = Path(__file__).resolve().parents[1]
SERVICE_EMAIL = "sync@test-project.iam.gserviceaccount.com"


def clean_env(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DQ_SHEETS_SYNC", "DATAQUEST_", "GOOGLE_", "NOTIFY_SOCKET"))
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


class Site:
    """A spreadsheet in the emulator, a sandbox team, and a config file for both."""

    def __init__(
        self,
        tmp_path: Path,
        emulator: Emulator,
        sandbox: Sandbox,
        *,
        worksheets: Sequence[tuple[str, str]] = WORKSHEETS,
        shared: bool = True,
    ) -> None:
        self.tmp_path = tmp_path
        self.emulator = emulator
        self.sandbox = sandbox
        self.credentials = emulator.service_account(tmp_path / "credentials", email=SERVICE_EMAIL)
        self.spreadsheet_id = emulator.create_spreadsheet(
            "Team progress", shared_with=[SERVICE_EMAIL] if shared else ["someone@else.example"]
        )
        self.person = emulator.person(self.spreadsheet_id)
        self.config_path = tmp_path / "config.toml"
        self.write_config(worksheets)

    def write_config(
        self,
        worksheets: Sequence[tuple[str, str]] = WORKSHEETS,
        *,
        spreadsheet: str | None = None,
        extra: str = "",
    ) -> Path:
        sid = spreadsheet or self.spreadsheet_id
        blocks = "".join(
            f'\n[[worksheet]]\nendpoint = "{e}"\ntitle = "{t}"\n' for e, t in worksheets
        )
        self.config_path.write_text(
            f"""
[dataquest]
team_id = "{self.sandbox.team_id}"
base_url = "{self.sandbox.url}"

[google]
spreadsheet = "https://docs.google.com/spreadsheets/d/{sid}/edit#gid=0"
credentials_file = "{self.credentials}"
api_url = "{self.emulator.url}"
{extra}
{blocks}""",
            encoding="utf-8",
        )
        return self.config_path

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(**{"DATAQUEST_API_KEY": self.sandbox.api_key, **extra})

    def cli(self, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sync", "--config", str(self.config_path), *args]
            if not args or args[0] not in ("check",)
            else [
                sys.executable,
                "-m",
                "sync",
                args[0],
                "--config",
                str(self.config_path),
                *args[1:],
            ],
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=timeout,
            cwd=self.tmp_path,
        )

    # -- reading the sheet back ---------------------------------------------------

    def values(self, title: str) -> list[list[Any]]:
        return self.person.values(title)

    def records(self, title: str) -> list[dict[str, Any]]:
        values = self.values(title)
        header = values[0]
        return [
            dict(zip(header, row + [""] * (len(header) - len(row)), strict=False))
            for row in values[1:]
        ]

    def written_columns(self, title: str) -> set[int]:
        """Every column any values write touched in ``title`` (from the request log)."""
        cols: set[int] = set()
        for req in self.emulator.log:
            if req.kind != "values.batchUpdate":
                continue
            for rng in req.ranges:
                sheet, _, cells = rng.rpartition("!")
                if sheet.strip("'").replace("''", "'") != title:
                    continue
                letters = [part.rstrip("0123456789") for part in cells.split(":")]
                first = col_number(letters[0])
                last = col_number(letters[-1])
                cols.update(range(first, last + 1))
        return cols

    def kinds(self) -> list[str]:
        return [r.kind for r in self.emulator.log if r.kind != "token"]
