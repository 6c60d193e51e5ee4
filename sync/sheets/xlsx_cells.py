"""Cell values between openpyxl and the shared ``Cell`` type.

Reading gives what the Sheets API gives with UNFORMATTED_VALUE/SERIAL_NUMBER
(date-times as serial days since 1899-12-30), except that a formula reads as
its text (``"=A2*2"``). Writing stores strings always as text cells (never
formulas or error codes), date-time serials as real Excel date-times, and
cleans what Excel cannot hold (over-long strings, XML control characters).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import re

from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.cell.cell import Cell as XlCell
from openpyxl.styles import Font

from sync.model import Cell

log = logging.getLogger(__name__)

#: Excel's limit on the characters of one cell.
MAX_CELL_CHARS = 32_767
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
EPOCH = dt.datetime(1899, 12, 30)
BOLD = Font(bold=True)
_SURROGATES = re.compile("[\ud800-\udfff]")


def read_value(value: object) -> Cell:
    """An openpyxl cell value as a ``Cell`` (formulas as their text)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dt.datetime):
        return to_serial(value)
    if isinstance(value, dt.date):
        return to_serial(dt.datetime(value.year, value.month, value.day))
    if isinstance(value, dt.time):
        return (
            value.hour * 3600 + value.minute * 60 + value.second + value.microsecond / 1e6
        ) / 86400
    if isinstance(value, dt.timedelta):
        return value.total_seconds() / 86400
    text = getattr(value, "text", None)  # ArrayFormula keeps its formula in .text
    if isinstance(text, str):
        return text
    return str(value)  # rich text, data table formulas


def to_serial(value: dt.datetime) -> float:
    """A naive date-time as a serial number of days since 1899-12-30."""
    if value.tzinfo is not None:
        value = value.replace(tzinfo=None)
    return (value - EPOCH) / dt.timedelta(days=1)


def from_serial(serial: float) -> dt.datetime:
    """A serial number of days as a naive date-time, rounded to the millisecond."""
    millis = round(serial * 86_400_000)
    return EPOCH + dt.timedelta(milliseconds=millis)


def excel_text(value: str) -> str:
    """``value`` as an .xlsx cell holds it: control characters removed, lone
    surrogates replaced, at most 32,767 characters (no logging)."""
    cleaned = _SURROGATES.sub("\ufffd", ILLEGAL_CHARACTERS_RE.sub("", value))
    return cleaned[:MAX_CELL_CHARS]


def clean_text(value: str, where: str) -> str:
    """``value`` as Excel can store it: control characters and lone surrogates
    removed, at most 32,767 characters; each change logged as a warning."""
    cleaned = ILLEGAL_CHARACTERS_RE.sub("", value)
    cleaned = _SURROGATES.sub("\ufffd", cleaned)
    if cleaned != value:
        log.warning("%s: removed control characters that an .xlsx cell cannot hold", where)
    if len(cleaned) > MAX_CELL_CHARS:
        log.warning(
            "%s: text of %d characters cut to %d, Excel's limit for one cell",
            where,
            len(cleaned),
            MAX_CELL_CHARS,
        )
        cleaned = cleaned[:MAX_CELL_CHARS]
    return cleaned


def write_cell(cell: XlCell, value: Cell, *, as_datetime: bool, where: str) -> None:
    """Store ``value`` in ``cell`` with the right type (None clears it)."""
    if value is None:
        cell.value = None
    elif isinstance(value, bool):
        cell.value = value
    elif isinstance(value, int | float):
        if not math.isfinite(value):
            log.warning("%s: %r is not a number Excel can store; written as text", where, value)
            _write_text(cell, repr(value), where)
        elif as_datetime:
            cell.value = from_serial(value)
            cell.number_format = DATETIME_FORMAT
        else:
            cell.value = value
    elif isinstance(value, str):
        _write_text(cell, value, where)
    else:  # not a Cell; never guess
        raise TypeError(f"{where}: cannot write {type(value).__name__} to a cell")


def _write_text(cell: XlCell, value: str, where: str) -> None:
    text = clean_text(value, where)
    cell.value = text
    # openpyxl turns "=..." into a formula and "#N/A" into an error: force text
    cell.data_type = "s"
    if text.startswith("=") and not cell.quotePrefix:
        cell.quotePrefix = True  # what Excel does for '=...: stays text when edited
