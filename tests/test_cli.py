"""The command line as a user meets it: help, usage errors, config errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sync.cli import main

ROOT = Path(__file__).resolve().parents[1]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DQ_SHEETS_SYNC")}
    full_env.pop("DATAQUEST_API_KEY", None)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sync", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=60,
    )


def test_help_documents_commands_and_exit_codes() -> None:
    result = run("--help")
    assert result.returncode == 0
    for word in ("--once", "--dry-run", "--force", "--only", "check", "demo", "sandbox", "78"):
        assert word in result.stdout


@pytest.mark.parametrize("command", ["check", "demo", "sandbox"])
def test_each_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.returncode == 0
    assert f"dq-sheets-sync {command}" in result.stdout


def test_usage_error_exits_2() -> None:
    result = run("--no-such-flag")
    assert result.returncode == 2
    assert "unrecognized arguments" in result.stderr


def test_missing_config_names_every_path_tried(tmp_path: Path) -> None:
    result = run("--once", cwd=tmp_path, env={"DQ_SHEETS_SYNC_CONFIG": str(tmp_path / "env.toml")})
    assert result.returncode == 78
    assert "env.toml" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_errors_exit_78_with_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        '[dataquest]\nteam_id = "1"\n[workbook]\npath = "x.xlsx"\n'
        '[[worksheet]]\nendpoint = "course_progres"\ntitle = "A"\n'
        '[[worksheet]]\nendpoint = "time_spent"\ntitle = "B"\nkye = ["email"]\n',
        encoding="utf-8",
    )
    result = run("--once", "--config", str(config))
    assert result.returncode == 78
    assert "worksheet[1].endpoint" in result.stderr
    assert 'did you mean "course_progress"' in result.stderr or "course_progress" in result.stderr
    assert "worksheet[2].kye" in result.stderr
    assert "DATAQUEST_API_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[dataquest]\nteam_id = "1\n', encoding="utf-8")
    result = run("check", "--config", str(config))
    assert result.returncode == 78
    assert "line 2" in result.stderr


def test_main_returns_exit_codes_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DQ_SHEETS_SYNC_CONFIG", raising=False)
    assert main(["--once"]) == 78
    assert main(["--bogus"]) == 2


def test_json_logs_are_one_object_per_line(tmp_path: Path) -> None:
    result = run("demo", "--dir", str(tmp_path), "--log-format", "json", "--log-level", "info")
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines
    import json

    entries = [json.loads(line) for line in lines]
    assert {"time", "level", "logger", "message"} <= entries[0].keys()
    assert any("added" in e["message"] for e in entries)


def test_journald_lines_carry_no_timestamp(tmp_path: Path) -> None:
    result = run(
        "demo", "--dir", str(tmp_path), "--log-level", "info", env={"JOURNAL_STREAM": "8:1"}
    )
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith(("INFO ", "WARNING ")), first


def test_an_unusable_lock_folder_is_a_clear_configuration_error(tmp_path: Path) -> None:
    from sync.errors import ConfigError
    from sync.lock import WriterLock

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x", encoding="utf-8")
    lock = WriterLock("sheet-1", env={"RUNTIME_DIRECTORY": str(not_a_folder / "run")})
    with pytest.raises(ConfigError) as info:
        lock.acquire()
    assert "lock file" in str(info.value) and "RUNTIME_DIRECTORY" in str(info.value)
