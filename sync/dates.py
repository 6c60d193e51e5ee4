"""Report date specs: what a ``start_date``/``end_date`` in the config means.

A spec is written once in the config and resolved against "today" at every
cycle, so ``"-30d"`` keeps meaning "the last 30 days" in a long-running
service::

    >>> resolve_date("2024-01-31", date(2024, 3, 1))
    datetime.date(2024, 1, 31)
    >>> resolve_date("-30d", date(2024, 3, 1))
    datetime.date(2024, 1, 31)
    >>> api_date(date(2024, 1, 31))
    '31/01/2024'

The Teams API takes dates as DD/MM/YYYY; ``api_date`` writes that form.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

__all__ = ["DATE_SPEC_HELP", "MAX_DAYS_BACK", "api_date", "resolve_date"]

#: What a valid spec looks like, for error messages.
DATE_SPEC_HELP = 'an ISO date "YYYY-MM-DD", "today", or "-Nd" (N days before today)'

#: The furthest back a relative spec may reach (about 100 years).
MAX_DAYS_BACK = 36_600

_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")
_RELATIVE = re.compile(r"-(\d{1,9})d")


def resolve_date(spec: str, today: date) -> date:
    """The date ``spec`` means on ``today``.

    ``spec`` is ``"YYYY-MM-DD"``, ``"today"`` or ``"-Nd"``; anything else raises
    ``ValueError`` with a message that says what would be right (the message
    never repeats a long spec in full).
    """
    text = spec.strip()
    if text.lower() == "today":
        return today
    if _ISO.fullmatch(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"{text} is not a real calendar date") from None
    relative = _RELATIVE.fullmatch(text)
    if relative:
        days = int(relative.group(1))
        if days > MAX_DAYS_BACK:
            raise ValueError(f"-{days}d reaches too far back (at most -{MAX_DAYS_BACK}d)")
        try:
            return today - timedelta(days=days)
        except OverflowError:
            raise ValueError(f"-{days}d reaches before the year 1") from None
    raise ValueError(f"expected {DATE_SPEC_HELP}")


def api_date(day: date) -> str:
    """``day`` as the Teams API wants it: DD/MM/YYYY (zero-padded, 4-digit year)."""
    return f"{day.day:02d}/{day.month:02d}/{day.year:04d}"
