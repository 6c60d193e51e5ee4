"""JSON records of one report to a typed ``Table``.

This module owns the first half of "what the connector writes": the column
order, the flattening of nested values, the typing of cells and the row keys.
It does no I/O; ``build_table`` is its main entry point.

- Columns come in order of first appearance across all records, so the order
  is stable from run to run. Nested objects become dotted names (``a.b``);
  lists become compact JSON text.
- Cells: ``int``/``float`` stay numbers (NaN and infinities become empty, with
  a warning), booleans stay booleans, ISO 8601 date-times become date-time
  serial numbers (days since 1899-12-30) in the spreadsheet's time zone,
  ``null`` becomes empty, and everything else is text as is (``"N/A"`` stays
  text). Text longer than 50,000 characters (a Sheets cell limit) is cut, with
  a warning.
- Timestamps: a date, a ``T`` or a space, and a time (``12:16``, ``12:16:09``,
  ``12:16:09.692``), optionally ``Z`` or an offset. A timestamp without ``Z``
  or an offset is taken as UTC, like the API's own. A date alone
  (``2022-02-16``) is *not* a timestamp: it is a calendar day, not an
  instant, so it stays text (ISO dates still sort correctly as text).
- Keys: ``normalise_key`` of the key fields. A record whose key is entirely
  empty is skipped with a warning. Records that share a key collapse to one
  when identical; when they conflict the first is kept and a warning names the
  key. Odd input never crashes the build.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from datetime import timezone as dt_timezone
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync.errors import BadResponse
from sync.model import Cell, Key, Table, normalise_key, same_value

log = logging.getLogger(__name__)

#: The Sheets API limit of characters in one cell.
MAX_CELL_CHARS = 50_000
#: How many keys a duplicate-key warning names before summarising the rest.
_MAX_NAMED_KEYS = 5

_EPOCH = datetime(1899, 12, 30)
_EPOCH_ORDINAL = _EPOCH.toordinal()
_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})"
    r"(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"(Z|z|[+-]\d{2}(?::?\d{2})?)?\Z"
)


def parse_timestamp(text: str) -> datetime | None:
    """An aware datetime for an ISO 8601 date-time, or None when ``text`` is not one.

    >>> parse_timestamp("2022-02-16T12:16:09.692Z")
    datetime.datetime(2022, 2, 16, 12, 16, 9, 692000, tzinfo=datetime.timezone.utc)
    >>> parse_timestamp("2022-02-16T13:16:09+01:00").isoformat()
    '2022-02-16T13:16:09+01:00'
    >>> parse_timestamp("2022-02-16") is None, parse_timestamp("N/A") is None
    (True, True)

    Without ``Z`` or an offset the time is taken as UTC.
    """
    if not 16 <= len(text) <= 40 or text[4:5] != "-":
        return None
    match = _TIMESTAMP.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    tz: dt_timezone = UTC
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        hours, minutes = int(digits[:2]), int(digits[2:4] or "0")
        if hours > 23 or minutes > 59:
            return None
        tz = dt_timezone(sign * timedelta(hours=hours, minutes=minutes))
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or "0"),
            micros,
            tzinfo=tz,
        )
    except ValueError:  # 2022-02-30, 25:00 and the like
        return None


def to_serial(ts: datetime, timezone: str | None = None) -> float:
    """Days since 1899-12-30 of ``ts``'s wall-clock time, as Sheets and Excel count.

    With ``timezone`` (an IANA name) an aware ``ts`` is first converted to it;
    otherwise the wall-clock time of ``ts`` is used as it stands.

    >>> to_serial(datetime(2022, 2, 16, 12))
    44608.5
    >>> to_serial(parse_timestamp("2022-02-16T12:00:00Z"), "Europe/Berlin")
    44608.541666666664
    """
    if timezone is not None and ts.tzinfo is not None:
        ts = ts.astimezone(ZoneInfo(timezone))
    seconds = ts.hour * 3600 + ts.minute * 60 + ts.second + ts.microsecond / 1_000_000
    return ts.toordinal() - _EPOCH_ORDINAL + seconds / 86_400


def from_serial(serial: float) -> datetime:
    """The naive wall-clock datetime of a serial number (the inverse of ``to_serial``)."""
    return _EPOCH + timedelta(days=serial)


class _Typer:
    """Turns raw JSON values into cells, counting what it had to change."""

    def __init__(self, tz_name: str) -> None:
        self.tz: ZoneInfo | dt_timezone
        self.warnings: list[str] = []
        try:
            self.tz = UTC if tz_name in ("UTC", "Etc/UTC") else ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            self.tz = UTC
            self.warnings.append(f"unknown time zone {tz_name!r}: timestamps written in UTC")
        self.not_finite: set[str] = set()
        self.truncated: set[str] = set()
        self.datetime_columns: set[str] = set()

    def cell(self, column: str, value: Any) -> Cell:
        kind = type(value)
        if kind is str:
            if value[4:5] == "-" or len(value) > MAX_CELL_CHARS:
                return self.text(column, value)  # maybe a timestamp, maybe too long
            return value  # plain text, the usual case
        if value is None or kind is int or kind is bool:
            return value
        if kind is float:
            if math.isfinite(value):
                return value
            self.not_finite.add(column)
            return None
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, int | float):
            return self.cell(column, float(value) if isinstance(value, float) else int(value))
        if isinstance(value, list | tuple):
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
            return self.truncate(column, text)
        return self.truncate(column, str(value))

    def text(self, column: str, value: str) -> Cell:
        ts = parse_timestamp(value)
        if ts is not None:
            self.datetime_columns.add(column)
            if ts.tzinfo is not self.tz:
                ts = ts.astimezone(self.tz)
            return to_serial(ts)
        return self.truncate(column, value)

    def truncate(self, column: str, text: str) -> str:
        if len(text) > MAX_CELL_CHARS:
            self.truncated.add(column)
            return text[:MAX_CELL_CHARS]
        return text

    def summary(self) -> list[str]:
        out = list(self.warnings)
        if self.not_finite:
            names = ", ".join(sorted(self.not_finite))
            out.append(f"NaN or infinite numbers written as empty cells in: {names}")
        if self.truncated:
            names = ", ".join(sorted(self.truncated))
            out.append(f"text longer than {MAX_CELL_CHARS} characters cut in: {names}")
        return out


def _fields(record: Mapping[Any, Any], clean: set[frozenset[Any]]) -> Mapping[str, Any]:
    """The record's fields by column name: the record itself when it is flat
    with clean names (the usual case), else flattened by ``_flatten``.
    ``clean`` remembers the name sets already found clean."""
    if type(record) is dict and dict not in map(type, record.values()):
        names = frozenset(record)
        if names in clean:
            return record
        if all(type(n) is str and n and n == n.strip() for n in names):
            clean.add(names)
            return record
    out: dict[str, Any] = {}
    _flatten(record, "", out)
    return out


def _flatten(record: Mapping[Any, Any], prefix: str, out: dict[str, Any]) -> None:
    """Nested objects become dotted names (names stripped, nameless fields
    dropped); the first value of a name wins; an empty object is an empty cell."""
    for name, value in record.items():
        full = f"{prefix}{str(name).strip()}"
        if not full or full.endswith("."):
            continue  # a field without a name cannot have a header
        if isinstance(value, Mapping):
            before = len(out)
            _flatten(value, full + ".", out)
            if len(out) == before:
                out.setdefault(full, None)
        elif full not in out:
            out[full] = value


def _same_row(a: tuple[Cell, ...], b: tuple[Cell, ...]) -> bool:
    return all(same_value(x, y) for x, y in zip(a, b, strict=True))


def _key_text(key: Key) -> str:
    return "(" + ", ".join(key) + ")"


def build_table(
    endpoint: str,
    records: Sequence[Mapping[str, Any]],
    key_fields: Sequence[str],
    *,
    timezone: str = "UTC",
) -> Table:
    """Type the records of one report and key them by ``key_fields``.

    Raises ``BadResponse`` when the records are not a list of objects, or when a
    key field is absent from every record (the message lists the fields that
    did arrive). An empty list of records is a valid, empty table.
    """
    if isinstance(records, Mapping | str | bytes):
        raise BadResponse(f"{endpoint}: expected a list of records, got {type(records).__name__}")
    flat: list[Mapping[str, Any]] = []
    seen_columns: dict[str, None] = {}
    last_names: object = None
    clean: set[frozenset[Any]] = set()
    for number, record in enumerate(records, start=1):
        if type(record) is not dict and not isinstance(record, Mapping):
            raise BadResponse(
                f"{endpoint}: record {number} is not an object but {type(record).__name__}"
            )
        fields = _fields(record, clean)
        flat.append(fields)
        names = fields.keys()
        if names != last_names:  # most records repeat the previous one's fields
            seen_columns.update(dict.fromkeys(names))
            last_names = names
    columns = tuple(seen_columns)
    key_fields = tuple(name.strip() for name in key_fields)
    if flat:
        for name in key_fields:
            if name not in seen_columns:
                arrived = ", ".join(columns[:40]) + (", ..." if len(columns) > 40 else "")
                raise BadResponse(
                    f"{endpoint}: key field {name!r} is missing from every record; "
                    f"fields that arrived: {arrived or '(none)'}"
                )

    typer = _Typer(timezone)
    key_index = [columns.index(name) for name in key_fields] if flat else []
    rows: list[tuple[Cell, ...]] = []
    keys: list[Key] = []
    first_row: dict[Key, int] = {}
    empty_keys = 0
    conflicts: list[Key] = []
    cell = typer.cell
    for fields in flat:
        row = tuple(map(cell, columns, map(fields.get, columns)))
        parts = [row[i] for i in key_index]
        try:  # all text, the usual case
            key: Key | None = tuple(map(str.strip, parts))  # type: ignore[arg-type]
            if not any(key):  # type: ignore[arg-type]
                key = None
        except TypeError:  # numbers, booleans, empty cells
            key = normalise_key(parts)
        if key is None:
            # a record with an entirely empty key: nothing to find its row by
            empty_keys += 1
            continue
        earlier = first_row.get(key)
        if earlier is None:
            # a new key
            first_row[key] = len(rows)
            rows.append(row)
            keys.append(key)
        elif not _same_row(rows[earlier], row) and key not in conflicts:
            # the same key with other values: the first record wins
            conflicts.append(key)
        # else: an identical duplicate collapses silently

    warnings = typer.summary()
    if empty_keys:
        fields_text = ", ".join(key_fields)
        warnings.append(f"{empty_keys} record(s) with an empty key ({fields_text}) skipped")
    for key in conflicts[:_MAX_NAMED_KEYS]:
        warnings.append(f"records with the same key {_key_text(key)} differ: the first is kept")
    if len(conflicts) > _MAX_NAMED_KEYS:
        more = len(conflicts) - _MAX_NAMED_KEYS
        warnings.append(f"... and {more} more key(s) with differing duplicate records")
    for line in warnings:
        log.debug("%s: %s", endpoint, line)
    return Table(
        endpoint=endpoint,
        columns=columns,
        rows=tuple(rows),
        key_fields=key_fields,
        keys=tuple(keys),
        datetime_columns=frozenset(typer.datetime_columns),
        warnings=tuple(warnings),
    )
