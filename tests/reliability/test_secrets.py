"""Secrets: no API key, private key or access token in any output, ever.

Every command (``--once``, ``--once --log-format json``, ``--dry-run``,
``check``, service mode, ``demo``) runs as a subprocess at ``--log-level
debug`` through successes and failures (a wrong key, a 500, a 429, a 403, a
refused service account), and lasting failures run in-process on a fake
clock with the product's own log handler; neither the known API key, nor the
generated private key (or any line of it), nor any access token the emulator
issued appears in stdout, stderr, log lines or error texts. The token request
asks only for the spreadsheets scope, TLS verification is never turned off,
and a key file others can read gets a warning.
"""

from __future__ import annotations

import io
import json
import logging
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sync import logs
from sync.config import parse_config
from sync.dataquest import DataquestClient
from sync.engine import Engine
from sync.sandbox import Sandbox
from sync.sheets.google import GoogleBackend
from tests.e2e import ROOT, Site, clean_env
from tests.emulator import Emulator
from tests.emulator.auth import new_key, write_service_account
from tests.sandbox_plugin import FakeClock

SCOPE = "https://www.googleapis.com/auth/spreadsheets"
WORKSHEETS = (("time_spent", "Time spent"), ("invitations_status", "Invitations"))


class Secrets:
    def __init__(self, api_key: str, private_key: str, emulator: Emulator) -> None:
        self.api_key = api_key
        self.private_key = private_key
        self.emulator = emulator
        self.extra: list[str] = []

    def all(self) -> list[str]:
        body = [
            line
            for line in self.private_key.splitlines()
            if len(line) >= 16 and "PRIVATE KEY" not in line
        ]
        tokens = [t.access_token for t in self.emulator.token_requests]
        return [self.api_key, self.private_key, *body, *tokens, *self.extra]

    def assert_absent(self, text: str, where: str) -> None:
        for secret in self.all():
            assert secret not in text, f"a secret ({secret[:4]}...) appears in {where}"
        # also JSON-escaped (a --log-format json line)
        escaped = json.dumps(self.private_key)[1:-1]
        assert escaped not in text, f"the private key appears escaped in {where}"


@pytest.fixture
def site(tmp_path: Path, emulator: Emulator, sandbox_factory: Callable[..., Sandbox]) -> Site:
    api_key = "dq-known-" + secrets.token_hex(16)
    sandbox = sandbox_factory(
        clock=time.monotonic, rate_per_minute=1000, learners=6, api_key=api_key
    )
    return Site(tmp_path, emulator, sandbox, worksheets=WORKSHEETS)


@pytest.fixture
def known(site: Site, emulator: Emulator) -> Secrets:
    info = json.loads(site.credentials.read_text())
    return Secrets(site.sandbox.api_key, info["private_key"], emulator)


def _run(site: Site, known: Secrets, *args: str, expect: int, **env: str) -> str:
    env = {"RUNTIME_DIRECTORY": str(site.tmp_path), **env}
    result = site.cli(*args, "--log-level", "debug", **env)  # type: ignore[arg-type]
    text = result.stdout + result.stderr
    assert result.returncode == expect, (args, result.stderr[-3000:])
    known.assert_absent(text, f"the output of {' '.join(args)}")
    return text


def test_no_secret_in_any_output_of_any_command(
    site: Site, known: Secrets, emulator: Emulator
) -> None:
    sandbox = site.sandbox
    sandbox.auto_advance = False
    first = _run(site, known, "--once", expect=0)
    assert "DEBUG" in first  # the debug level really was on
    _run(site, known, "--once", "--log-format", "json", expect=0)
    sandbox.advance()
    _run(site, known, "--dry-run", expect=0)
    _run(site, known, "check", expect=0)
    # Failures that heal within one run: a Teams API 500 and 429, Google's 429 and 500.
    sandbox.inject(500, endpoint="time_spent")
    sandbox.inject(429, endpoint="invitations_status", retry_after=1)
    emulator.inject(429, kind="spreadsheets.get")
    emulator.inject(500, kind="values.batchGet")
    retried = _run(site, known, "--once", expect=0)
    assert "retrying" in retried or "waiting" in retried
    # Failures that stop the run: Google's 403, then a wrong Dataquest key.
    emulator.inject(403, count=10, kind="spreadsheets.get")
    denied = _run(site, known, "--once", expect=78)
    assert "Share" in denied
    emulator.faults.pending.clear()
    wrong = "dq-wrong-" + secrets.token_hex(16)
    known.extra.append(wrong)
    refused = _run(site, known, "--once", expect=78, DATAQUEST_API_KEY=wrong)
    assert "API key" in refused
    assert emulator.token_requests, "the real OAuth flow ran"
    assert {t.scope for t in emulator.token_requests} == {SCOPE}


