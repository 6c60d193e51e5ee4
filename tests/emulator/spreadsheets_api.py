"""``spreadsheets.get`` and ``spreadsheets.create``: the spreadsheet resource,
``fields`` masks (dotted, slashed and parenthesised forms), ``ranges`` and
``includeGridData`` (values, formats, notes)."""

from __future__ import annotations

import copy
from typing import Any

from .errors import bad_request
from .model import Sheet, Spreadsheet
from .values import formatted
from .values_api import resolve

DEFAULT_FORMAT: dict[str, Any] = {
    "backgroundColor": {"red": 1, "green": 1, "blue": 1},
    "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
    "verticalAlignment": "BOTTOM",
    "wrapStrategy": "OVERFLOW_CELL",
    "textFormat": {
        "foregroundColor": {},
        "fontFamily": "arial,sans,sans-serif",
        "fontSize": 10,
        "bold": False,
        "italic": False,
        "strikethrough": False,
        "underline": False,
        "foregroundColorStyle": {"rgbColor": {}},
    },
    "backgroundColorStyle": {"rgbColor": {"red": 1, "green": 1, "blue": 1}},
}


def _theme() -> dict[str, Any]:
    colors = [
        ("TEXT", {}),
        ("BACKGROUND", {"red": 1, "green": 1, "blue": 1}),
        ("ACCENT1", {"red": 0.25882354, "green": 0.52156866, "blue": 0.95686275}),
        ("ACCENT2", {"red": 0.91764706, "green": 0.2627451, "blue": 0.20784314}),
        ("ACCENT3", {"red": 0.9843137, "green": 0.7372549, "blue": 0.015686275}),
        ("ACCENT4", {"red": 0.20392157, "green": 0.65882355, "blue": 0.3254902}),
        ("ACCENT5", {"red": 1, "green": 0.42745098, "blue": 0.003921569}),
        ("ACCENT6", {"red": 0.27450982, "green": 0.7411765, "blue": 0.7764706}),
        ("LINK", {"red": 0.06666667, "green": 0.33333334, "blue": 0.8}),
    ]
    return {
        "primaryFontFamily": "Arial",
        "themeColors": [{"colorType": t, "color": {"rgbColor": c}} for t, c in colors],
    }


# --- field masks --------------------------------------------------------------------

Mask = dict[str, "Mask | None"]


def parse_fields(text: str) -> Mask:
    """``a.b,c(d,e/f)`` -> {"a": {"b": None}, "c": {"d": None, "e": {"f": None}}}."""
    pos = 0

    def parse_list() -> Mask:
        nonlocal pos
        mask: Mask = {}
        while pos < len(text):
            start = pos
            while pos < len(text) and text[pos] not in ",()":
                pos += 1
            path = [p for p in text[start:pos].strip().replace("/", ".").split(".") if p]
            sub: Mask | None = None
            if pos < len(text) and text[pos] == "(":
                pos += 1
                sub = parse_list()
                pos += 1  # ")"
            if path:
                _merge(mask, path, sub)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            if pos < len(text) and text[pos] == ")":
                return mask
        return mask

    return parse_list()


def _merge(mask: Mask, path: list[str], sub: Mask | None) -> None:
    head, rest = path[0], path[1:]
    if not rest:
        if sub is None or mask.get(head, {}) is None:
            mask[head] = None
        else:
            existing = mask.setdefault(head, {})
            if existing is not None:
                existing.update(sub)
        return
    if head in mask and mask[head] is None:
        return
    child = mask.setdefault(head, {})
    assert child is not None
    _merge(child, rest, sub)


def project(value: Any, mask: Mask | None) -> Any:
    if mask is None:
        return value
    if isinstance(value, list):
        return [project(v, mask) for v in value]
    if isinstance(value, dict):
        out = {}
        for key, sub in mask.items():
            if key in value:
                out[key] = project(value[key], sub)
        return out
    return value


def mask_mentions(mask: Mask | None, *path: str) -> bool:
    node: Mask | None = mask
    for part in path:
        if node is None:
            return True
        if part not in node:
            return False
        node = node[part]
    return True


# --- the resource -------------------------------------------------------------------


def grid_range_json(sheet_id: int, r: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in r.items() if k != "sheetId" and v is not None}
    if sheet_id:
        out = {"sheetId": sheet_id, **out}
    return out


