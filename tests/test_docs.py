"""The documentation cannot rot: every command, flag and config key is in it."""

from __future__ import annotations

import re
from pathlib import Path

from sync.cli import COMMANDS, build_command_parser, build_parser
from sync.config import KNOWN_KEYS

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
EXAMPLE = (ROOT / "config.example.toml").read_text(encoding="utf-8")


def _flags(parser: object) -> set[str]:
    return {
        s
        for action in parser._actions  # type: ignore[attr-defined]
        for s in action.option_strings
        if s.startswith("--") and s != "--help"
    }


def test_every_flag_of_every_command_is_in_the_readme() -> None:
    flags = _flags(build_parser())
    for command in COMMANDS:
        assert f"dq-sheets-sync {command}" in README
        flags |= _flags(build_command_parser(command))
    missing = sorted(f for f in flags if f not in README)
    assert not missing, f"flags missing from README.md: {missing}"


def test_every_config_key_is_in_the_readme_and_the_example() -> None:
    for section, keys in KNOWN_KEYS.items():
        for key in keys:
            assert f"`{section}.{key}`" in README, f"{section}.{key} missing from README.md"
            assert re.search(rf"^#?\s*{re.escape(key)}\s*=", EXAMPLE, re.M), (
                f"{section}.{key} missing from config.example.toml"
            )


def test_the_readme_opens_with_the_demo_and_the_test_command_ci_runs() -> None:
    blocks = re.findall(r"```sh\n(.*?)\n```", README, re.S)
    assert blocks[0].endswith("pip install . && dq-sheets-sync demo")
    test_command = blocks[1]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    runs = test_command.split(" && ", 2)[-1]  # after creating and activating the venv
    assert runs in ci, f"{runs!r} is not what .ci/run runs"


def test_every_exit_code_is_documented() -> None:
    for code in ("0", "1", "2", "75", "78"):
        assert f"| {code} |" in README
