"""The unit files in README.md's "Running as a service" pass ``systemd-analyze verify``.

Each ```ini block of that section starts with a comment naming its file
(``# /etc/systemd/system/NAME``); the blocks are written to a temporary folder
with ``ExecStart=``'s program replaced by one that exists here, and verified
together (so the timer finds its service). Skipped where ``systemd-analyze`` is
missing, or while README.md has no such section.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Running as a service"
PROGRAM = "/usr/local/bin/dq-sheets-sync"


def service_section(readme: str) -> str | None:
    """The text of the "Running as a service" section (up to the next ``## ``)."""
    start = readme.find(HEADING)
    if start < 0:
        return None
    end = readme.find("\n## ", start + len(HEADING))
    return readme[start : end if end >= 0 else len(readme)]


def unit_blocks(section: str) -> dict[str, str]:
    """File name -> text of every ```ini block that names its unit file."""
    units = {}
    for block in re.findall(r"```ini\n(.*?)```", section, re.S):
        first = block.splitlines()[0] if block.strip() else ""
        match = re.fullmatch(r"#\s*/etc/systemd/system/([\w@.-]+\.(?:service|timer))\s*", first)
        if match:
            units[match.group(1)] = block
    return units


def check_units(section: str, folder: Path) -> subprocess.CompletedProcess[str]:
    units = unit_blocks(section)
    assert units, "no ```ini unit blocks (first line: # /etc/systemd/system/NAME)"
    program = shutil.which("dq-sheets-sync") or sys.executable
    paths = []
    for name, text in units.items():
        assert "ExecStart=" not in text or PROGRAM in text, f"{name}: ExecStart is not {PROGRAM}"
        path = folder / name
        path.write_text(text.replace(PROGRAM, program), encoding="utf-8")
        paths.append(str(path))
    return subprocess.run(
        ["systemd-analyze", "verify", "--man=no", *paths],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _problems(result: subprocess.CompletedProcess[str], folder: Path) -> list[str]:
    """Lines of the verifier's output about our units (not about the host's)."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if str(folder) in line or "dq-sheets-sync" in line]


@pytest.fixture
def section() -> str:
    text = service_section((ROOT / "README.md").read_text(encoding="utf-8"))
    if text is None:
        pytest.skip(f"README.md has no {HEADING!r} section yet")
    return text


def test_the_documented_service_unit_has_what_the_issue_asks(section: str) -> None:
    units = unit_blocks(section)
    service = units["dq-sheets-sync.service"]
    for setting in (
        "Type=notify",
        f"ExecStart={PROGRAM} --config /etc/dq-sheets-sync/config.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "WatchdogSec=",
        "DynamicUser=yes",
        "LoadCredential=api-key:",
        "LoadCredential=service-account.json:",
        "RuntimeDirectory=",
        "ProtectSystem=strict",
        "ProtectHome=yes",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
    ):
        assert setting in service, f"dq-sheets-sync.service lacks {setting}"
    assert any(name.endswith(".timer") for name in units), "the timer alternative is missing"
    assert any("--once" in text for text in units.values())


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_the_documented_units_pass_systemd_analyze_verify(section: str, tmp_path: Path) -> None:
    result = check_units(section, tmp_path)
    problems = _problems(result, tmp_path)
    assert not problems, "\n".join(problems)