def sheet_json(sheet: Sheet) -> dict[str, Any]:
    out: dict[str, Any] = {"properties": copy.deepcopy(sheet.props)}
    if sheet.merges:
        out["merges"] = copy.deepcopy(sheet.merges)
    if sheet.basic_filter is not None:
        out["basicFilter"] = copy.deepcopy(sheet.basic_filter)
    if sheet.protected_ranges:
        out["protectedRanges"] = copy.deepcopy(sheet.protected_ranges)
    for key, value in sheet.extras.items():
        if value:
            out[key] = copy.deepcopy(value)
    return out


def cell_json(value: Any, extra: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    fmt = (extra or {}).get("fmt")
    formula = (extra or {}).get("formula")
    if value is not None:
        key = (
            "boolValue"
            if isinstance(value, bool)
            else "numberValue"
            if isinstance(value, int | float)
            else "stringValue"
        )
        out["userEnteredValue"] = {"formulaValue": formula} if formula else {key: value}
        out["effectiveValue"] = {key: value}
        out["formattedValue"] = formatted(value, (fmt or {}).get("numberFormat"))
    if fmt:
        out["userEnteredFormat"] = copy.deepcopy(fmt)
    if extra and "note" in extra:
        out["note"] = extra["note"]
    return out


def grid_data(sheet: Sheet, r0: int, c0: int, r1: int, c1: int) -> dict[str, Any]:
    rows = []
    for i in range(r0, min(r1, len(sheet.rows))):
        row = sheet.rows[i]
        width = min(c1, max(len(row.cells), max(row.extra, default=-1) + 1 if row.extra else 0))
        cells = [cell_json(row.get(c), row.extra_of(c)) for c in range(c0, width)]
        while cells and not cells[-1]:
            cells.pop()
        rows.append({"values": cells} if cells else {})
    while rows and not rows[-1]:
        rows.pop()
    data: dict[str, Any] = {}
    if r0:
        data["startRow"] = r0
    if c0:
        data["startColumn"] = c0
    if rows:
        data["rowData"] = rows
    return data


def spreadsheet_json(
    book: Spreadsheet, *, ranges: list[str], include_grid: bool, mask: Mask | None
) -> dict[str, Any]:
    sheets: list[dict[str, Any]] = []
    wants_data = include_grid or (mask is not None and mask_mentions(mask, "sheets", "data"))
    if ranges:
        targets = [resolve(book, text) for text in ranges]
        chosen: list[Sheet] = []
        for t in targets:
            if t.sheet not in chosen:
                chosen.append(t.sheet)
        for sheet in chosen:
            entry = sheet_json(sheet)
            if wants_data:
                entry["data"] = [
                    grid_data(sheet, t.r0, t.c0, t.r1, t.c1) for t in targets if t.sheet is sheet
                ]
            sheets.append(entry)
    else:
        for sheet in book.sheets:
            entry = sheet_json(sheet)
            if wants_data:
                entry["data"] = [grid_data(sheet, 0, 0, sheet.row_count, sheet.col_count)]
            sheets.append(entry)
    props = dict(book.props)
    props["defaultFormat"] = copy.deepcopy(DEFAULT_FORMAT)
    props["spreadsheetTheme"] = _theme()
    out: dict[str, Any] = {
        "spreadsheetId": book.spreadsheet_id,
        "properties": props,
        "sheets": sheets,
    }
    if book.named_ranges:
        out["namedRanges"] = copy.deepcopy(book.named_ranges)
    top_meta = [m for m in book.developer_metadata.values() if "spreadsheet" in m["location"]]
    if top_meta:
        out["developerMetadata"] = copy.deepcopy(top_meta)
    out["spreadsheetUrl"] = f"https://docs.google.com/spreadsheets/d/{book.spreadsheet_id}/edit"
    return project(out, mask) if mask is not None else out


def spreadsheets_get(book: Spreadsheet, params: dict[str, list[str]]) -> dict[str, Any]:
    include = (params.get("includeGridData") or ["false"])[0].lower() == "true"
    fields = params.get("fields")
    mask = parse_fields(",".join(fields)) if fields else None
    return spreadsheet_json(book, ranges=params.get("ranges", []), include_grid=include, mask=mask)


def check_title(title: Any) -> str:
    if not isinstance(title, str):
        raise bad_request("Invalid value at 'spreadsheet.properties.title'")
    return title
