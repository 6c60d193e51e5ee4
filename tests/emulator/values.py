"""Cell values: how input is stored (RAW / USER_ENTERED) and how it reads back.

Owns the en_US parsing of typed text (numbers, percentages, dates, booleans,
formulas), the tiny formula evaluator (arithmetic only: ``=4/2`` is 2, any
other formula evaluates to ``#NAME?`` while FORMULA still returns its text),
and rendering under FORMATTED_VALUE / UNFORMATTED_VALUE / FORMULA with
SERIAL_NUMBER / FORMATTED_STRING date-times.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
import re
from typing import Any

EPOCH = dt.datetime(1899, 12, 30)
DATE_TYPES = {"DATE", "TIME", "DATE_TIME"}

_NUMBER = re.compile(r"^([+-]?)(\$?)(\d{1,3}(?:,\d{3})+|\d*)(\.\d*)?(?:[eE]([+-]?\d+))?(%?)$")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_US_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*([AaPp][Mm]))?$")


def to_serial(moment: dt.datetime) -> float:
    delta = moment - EPOCH
    return delta.days + delta.seconds / 86400 + delta.microseconds / 86_400_000_000


def from_serial(serial: float) -> dt.datetime:
    return EPOCH + dt.timedelta(days=serial)


def tidy_number(value: float | int) -> float | int:
    """Integral floats as ints, as Google's JSON prints them."""
    if (
        isinstance(value, float)
        and math.isfinite(value)
        and value.is_integer()
        and abs(value) < 2**53
    ):
        return int(value)
    return value


# --- USER_ENTERED parsing -----------------------------------------------------------


def parse_user_entered(text: str) -> tuple[Any, str | None, dict[str, str] | None]:
    """(value, formula, numberFormat) for text typed into a cell (en_US)."""
    if text.startswith("="):
        return evaluate(text), text, None
    if text.startswith("'"):
        return text[1:], None, None
    stripped = text.strip()
    upper = stripped.upper()
    if upper in ("TRUE", "FALSE"):
        return upper == "TRUE", None, None
    number = _parse_number(stripped)
    if number is not None:
        return number
    moment = _parse_date(stripped)
    if moment is not None:
        return moment
    return text, None, None


def _parse_number(text: str) -> tuple[Any, None, dict[str, str] | None] | None:
    m = _NUMBER.match(text)
    if not m:
        return None
    sign, dollar, whole, frac, exp, pct = m.groups()
    if not whole and not (frac and len(frac) > 1):
        return None
    value = float((whole or "0").replace(",", "") + (frac or "") + (f"e{exp}" if exp else ""))
    if sign == "-":
        value = -value
    fmt: dict[str, str] | None = None
    decimals = len(frac) - 1 if frac else 0
    if pct:
        value /= 100
        fmt = {"type": "PERCENT", "pattern": "0" + ("." + "0" * decimals if decimals else "") + "%"}
    elif dollar:
        fmt = {"type": "CURRENCY", "pattern": '"$"#,##0.00'}
    elif "," in whole:
        fmt = {"type": "NUMBER", "pattern": "#,##0" + ("." + "0" * decimals if decimals else "")}
    elif exp:
        fmt = {"type": "SCIENTIFIC", "pattern": "0.00E+00"}
    return tidy_number(value), None, fmt


def _parse_date(text: str) -> tuple[Any, None, dict[str, str]] | None:
    try:
        m = _ISO_DATE.match(text)
        if m:
            y, mo, d, hh, mi, ss = m.groups()
            pattern = "yyyy-mm-dd"
            if hh is not None:
                pattern += " h:mm:ss"
            moment = dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
            kind = "DATE_TIME" if hh is not None else "DATE"
            return tidy_number(to_serial(moment)), None, {"type": kind, "pattern": pattern}
        m = _US_DATE.match(text)
        if m:
            mo, d, y, hh, mi, ss = m.groups()
            pattern = "M/d/yyyy" + (" H:mm:ss" if hh is not None else "")
            moment = dt.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
            kind = "DATE_TIME" if hh is not None else "DATE"
            return tidy_number(to_serial(moment)), None, {"type": kind, "pattern": pattern}
        m = _TIME.match(text)
        if m:
            hh, mi, ss, ampm = m.groups()
            hour = int(hh)
            if ampm:
                hour = hour % 12 + (12 if ampm.lower() == "pm" else 0)
            if hour > 23 or int(mi) > 59:
                return None
            serial = (hour * 3600 + int(mi) * 60 + int(ss or 0)) / 86400
            return serial, None, {"type": "TIME", "pattern": "h:mm:ss am/pm"}
    except ValueError:
        return None
    return None


_OPS: dict[type, Any] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def evaluate(formula: str) -> Any:
    """Arithmetic formulas only; anything else is ``#NAME?``."""
    expr = formula[1:].replace("^", "**")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
        return tidy_number(_eval(tree.body))
    except ZeroDivisionError:
        return "#DIV/0!"
    except (SyntaxError, ValueError, TypeError, OverflowError):
        return "#NAME?"


