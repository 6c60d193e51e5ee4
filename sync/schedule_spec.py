"""The schedule's small languages: ``every = "15m"`` and ``at = ["07:00"]``.

Pure parsers that raise ``ValueError`` with a message saying what would be
right; ``sync.config`` turns those into problems naming the TOML key::

    >>> parse_every("15m")
    900
    >>> parse_at("7:05")
    '07:05'
"""

from __future__ import annotations

import re

__all__ = ["EVERY_HELP", "MAX_EVERY_SECONDS", "MIN_EVERY_SECONDS", "parse_at", "parse_every"]

EVERY_HELP = 'a whole number and a unit: "90s", "15m", "1h" or "1d"'
#: The shortest interval allowed outside tests (the Teams API allows 10 requests a minute).
MIN_EVERY_SECONDS = 60
#: The longest interval: one year.
MAX_EVERY_SECONDS = 366 * 86_400

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
_EVERY = re.compile(r"(\d{1,12})\s*([smhd])")
_AT = re.compile(r"(\d{1,2}):(\d{2})")


def parse_every(text: str, *, allow_short: bool = False) -> int:
    """Seconds in an interval such as ``"15m"``.

    At least ``MIN_EVERY_SECONDS`` unless ``allow_short`` (tests), then at least 1.
    """
    match = _EVERY.fullmatch(text.strip())
    if not match:
        raise ValueError(f"expected {EVERY_HELP}")
    number, unit = int(match.group(1)), match.group(2)
    seconds = number * _UNITS[unit]
    shown = f"{number}{unit}"
    if seconds <= 0:
        raise ValueError(f"{shown} is no interval; use at least 1m")
    if seconds < MIN_EVERY_SECONDS and not allow_short:
        raise ValueError(f"{shown} is too short; use at least 1m (60s)")
    if seconds > MAX_EVERY_SECONDS:
        raise ValueError(f"{shown} is too long; use at most 366d")
    return seconds


def parse_at(text: str) -> str:
    """A time of day ``"H:MM"`` or ``"HH:MM"`` (24-hour clock), normalised to ``"HH:MM"``."""
    match = _AT.fullmatch(text.strip())
    if not match:
        raise ValueError('expected a 24-hour time "HH:MM", e.g. "07:00" or "18:30"')
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(f"{hour:02d}:{minute:02d} is not a time of day (00:00 to 23:59)")
    return f"{hour:02d}:{minute:02d}"
