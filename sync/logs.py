"""Logging setup: text or JSON lines on stderr, journald-aware, secrets redacted.

Every secret the process learns (API key, private key, access tokens) is
registered with ``redact`` and replaced by ``***`` in every record that passes
through our handler, whoever logged it: a second line of defence behind the
rule that no code logs a secret in the first place.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from typing import IO

_SECRETS: set[str] = set()
#: Secrets shorter than this are not redacted (they would mangle ordinary text).
_MIN_SECRET = 6


def redact(secret: str | None) -> None:
    """Register a secret so that it never appears in a log line."""
    if secret and len(secret) >= _MIN_SECRET:
        _SECRETS.add(secret)
        # A private key's body lines too, in case a fragment is ever printed.
        for line in secret.splitlines():
            if len(line) >= 16 and "PRIVATE KEY" not in line:
                _SECRETS.add(line)


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced by ``***``."""
    for secret in sorted(_SECRETS, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, "***")
    return text


class _RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return scrub(json.dumps(entry, ensure_ascii=False))


def setup(
    level: str = "info",
    fmt: str = "text",
    *,
    env: Mapping[str, str] = os.environ,
    stream: IO[str] | None = None,
) -> None:
    """Configure the root logger once for the CLI."""
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    elif env.get("JOURNAL_STREAM"):
        # journald stamps each line itself.
        handler.setFormatter(_RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(
            _RedactingFormatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%d %H:%M:%S"
            )
        )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    if level.lower() != "debug":
        # Third-party chatter only at debug.
        for noisy in ("urllib3", "google", "gspread", "openpyxl"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