def _eval(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return float(node.value)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return float(_OPS[type(node.op)](_eval(node.left), _eval(node.right)))
    if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
        return float(_OPS[type(node.op)](_eval(node.operand)))
    raise ValueError("not arithmetic")


# --- rendering ----------------------------------------------------------------------


def general_number(value: float | int) -> str:
    """Google's automatic number display (up to 10 decimals)."""
    if isinstance(value, int) or (math.isfinite(value) and value.is_integer()):
        if abs(value) < 1e15:
            return str(int(value))
        return f"{value:.5E}".replace("E+", "E+")
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    if text in ("0", "-0"):
        return f"{value:.2E}"
    return text


def _date_pattern(serial: float, pattern: str) -> str:
    moment = from_serial(serial)
    moment = moment + dt.timedelta(microseconds=500_000)
    moment = moment.replace(microsecond=0)
    out = []
    i = 0
    low = pattern
    has_ampm = "am/pm" in pattern.lower()
    last_was_hour = False
    while i < len(low):
        chunk = low[i:]
        lc = chunk.lower()
        if lc.startswith("am/pm"):
            out.append("AM" if moment.hour < 12 else "PM")
            i += 5
            continue
        m = re.match(r"(y+|m+|d+|h+|s+)", lc)
        if not m:
            if chunk[0] == '"':
                end = chunk.find('"', 1)
                out.append(chunk[1:end] if end > 0 else "")
                i += end + 1 if end > 0 else 1
                continue
            out.append(chunk[0])
            i += 1
            continue
        tok = m.group(1)
        i += len(tok)
        ch = tok[0]
        if ch == "y":
            out.append(f"{moment.year:04d}" if len(tok) > 2 else f"{moment.year % 100:02d}")
        elif ch == "m" and (last_was_hour or lc[len(tok) :].lstrip(":").startswith("s")):
            out.append(f"{moment.minute:02d}" if len(tok) > 1 else str(moment.minute))
        elif ch == "m":
            if len(tok) >= 4:
                out.append(moment.strftime("%B"))
            elif len(tok) == 3:
                out.append(moment.strftime("%b"))
            else:
                out.append(f"{moment.month:02d}" if len(tok) == 2 else str(moment.month))
        elif ch == "d":
            if len(tok) >= 4:
                out.append(moment.strftime("%A"))
            elif len(tok) == 3:
                out.append(moment.strftime("%a"))
            else:
                out.append(f"{moment.day:02d}" if len(tok) == 2 else str(moment.day))
        elif ch == "h":
            hour = moment.hour % 12 or 12 if has_ampm else moment.hour
            out.append(f"{hour:02d}" if len(tok) > 1 else str(hour))
        elif ch == "s":
            out.append(f"{moment.second:02d}" if len(tok) > 1 else str(moment.second))
        last_was_hour = ch == "h"
    return "".join(out)


def _number_pattern(value: float, pattern: str) -> str:
    pct = "%" in pattern
    if pct:
        value *= 100
    core = re.search(r"[#0,]*\.?[0#]*", pattern.replace('"', ""))
    spec = core.group(0) if core else "0"
    decimals = len(spec.split(".")[1]) if "." in spec else 0
    grouping = "," if "," in spec else ""
    body = f"{abs(value):{grouping}.{decimals}f}"
    prefix = "$" if "$" in pattern else ""
    sign = "-" if value < 0 and float(body.replace(",", "")) != 0 else ""
    return f"{sign}{prefix}{body}{'%' if pct else ''}"


def formatted(value: Any, number_format: dict[str, Any] | None) -> str:
    """The FORMATTED_VALUE text of a stored value."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int | float):
        if number_format:
            ftype = number_format.get("type", "")
            pattern = number_format.get("pattern", "")
            if ftype in DATE_TYPES:
                return _date_pattern(
                    float(value), pattern or _DEFAULT_PATTERNS.get(ftype, "yyyy-mm-dd")
                )
            if ftype == "TEXT":
                return general_number(value)
            if pattern:
                return _number_pattern(float(value), pattern)
            if ftype == "PERCENT":
                return _number_pattern(float(value), "0.00%")
        return general_number(value)
    return str(value)


_DEFAULT_PATTERNS = {"DATE": "M/d/yyyy", "TIME": "h:mm:ss am/pm", "DATE_TIME": "M/d/yyyy H:mm:ss"}


def render(
    value: Any,
    formula: str | None,
    number_format: dict[str, Any] | None,
    value_render: str,
    date_render: str,
) -> Any:
    """What values.get returns for one stored cell."""
    if value_render == "FORMATTED_VALUE":
        return formatted(value, number_format)
    if value_render == "FORMULA" and formula is not None:
        return formula
    if (
        date_render == "FORMATTED_STRING"
        and isinstance(value, int | float)
        and not isinstance(value, bool)
        and number_format
        and number_format.get("type") in DATE_TYPES
    ):
        return formatted(value, number_format)
    if isinstance(value, float):
        return tidy_number(value)
    return value


def stored_raw(value: Any) -> Any:
    """A RAW input value as stored (None clears)."""
    if value == "" or value is None:
        return None
    if isinstance(value, float):
        return tidy_number(value)
    return value