def test_a_refused_service_account_key_is_not_shown(site: Site, emulator: Emulator) -> None:
    # A well-formed key the token endpoint does not know.
    path, _ = write_service_account(
        site.tmp_path / "stranger",
        "stranger@test-project.iam.gserviceaccount.com",
        new_key(),
        emulator.token_uri,
    )
    private_key = json.loads(path.read_text())["private_key"]
    site.credentials = path
    site.write_config(WORKSHEETS)
    known = Secrets(site.sandbox.api_key, private_key, emulator)
    text = _run(site, known, "--once", expect=78)
    assert "credentials" in text


def test_no_secret_in_service_mode_output(site: Site, known: Secrets, emulator: Emulator) -> None:
    if not (ROOT / "sync" / "service.py").exists():
        pytest.skip("no service mode yet")
    env = site.env(RUNTIME_DIRECTORY=str(site.tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "sync", "--config", str(site.config_path), "--log-level", "debug"],
        env=env,
        cwd=site.tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not emulator.requests_of("values.batchUpdate") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert emulator.requests_of("values.batchUpdate"), err[-2000:]
    known.assert_absent(out + err, "the service's output")
    assert {t.scope for t in emulator.token_requests} == {SCOPE}


def test_no_key_in_demo_output(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sync", "demo", "--dir", str(tmp_path), "--log-level", "debug"],
        capture_output=True,
        text=True,
        env=clean_env(RUNTIME_DIRECTORY=str(tmp_path)),
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    # The demo's sandbox key is 40 hex digits (secrets.token_hex(20)); none is shown.
    assert not re.search(r"\b[0-9a-f]{40}\b", result.stdout + result.stderr)


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """The product's own log handler (with its redaction) at debug, into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    logs.setup("debug", stream=stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])


def test_no_secret_through_lasting_failures_in_process(
    site: Site, known: Secrets, emulator: Emulator, debug_log: io.StringIO
) -> None:
    clock = FakeClock()
    config = parse_config(
        {
            "dataquest": {"team_id": site.sandbox.team_id, "api_key_env": "K"},
            "workbook": {"path": str(site.tmp_path / "unused.xlsx")},
            "worksheet": [{"endpoint": e, "title": t} for e, t in WORKSHEETS],
        },
        env={"K": known.api_key},
        base_dir=site.tmp_path,
    )

    def cycle() -> str:
        client = DataquestClient(
            team_id=site.sandbox.team_id,
            api_key=known.api_key,
            base_url=site.sandbox.url,
            requests_per_minute=1000,
            clock=clock,
            sleep=clock.sleep,
            rng=random.Random(1),
        )
        backend = GoogleBackend(
            site.spreadsheet_id,
            site.credentials,
            api_url=emulator.url,
            sleep=clock.sleep,
            clock=clock,
        )
        try:
            result = Engine(config, backend, client).run_cycle()
        finally:
            backend.close()
            client.close()
        return " ".join(f"{r.error!s} {r.error!r}" for r in result.results if r.error)

    errors = [cycle()]
    site.sandbox.inject(500, count=1000, endpoint="time_spent")
    site.sandbox.inject(429, count=1000, endpoint="invitations_status", retry_after=20)
    errors.append(cycle())
    site.sandbox.inject(401, count=1000)
    errors.append(cycle())
    with site.sandbox._lock:
        site.sandbox._faults.clear()
    emulator.inject(429, count=1000, kind="values.batchGet")
    errors.append(cycle())
    emulator.faults.pending.clear()
    emulator.inject(403, count=1000, kind="spreadsheets.get")
    errors.append(cycle())
    text = debug_log.getvalue()
    assert "kept throttling" in errors[1] and "not shared" in errors[4]
    assert "DEBUG" in text
    known.assert_absent(text, "the debug log")
    known.assert_absent("\n".join(errors), "the error texts")
    assert {t.scope for t in emulator.token_requests} == {SCOPE}


def test_tls_verification_is_never_turned_off() -> None:
    pattern = re.compile(
        r"verify\s*=\s*False|disable_warnings|CERT_NONE|check_hostname\s*=\s*False|"
        r"_create_unverified_context|PYTHONHTTPSVERIFY|CURL_CA_BUNDLE"
    )
    offenders = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "sync").rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if pattern.search(line)
    ]
    assert not offenders, offenders


def test_a_key_file_others_can_read_gets_a_warning(site: Site, known: Secrets) -> None:
    key_file = site.tmp_path / "api-key"
    key_file.write_text(known.api_key + "\n")
    key_file.chmod(0o644)
    text = site.config_path.read_text()
    site.config_path.write_text(
        text.replace("[dataquest]\n", f'[dataquest]\napi_key_file = "{key_file}"\n', 1)
    )
    result = site.cli("check", RUNTIME_DIRECTORY=str(site.tmp_path), DATAQUEST_API_KEY="")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "readable by group/others" in result.stderr and "chmod 600" in result.stderr
    known.assert_absent(result.stdout + result.stderr, "check with a key file")
    key_file.chmod(0o600)
    quiet = site.cli("check", RUNTIME_DIRECTORY=str(site.tmp_path), DATAQUEST_API_KEY="")
    assert quiet.returncode == 0 and "readable by group/others" not in quiet.stderr
