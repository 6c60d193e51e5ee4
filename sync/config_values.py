"""Reading typed values out of a TOML table, recording problems instead of raising.

What this module owns: ``Table``, whose getters each check one value (string,
whole number, number, choice, list of strings, date spec, http(s) URL) and,
when it is wrong, record a ``Problem`` named by its dotted key and fall back to
a default, so one pass finds every problem in a file; ``section``, which takes
a ``[name]`` table out of the file; and the message helpers: ``show`` renders a
value safely and briefly, ``suggest`` offers a near spelling, ``key_part``
names a key, ``zone_problem`` checks an IANA time zone name.

It knows nothing of which keys a section may hold: ``sync.config`` owns the
schema and reports unknown keys.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any
from urllib.parse import urlsplit

from sync.dates import resolve_date
from sync.errors import Problem

__all__ = ["Table", "key_part", "section", "show", "suggest", "zone_problem"]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class Table:
    """One TOML table under validation: typed getters that record problems and
    fall back to a default, so every problem in the file is found in one pass."""

    def __init__(self, data: Mapping[str, Any], path: str, problems: list[Problem]) -> None:
        self.data, self.path, self.problems = data, path, problems

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(f"{self.path}.{name}", message))

    def has(self, name: str) -> bool:
        return self.data.get(name) is not None

    def string(
        self,
        name: str,
        default: str = "",
        *,
        required: str = "",
        empty_ok: bool = False,
        strip: bool = True,
    ) -> str:
        value = self.data.get(name)
        if value is None:
            if required:
                self.problem(name, f"missing; {required}")
            return default
        if not isinstance(value, str):
            self.problem(name, f"must be a string, got {show(value)}")
            return default
        if any(unicodedata.category(c) in ("Cc", "Cs") for c in value):
            self.problem(name, f"{show(value)} has control characters (tab, line break...)")
            return default
        if not value.strip() and not empty_ok:
            self.problem(name, f"must not be empty{'; ' + required if required else ''}")
            return default
        return value.strip() if strip else value

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int):
            self.problem(name, f"must be a whole number from {low} to {high}, got {show(value)}")
            return default
        if not low <= value <= high:
            self.problem(name, f"{show(value)} is out of range; use {low} to {high}")
            return default
        return value

    def number(
        self, name: str, default: float, low: float, high: float, *, low_open: bool = False
    ) -> float:
        value = self.data.get(name, default)
        span = f"{'above' if low_open else 'from'} {low:g} {'up ' if low_open else ''}to {high:g}"
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(name, f"must be a number {span}, got {show(value)}")
            return default
        if math.isnan(value) or value > high or value < low or (low_open and value == low):
            self.problem(name, f"{show(value)} is out of range; use a number {span}")
            return default
        return float(value)

    def choice(
        self,
        name: str,
        choices: tuple[str, ...],
        what: str,
        default: str = "",
        *,
        required: str = "",
    ) -> str:
        value = self.string(name, default, required=required)
        if value and value not in choices:
            hint = suggest(value, choices)
            self.problem(name, f"{show(value)} is not {what}{hint} (one of {', '.join(choices)})")
            return ""
        return value

    def string_list(
        self,
        name: str,
        default: tuple[str, ...],
        *,
        what: str,
        item_check: Any = None,
    ) -> tuple[str, ...]:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, list) or not value:
            self.problem(
                name, f'must be a non-empty list of {what}, like ["a", "b"], got {show(value)}'
            )
            return default
        items: list[str] = []
        for index, item in enumerate(value, 1):
            key = f"{name}[{index}]"
            if not isinstance(item, str) or not item.strip():
                self.problem(key, f"must be a non-empty string, got {show(item)}")
            elif item_check is None:
                if item.strip() in items:
                    self.problem(key, f"{show(item)} is listed twice")
                items.append(item.strip())
            else:
                try:
                    items.append(item_check(item))
                except ValueError as exc:
                    self.problem(key, f"{show(item)}: {exc}")
        return tuple(items)

    def date_spec(self, name: str, today: date) -> tuple[str, date] | None:
        value = self.data.get(name)
        if value is None:
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            value = value.isoformat()  # an unquoted TOML date
        if not isinstance(value, str):
            self.problem(
                name, f'must be a date like "2024-01-31", "today" or "-30d", got {show(value)}'
            )
            return None
        try:
            return value.strip(), resolve_date(value, today)
        except ValueError as exc:
            self.problem(name, f"{show(value)} is not a valid date: {exc}")
            return None

    def url(self, name: str, default: str) -> str:
        text = self.string(name, default)
        try:
            parts = urlsplit(text)
            ok = parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
        except ValueError:
            ok = False
        if not ok or any(c.isspace() or not c.isprintable() for c in text):
            self.problem(name, f'{show(text)} is not an http(s) URL like "{default}"')
            return default
        if parts.query or parts.fragment:
            self.problem(name, f"{show(text)} must not have a ?query or #fragment")
            return default
        return text


def section(data: Mapping[str, Any], name: str, problems: list[Problem]) -> Table:
    """The table ``[name]`` of ``data``; an empty one when it is absent or not a table."""
    value = data.get(name)
    if value is None:
        value = {}
    elif not isinstance(value, Mapping):
        hint = f"; write [{name}] as a section header" if isinstance(value, list) else ""
        problems.append(Problem(name, f"must be a table ([{name}]), got {show(value)}{hint}"))
        value = {}
    return Table(value, name, problems)


def zone_problem(name: str) -> str | None:
    """Why ``name`` is not an IANA time zone (with a near spelling), or None."""
    try:
        zoneinfo.ZoneInfo(name)
    except (ValueError, OSError, KeyError):
        hint = suggest(name, sorted(zoneinfo.available_timezones()))
        return f'{show(name)} is not an IANA time zone{hint} (e.g. "Europe/Berlin", "UTC")'
    return None


def suggest(word: str, options: Iterable[str]) -> str:
    """'; did you mean "x"?' for the option nearest ``word``, or "" when none is near."""
    lowered = {o.lower(): o for o in options}
    low = word.lower()[:100]
    match = [o for o in lowered if len(low) >= 3 and o.startswith(low)][:1]
    match = match or difflib.get_close_matches(low, list(lowered), n=1, cutoff=0.6)
    return f'; did you mean "{lowered[match[0]]}"?' if match else ""


def key_part(name: object) -> str:
    """A TOML key as a message names it: bare when it can be, quoted otherwise."""
    if not isinstance(name, str):
        return f"<{type(name).__name__} key>"
    return name if _BARE_KEY.fullmatch(name) else show(name)


_TOML_TYPES = (
    (bool, "a boolean"),
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (datetime, "a date-time"),
    (date, "a date"),
    (time, "a time"),
    (list, "an array"),
    (Mapping, "a table"),
)


def show(value: object, limit: int = 60) -> str:
    """A short, printable rendering of a config value for a message."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value) if abs(value) < 10**18 else "a huge number"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, str):
        out = []
        for char in value[:limit]:
            if char in '"\\':
                out.append("\\" + char)
            elif char.isprintable():
                out.append(char)
            else:
                out.append(f"\\u{ord(char):04x}" if ord(char) < 0x10000 else f"\\U{ord(char):08x}")
        return '"' + "".join(out) + ("..." if len(value) > limit else "") + '"'
    kind = next((name for typ, name in _TOML_TYPES if isinstance(value, typ)), None)
    return kind or ("nothing" if value is None else f"a {type(value).__name__}")
