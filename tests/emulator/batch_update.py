"""``spreadsheets.batchUpdate``: every request applied to a copy of the
spreadsheet, committed only when all succeed (Google's atomicity), with
Google's ``Invalid requests[i].kind: ...`` error texts and ``replies``.

Modelled: addSheet, deleteSheet, updateSheetProperties,
updateSpreadsheetProperties, appendDimension, insertDimension,
deleteDimension, moveDimension, repeatCell, updateCells, sortRange,
createDeveloperMetadata, setBasicFilter, clearBasicFilter,
addProtectedRange, deleteProtectedRange, mergeCells, unmergeCells,
addNamedRange, updateNamedRange, deleteNamedRange. Other known kinds are
accepted and ignored (reply ``{}``); unknown kinds fail like Google's parser.
"""

from __future__ import annotations

import copy
import math
import struct
from collections.abc import Callable
from typing import Any

from .errors import ApiError, bad_request
from .model import CELL_LIMIT, DEFAULT_COLS, DEFAULT_ROWS, Sheet, Spreadsheet, new_sheet
from .spreadsheets_api import Mask, grid_range_json, parse_fields
from .values import parse_user_entered, tidy_number
from .values_api import grid_error

IGNORED = {
    "updateDimensionProperties",
    "autoResizeDimensions",
    "updateDimensionGroup",
    "setDataValidation",
    "addConditionalFormatRule",
    "deleteConditionalFormatRule",
    "updateBorders",
    "updateDeveloperMetadata",
    "deleteDeveloperMetadata",
    "findReplace",
    "autoFill",
    "trimWhitespace",
    "deleteDuplicates",
    "addBanding",
    "deleteBanding",
    "updateProtectedRange",
}


class Failure(Exception):
    """A request failed; the message is prefixed with its index and kind."""


class Batch:
    """One batchUpdate in progress on a copy of ``book``."""

    def __init__(self, book: Spreadsheet, caller: str | None) -> None:
        self.original = book
        self.book = book.clone()
        self.caller = caller
        self._touched: set[int] = set()

    def sheet(self, sheet_id: Any, *, write: bool = True) -> Sheet:
        sid = int(sheet_id or 0)
        for i, sheet in enumerate(self.book.sheets):
            if sheet.sheet_id == sid:
                if write and id(sheet) not in self._touched:
                    sheet = sheet.clone()
                    self.book.sheets[i] = sheet
                    self._touched.add(id(sheet))
                return sheet
        raise Failure(f"No grid with id: {sid}")

    def check_cells(self) -> None:
        if self.book.total_cells() > CELL_LIMIT:
            raise Failure(
                "This action would increase the number of cells in the workbook above the "
                f"limit of {CELL_LIMIT} cells."
            )

    def grid(self, rng: dict[str, Any]) -> tuple[Sheet, int, int, int, int]:
        sheet = self.sheet(rng.get("sheetId", 0))
        r0 = int(rng.get("startRowIndex") or 0)
        r1 = int(rng["endRowIndex"]) if rng.get("endRowIndex") is not None else sheet.row_count
        c0 = int(rng.get("startColumnIndex") or 0)
        c1 = (
            int(rng["endColumnIndex"]) if rng.get("endColumnIndex") is not None else sheet.col_count
        )
        if r1 > sheet.row_count or c1 > sheet.col_count:
            raise Failure(grid_error(sheet, r0 + 1, c0 + 1, r1, c1).message)
        if r0 < 0 or c0 < 0 or r0 > r1 or c0 > c1:
            raise Failure("Invalid range: start index must not exceed end index")
        return sheet, r0, c0, r1, c1

    def commit(self) -> None:
        self.book.reindex()
        for sheet in self.book.sheets:
            sheet.settle()
        self.original.__dict__.update(self.book.__dict__)


def _without_empty(reply: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if v != []}


def batch_update(book: Spreadsheet, body: dict[str, Any], caller: str | None) -> dict[str, Any]:
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise bad_request("Must specify at least one request.")
    batch = Batch(book, caller)
    replies: list[dict[str, Any]] = []
    for i, request in enumerate(requests):
        if not isinstance(request, dict) or len(request) != 1:
            raise bad_request(f"Invalid requests[{i}]: No request set.")
        kind, payload = next(iter(request.items()))
        handler = HANDLERS.get(kind)
        if handler is None and kind not in IGNORED:
            raise bad_request(
                f"Invalid JSON payload received. Unknown name \"{kind}\" at 'requests[{i}]': "
                "Cannot find field."
            )
        try:
            reply = handler(batch, payload or {}) if handler else {}
        except Failure as exc:
            raise bad_request(f"Invalid requests[{i}].{kind}: {exc}") from None
        except ApiError as exc:
            raise bad_request(f"Invalid requests[{i}].{kind}: {exc.message}") from None
        replies.append({kind: _without_empty(reply)} if reply else {})
    batch.commit()
    out: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id, "replies": replies}
    if body.get("includeSpreadsheetInResponse"):
        from .spreadsheets_api import spreadsheet_json

        out["updatedSpreadsheet"] = spreadsheet_json(book, ranges=[], include_grid=False, mask=None)
    return out


# --- masks --------------------------------------------------------------------------


def apply_mask(target: dict[str, Any], source: dict[str, Any], mask: Mask) -> None:
    """Copy the masked fields of ``source`` into ``target`` (absent -> removed)."""
    for key, sub in mask.items():
        if key == "*":
            target.clear()
            target.update(copy.deepcopy(source))
            continue
        if sub is None:
            value = _without_nulls(source.get(key))
            if value is not None and value != {}:
                target[key] = value
            else:
                target.pop(key, None)
            continue
        child = target.get(key)
        if not isinstance(child, dict):
            child = {}
        src = source.get(key)
        apply_mask(child, src if isinstance(src, dict) else {}, sub)
        if child:
            target[key] = child
        else:
            target.pop(key, None)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _without_nulls(v) for k, v in value.items() if v is not None}
        return {k: v for k, v in out.items() if v != {} or k in ("rgbColor", "foregroundColor")}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def f32(value: Any) -> Any:
    """A colour component as Google stores it (float32, shortest repr)."""
    if isinstance(value, float):
        packed = struct.unpack("f", struct.pack("f", value))[0]
        for digits in range(1, 10):
            text = f"{packed:.{digits}g}"
            if struct.unpack("f", struct.pack("f", float(text)))[0] == packed:
                return tidy_number(float(text))
    return value


def _colours(value: Any) -> Any:
    """Colour components as Google keeps them: 8-bit steps as float32, zeros omitted."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in ("red", "green", "blue") and isinstance(v, int | float):
                v = f32(math.floor(float(v) * 255 + 1e-6) / 255)
                if v == 0:
                    continue
            out[k] = _colours(v) if k not in ("red", "green", "blue", "alpha") else v
        return out
    if isinstance(value, list):
        return [_colours(v) for v in value]
    return value


def _mirror_styles(fmt: dict[str, Any]) -> None:
    if "backgroundColor" in fmt:
        fmt["backgroundColorStyle"] = {"rgbColor": copy.deepcopy(fmt["backgroundColor"])}
    text = fmt.get("textFormat")
    if isinstance(text, dict) and "foregroundColor" in text:
        text["foregroundColorStyle"] = {"rgbColor": copy.deepcopy(text["foregroundColor"])}


def _fields(payload: dict[str, Any]) -> Mask:
    fields = payload.get("fields")
    if not fields:
        raise Failure("At least one field must be updated.")
    return parse_fields(str(fields))


# --- sheets -------------------------------------------------------------------------


def _unique_title(batch: Batch, title: str, skip: Sheet | None = None) -> None:
    for sheet in batch.book.sheets:
        if sheet is not skip and sheet.title.lower() == title.lower():
            raise Failure(
                f'A sheet with the name "{title}" already exists. Please enter another name.'
            )


def add_sheet(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    props = copy.deepcopy(payload.get("properties") or {})
    book = batch.book
    sheet_id = props.get("sheetId")
    if sheet_id is None:
        sheet_id = book.new_sheet_id()
    elif book.sheet_by_id(int(sheet_id)) is not None:
        raise Failure(f"A sheet with the id {sheet_id} already exists.")
    title = props.get("title")
    if not title:
        n = len(book.sheets) + 1
        while book.sheet_by_title(f"Sheet{n}") is not None:
            n += 1
        title = f"Sheet{n}"
    _unique_title(batch, title)
    grid = props.get("gridProperties") or {}
    rows = int(grid.get("rowCount", DEFAULT_ROWS))
    cols = int(grid.get("columnCount", DEFAULT_COLS))
    index = int(props.get("index", len(book.sheets)))
    sheet = new_sheet(int(sheet_id), title, index, rows, cols)
    for key, value in props.items():
        if key not in ("sheetId", "title", "index", "gridProperties"):
            sheet.props[key] = value
    for key, value in grid.items():
        if key not in ("rowCount", "columnCount"):
            sheet.grid[key] = value
    _tidy_props(sheet.props)
    book.sheets.insert(min(index, len(book.sheets)), sheet)
    batch._touched.add(id(sheet))
    book.reindex()
    batch.check_cells()
    return {"properties": copy.deepcopy(sheet.props)}


def delete_sheet(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    sid = int(payload.get("sheetId") or 0)
    sheet = batch.book.sheet_by_id(sid)
    if sheet is None:
        raise Failure(f"No sheet with id: {sid}")
    if len(batch.book.sheets) == 1:
        raise Failure("You can't remove all the sheets in a document.")
    batch.book.sheets.remove(sheet)
    batch.book.reindex()
    return {}


def _tidy_props(props: dict[str, Any], mask: Mask | None = None) -> None:
    mentioned = set(mask or {})
    if "tabColorStyle" in mentioned and "tabColor" not in mentioned:
        props.pop("tabColor", None)
    if "tabColor" in mentioned and "tabColorStyle" not in mentioned:
        props.pop("tabColorStyle", None)
    for key in ("tabColor", "tabColorStyle"):
        if key in props:
            props[key] = _colours(props[key])
    for key in ("hidden", "rightToLeft"):
        if props.get(key) is False:
            del props[key]
    grid = props.get("gridProperties") or {}
    for key in list(grid):
        if key not in ("rowCount", "columnCount") and not grid[key]:
            del grid[key]
    if "tabColor" in props and props["tabColor"]:
        props["tabColorStyle"] = {"rgbColor": copy.deepcopy(props["tabColor"])}
    elif "tabColorStyle" in props and "rgbColor" in props["tabColorStyle"]:
        props["tabColor"] = copy.deepcopy(props["tabColorStyle"]["rgbColor"])
    for key in ("tabColor", "tabColorStyle"):
        if key in props and not props[key]:
            del props[key]


def update_sheet_properties(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    source = payload.get("properties") or {}
    mask = _fields(payload)
    sheet = batch.sheet(source.get("sheetId", 0))
    rows_before, cols_before = sheet.row_count, sheet.col_count
    props = copy.deepcopy(sheet.props)
    apply_mask(props, source, mask)
    props["sheetId"] = sheet.sheet_id
    title = props.get("title")
    if not title:
        raise Failure("The sheet title must not be empty.")
    _unique_title(batch, title, skip=sheet)
    grid = props.setdefault("gridProperties", {})
    grid.setdefault("rowCount", rows_before)
    grid.setdefault("columnCount", cols_before)
    if props.get("hidden") and all(
        s.props.get("hidden") for s in batch.book.sheets if s is not sheet
    ):
        raise Failure("You can't hide all the sheets in a document.")
    if int(grid["rowCount"]) < 1 or int(grid["columnCount"]) < 1:
        raise Failure("Sheet must have at least one row and one column.")
    frozen = int(grid.get("frozenRowCount") or 0)
    if frozen >= int(grid["rowCount"]):
        raise Failure("You can't freeze all visible rows on the sheet.")
    if int(grid.get("frozenColumnCount") or 0) >= int(grid["columnCount"]):
        raise Failure("You can't freeze all visible columns on the sheet.")
    new_index = props.get("index", sheet.props.get("index"))
    sheet.props = props
    _tidy_props(sheet.props, mask)
    if sheet.row_count < rows_before:
        del sheet.rows[sheet.row_count :]
    if sheet.col_count < cols_before:
        width = sheet.col_count
        sheet.delete_cols(width, cols_before)
        sheet.grid["columnCount"] = width
    if new_index is not None and new_index != batch.book.sheets.index(sheet):
        batch.book.sheets.remove(sheet)
        batch.book.sheets.insert(min(int(new_index), len(batch.book.sheets)), sheet)
    batch.book.reindex()
    batch.check_cells()
    return {}


def update_spreadsheet_properties(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    apply_mask(batch.book.props, payload.get("properties") or {}, _fields(payload))
    return {}


# --- dimensions ---------------------------------------------------------------------


def _dimension(rng: dict[str, Any]) -> str:
    dim = rng.get("dimension")
    if dim not in ("ROWS", "COLUMNS"):
        raise Failure("range.dimension must be ROWS or COLUMNS")
    return str(dim)


def append_dimension(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    sheet = batch.sheet(payload.get("sheetId", 0))
    length = int(payload.get("length") or 0)
    if length <= 0:
        raise Failure("length must be greater than 0")
    if _dimension(payload) == "ROWS":
        sheet.grid["rowCount"] = sheet.row_count + length
    else:
        sheet.grid["columnCount"] = sheet.col_count + length
    batch.check_cells()
    return {}


def _span(sheet: Sheet, rng: dict[str, Any], *, inserting: bool) -> tuple[str, int, int]:
    dim = _dimension(rng)
    size = sheet.row_count if dim == "ROWS" else sheet.col_count
    start = int(rng.get("startIndex") or 0)
    end = int(rng["endIndex"]) if rng.get("endIndex") is not None else size
    limit = size if inserting else size
    if start < 0 or end <= start:
        raise Failure("range.endIndex must be greater than range.startIndex")
    if start > limit or (not inserting and end > size):
        what = "rows" if dim == "ROWS" else "columns"
        raise Failure(f"Range exceeds the number of {what} in the grid ({size}).")
    return dim, start, end


def insert_dimension(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    rng = payload.get("range") or {}
    sheet = batch.sheet(rng.get("sheetId", 0))
    dim, start, end = _span(sheet, rng, inserting=True)
    if dim == "ROWS":
        sheet.insert_rows(start, end - start)
    else:
        sheet.insert_cols(start, end - start)
    batch.check_cells()
    return {}


def delete_dimension(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    rng = payload.get("range") or {}
    sheet = batch.sheet(rng.get("sheetId", 0))
    dim, start, end = _span(sheet, rng, inserting=False)
    if dim == "ROWS":
        if end - start >= sheet.row_count:
            raise Failure("You can't delete all the rows on the sheet.")
        sheet.delete_rows(start, end)
    else:
        if end - start >= sheet.col_count:
            raise Failure("You can't delete all the columns on the sheet.")
        sheet.delete_cols(start, end)
    return {}


def move_dimension(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    rng = payload.get("source") or {}
    sheet = batch.sheet(rng.get("sheetId", 0))
    dim, start, end = _span(sheet, rng, inserting=False)
    dest = int(payload.get("destinationIndex") or 0)
    if dim == "ROWS":
        sheet.move_rows(start, end, dest)
    else:
        for offset in range(end - start):
            src = start + offset if dest < start else start
            dst = dest + offset if dest < start else dest - 1
            sheet.move_col(src, dst)
    return {}


# --- cells --------------------------------------------------------------------------


def _cell_view(sheet: Sheet, r: int, c: int) -> dict[str, Any]:
    row = sheet.peek(r)
    view: dict[str, Any] = {}
    if row is None:
        return view
    value = row.get(c)
    extra = row.extra_of(c) or {}
    if extra.get("formula"):
        view["userEnteredValue"] = {"formulaValue": extra["formula"]}
    elif value is not None:
        key = (
            "boolValue"
            if isinstance(value, bool)
            else "numberValue"
            if isinstance(value, int | float)
            else "stringValue"
        )
        view["userEnteredValue"] = {key: value}
    if extra.get("fmt"):
        view["userEnteredFormat"] = extra["fmt"]
    if "note" in extra:
        view["note"] = extra["note"]
    return view


def _store_cell(sheet: Sheet, r: int, c: int, view: dict[str, Any]) -> None:
    row = sheet.row(r)
    uev = view.get("userEnteredValue") or {}
    if "formulaValue" in uev:
        value, formula, _ = parse_user_entered(str(uev["formulaValue"]))
        row.set_value(c, value, formula)
    elif "numberValue" in uev:
        row.set_value(c, tidy_number(float(uev["numberValue"])))
    elif "boolValue" in uev:
        row.set_value(c, bool(uev["boolValue"]))
    elif "stringValue" in uev:
        row.set_value(c, str(uev["stringValue"]) or None)
    else:
        row.set_value(c, None)
    fmt = view.get("userEnteredFormat")
    if fmt:
        fmt = _colours(fmt)
        _mirror_styles(fmt)
        row.extra_for(c)["fmt"] = fmt
    elif row.extra and c in row.extra:
        row.extra[c].pop("fmt", None)
    if "note" in view and view["note"]:
        row.extra_for(c)["note"] = view["note"]
    elif row.extra and c in row.extra:
        row.extra[c].pop("note", None)
    if row.extra and c in row.extra and not row.extra[c]:
        del row.extra[c]
    row.trim()


def _validate_cell(cell: Any) -> None:
    if not isinstance(cell, dict):
        raise Failure("Invalid cell data.")
    uev = cell.get("userEnteredValue")
    if uev is not None and (not isinstance(uev, dict) or len(uev) > 1):
        raise Failure("Invalid userEnteredValue: exactly one value kind must be set.")


def repeat_cell(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    sheet, r0, c0, r1, c1 = batch.grid(payload.get("range") or {})
    cell = payload.get("cell") or {}
    _validate_cell(cell)
    mask = _fields(payload)
    if set(mask) == {"userEnteredFormat"}:
        _repeat_format(sheet, r0, c0, r1, c1, cell, mask)
        return {}
    for r in range(r0, r1):
        for c in range(c0, c1):
            view = copy.deepcopy(_cell_view(sheet, r, c))
            apply_mask(view, cell, mask)
            _store_cell(sheet, r, c, view)
    return {}


def _repeat_format(
    sheet: Sheet, r0: int, c0: int, r1: int, c1: int, cell: dict[str, Any], mask: Mask
) -> None:
    """repeatCell of formats only: cells with the same old format share the new one."""
    made: dict[int, dict[str, Any] | None] = {}
    keep: list[Any] = []
    for r in range(r0, r1):
        row = sheet.row(r)
        for c in range(c0, c1):
            extra = row.extra_of(c)
            old = extra.get("fmt") if extra else None
            key = id(old) if old is not None else 0
            if key not in made:
                view = {"userEnteredFormat": copy.deepcopy(old)} if old else {}
                apply_mask(view, cell, mask)
                fmt = view.get("userEnteredFormat")
                if fmt:
                    fmt = _colours(fmt)
                    _mirror_styles(fmt)
                made[key] = fmt or None
                keep.append(old)
            fmt = made[key]
            if fmt is not None:
                row.extra_for(c)["fmt"] = fmt
            elif extra is not None:
                extra.pop("fmt", None)
                if not extra and row.extra is not None:
                    del row.extra[c]


def update_cells(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    rows = payload.get("rows") or []
    mask = _fields(payload)
    if "start" in payload:
        start = payload["start"] or {}
        sheet = batch.sheet(start.get("sheetId", 0))
        r0, c0 = int(start.get("rowIndex") or 0), int(start.get("columnIndex") or 0)
        height = len(rows)
        width = max((len(r.get("values") or []) for r in rows), default=0)
        r1, c1 = r0 + height, c0 + width
        if r1 > sheet.row_count or c1 > sheet.col_count:
            raise Failure(grid_error(sheet, r0 + 1, c0 + 1, r1, c1).message)
    else:
        sheet, r0, c0, r1, c1 = batch.grid(payload.get("range") or {})
    for i, row_data in enumerate(rows):
        for j, cell in enumerate((row_data or {}).get("values") or []):
            _validate_cell(cell)
            r, c = r0 + i, c0 + j
            if r >= r1 or c >= c1:
                continue
            view = copy.deepcopy(_cell_view(sheet, r, c))
            apply_mask(view, cell, mask)
            _store_cell(sheet, r, c, view)
    return {}


def sort_range(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    sheet, r0, c0, r1, c1 = batch.grid(payload.get("range") or {})
    specs = []
    for spec in payload.get("sortSpecs") or []:
        col = int(spec.get("dimensionIndex") or 0)
        if not c0 <= col < c1:
            raise Failure("Sort column must be within the range being sorted.")
        specs.append((col, spec.get("sortOrder") == "DESCENDING"))
    if c0 == 0 and c1 >= sheet.col_count:
        sheet.sort(r0, r1, specs)
        return {}
    # Only the cells inside the columns of the range move.
    block = sheet.clone()
    block.sort(r0, r1, specs)
    for r in range(r0, min(r1, len(block.rows))):
        src = block.rows[r]
        for c in range(c0, c1):
            sheet.row(r).set_value(c, src.get(c), (src.extra_of(c) or {}).get("formula"))
        sheet.row(r).trim()
    return {}


# --- metadata, filters, protection, merges, named ranges --------------------------------


def create_developer_metadata(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    meta = copy.deepcopy(payload.get("developerMetadata") or {})
    location = meta.get("location") or {}
    book = batch.book
    meta_id = int(meta.get("metadataId") or 0) or book.new_sheet_id()
    meta["metadataId"] = meta_id
    meta.setdefault("visibility", "DOCUMENT")
    if "dimensionRange" in location:
        rng = location["dimensionRange"]
        sheet = batch.sheet(rng.get("sheetId", 0))
        dim, start, end = _span(sheet, rng, inserting=False)
        location = {
            "locationType": "ROW" if dim == "ROWS" else "COLUMN",
            "dimensionRange": grid_range_json(
                sheet.sheet_id,
                {"dimension": dim, "startIndex": start, "endIndex": end},
            ),
        }
        if sheet.sheet_id == 0:
            location["dimensionRange"] = {"sheetId": 0, **location["dimensionRange"]}
        if dim == "ROWS":
            for r in range(start, end):
                row = sheet.row(r)
                row.meta = (row.meta or []) + [meta_id]
    elif "sheetId" in location:
        batch.sheet(location["sheetId"], write=False)
        location = {"locationType": "SHEET", "sheetId": location["sheetId"]}
    else:
        location = {"locationType": "SPREADSHEET", "spreadsheet": True}
    meta["location"] = location
    order = ["metadataId", "metadataKey", "metadataValue", "location", "visibility"]
    meta = {k: meta[k] for k in order if k in meta}
    book.developer_metadata[meta_id] = meta
    return {"developerMetadata": copy.deepcopy(meta)}


def set_basic_filter(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    flt = copy.deepcopy(payload.get("filter") or {})
    rng = flt.get("range") or {}
    sheet, r0, c0, r1, c1 = batch.grid(rng)
    flt["range"] = grid_range_json(
        sheet.sheet_id,
        {"startRowIndex": r0, "endRowIndex": r1, "startColumnIndex": c0, "endColumnIndex": c1},
    )
    sheet.basic_filter = flt
    return {}


def clear_basic_filter(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    batch.sheet(payload.get("sheetId", 0)).basic_filter = None
    return {}


def add_protected_range(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    src = payload.get("protectedRange") or {}
    sheet, r0, c0, r1, c1 = batch.grid(src.get("range") or {})
    rng: dict[str, Any] = {}
    given = src.get("range") or {}
    for key, value in (
        ("startRowIndex", r0),
        ("endRowIndex", r1),
        ("startColumnIndex", c0),
        ("endColumnIndex", c1),
    ):
        if key in given:
            rng[key] = value
    prot: dict[str, Any] = {
        "protectedRangeId": batch.book.new_sheet_id(),
        "range": grid_range_json(sheet.sheet_id, rng),
    }
    if src.get("description"):
        prot["description"] = src["description"]
    if src.get("warningOnly"):
        prot["warningOnly"] = True
    prot["requestingUserCanEdit"] = True
    reply = copy.deepcopy(prot)
    reply["editors"] = {}
    users = list((src.get("editors") or {}).get("users") or [])
    if batch.caller and batch.caller not in users:
        users.append(batch.caller)
    prot["editors"] = {"users": users} if users else {}
    sheet.protected_ranges.append(prot)
    return {"protectedRange": reply}


def delete_protected_range(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    pid = int(payload.get("protectedRangeId") or 0)
    for sheet in batch.book.sheets:
        for prot in sheet.protected_ranges:
            if prot["protectedRangeId"] == pid:
                sheet = batch.sheet(sheet.sheet_id)
                sheet.protected_ranges = [
                    p for p in sheet.protected_ranges if p["protectedRangeId"] != pid
                ]
                return {}
    raise Failure(f"No protected range with id: {pid}")


def merge_cells(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    sheet, r0, c0, r1, c1 = batch.grid(payload.get("range") or {})
    kind = payload.get("mergeType") or "MERGE_ALL"
    blocks: list[tuple[int, int, int, int]]
    if kind == "MERGE_ROWS":
        blocks = [(r, c0, r + 1, c1) for r in range(r0, r1)]
    elif kind == "MERGE_COLUMNS":
        blocks = [(r0, c, r1, c + 1) for c in range(c0, c1)]
    else:
        blocks = [(r0, c0, r1, c1)]
    _drop_merges(sheet, r0, c0, r1, c1)
    for br0, bc0, br1, bc1 in blocks:
        anchor = sheet.peek(br0)
        keep = anchor.get(bc0) if anchor else None
        sheet.clear(br0, bc0, br1, bc1)
        if keep is not None:
            sheet.row(br0).set_value(bc0, keep)
        sheet.merges.append(
            grid_range_json(
                sheet.sheet_id,
                {
                    "startRowIndex": br0,
                    "endRowIndex": br1,
                    "startColumnIndex": bc0,
                    "endColumnIndex": bc1,
                },
            )
        )
    return {}


def unmerge_cells(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    sheet, r0, c0, r1, c1 = batch.grid(payload.get("range") or {})
    _drop_merges(sheet, r0, c0, r1, c1)
    return {}


def _drop_merges(sheet: Sheet, r0: int, c0: int, r1: int, c1: int) -> None:

    def inside(m: dict[str, Any]) -> bool:
        return (
            m.get("startRowIndex", 0) < r1
            and m.get("endRowIndex", 0) > r0
            and m.get("startColumnIndex", 0) < c1
            and m.get("endColumnIndex", 0) > c0
        )

    sheet.merges = [m for m in sheet.merges if not inside(m)]


def _named(batch: Batch, src: dict[str, Any]) -> dict[str, Any]:
    rng = src.get("range") or {}
    sheet, r0, c0, r1, c1 = batch.grid(rng)
    out = {k: v for k, v in src.items() if k != "range"}
    out["range"] = grid_range_json(
        sheet.sheet_id,
        {k: v for k, v in rng.items() if k != "sheetId"},
    )
    return out


def add_named_range(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    named = _named(batch, payload.get("namedRange") or {})
    if any(n.get("name") == named.get("name") for n in batch.book.named_ranges):
        raise Failure(f'A named range with the name "{named.get("name")}" already exists.')
    named.setdefault("namedRangeId", f"nr{batch.book.new_sheet_id()}")
    named = {"namedRangeId": named.pop("namedRangeId"), **named}
    batch.book.named_ranges.append(named)
    return {"namedRange": copy.deepcopy(named)}


def update_named_range(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    src = payload.get("namedRange") or {}
    for named in batch.book.named_ranges:
        if named["namedRangeId"] == src.get("namedRangeId"):
            apply_mask(named, _named(batch, src) if "range" in src else src, _fields(payload))
            return {}
    raise Failure(f"No named range with id: {src.get('namedRangeId')}")


def delete_named_range(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    nid = payload.get("namedRangeId")
    before = len(batch.book.named_ranges)
    batch.book.named_ranges = [n for n in batch.book.named_ranges if n["namedRangeId"] != nid]
    if len(batch.book.named_ranges) == before:
        raise Failure(f"No named range with id: {nid}")
    return {}


def _paste(batch: Batch, payload: dict[str, Any], *, cut: bool) -> dict[str, Any]:
    src_sheet, r0, c0, r1, c1 = batch.grid(payload.get("source") or {})
    dest = payload.get("destination") or {}
    if cut:
        dst_sheet = batch.sheet(dest.get("sheetId", 0))
        d0, e0 = int(dest.get("rowIndex") or 0), int(dest.get("columnIndex") or 0)
    else:
        dst_sheet, d0, e0, _, _ = batch.grid(dest)
    if d0 + (r1 - r0) > dst_sheet.row_count or e0 + (c1 - c0) > dst_sheet.col_count:
        raise Failure(grid_error(dst_sheet, d0 + 1, e0 + 1, d0 + r1 - r0, e0 + c1 - c0).message)
    block = [[_cell_view(src_sheet, r, c) for c in range(c0, c1)] for r in range(r0, r1)]
    block = copy.deepcopy(block)
    paste = payload.get("pasteType") or "PASTE_NORMAL"
    if cut:
        for r in range(r0, r1):
            for c in range(c0, c1):
                _store_cell(src_sheet, r, c, {})
    for i, row in enumerate(block):
        for j, view in enumerate(row):
            target = copy.deepcopy(_cell_view(dst_sheet, d0 + i, e0 + j))
            if paste in ("PASTE_NORMAL", "PASTE_VALUES"):
                target.pop("userEnteredValue", None)
                if "userEnteredValue" in view:
                    target["userEnteredValue"] = view["userEnteredValue"]
            if paste in ("PASTE_NORMAL", "PASTE_FORMAT"):
                target.pop("userEnteredFormat", None)
                if "userEnteredFormat" in view:
                    target["userEnteredFormat"] = view["userEnteredFormat"]
            _store_cell(dst_sheet, d0 + i, e0 + j, target)
    return {}


def copy_paste(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    return _paste(batch, payload, cut=False)


def cut_paste(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    return _paste(batch, payload, cut=True)


def _groups_key(dim: str) -> str:
    return "rowGroups" if dim == "ROWS" else "columnGroups"


def add_dimension_group(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    rng = payload.get("range") or {}
    sheet = batch.sheet(rng.get("sheetId", 0))
    dim, start, end = _span(sheet, rng, inserting=False)
    groups = sheet.extras.setdefault(_groups_key(dim), [])
    groups.append(
        {
            "range": grid_range_json(
                sheet.sheet_id, {"dimension": dim, "startIndex": start, "endIndex": end}
            ),
            "depth": 1,
        }
    )
    control = "rowGroupControlAfter" if dim == "ROWS" else "columnGroupControlAfter"
    sheet.grid[control] = True
    return {"dimensionGroups": copy.deepcopy(groups)}


def delete_dimension_group(batch: Batch, payload: dict[str, Any]) -> dict[str, Any]:
    rng = payload.get("range") or {}
    sheet = batch.sheet(rng.get("sheetId", 0))
    dim, start, end = _span(sheet, rng, inserting=False)
    key = _groups_key(dim)
    groups = [
        g
        for g in sheet.extras.get(key, [])
        if (g["range"].get("startIndex"), g["range"].get("endIndex")) != (start, end)
    ]
    sheet.extras[key] = groups
    return {"dimensionGroups": copy.deepcopy(groups)} if groups else {"dimensionGroups": []}


HANDLERS: dict[str, Callable[[Batch, dict[str, Any]], dict[str, Any]]] = {
    "addSheet": add_sheet,
    "deleteSheet": delete_sheet,
    "updateSheetProperties": update_sheet_properties,
    "updateSpreadsheetProperties": update_spreadsheet_properties,
    "appendDimension": append_dimension,
    "insertDimension": insert_dimension,
    "deleteDimension": delete_dimension,
    "moveDimension": move_dimension,
    "repeatCell": repeat_cell,
    "updateCells": update_cells,
    "sortRange": sort_range,
    "createDeveloperMetadata": create_developer_metadata,
    "setBasicFilter": set_basic_filter,
    "clearBasicFilter": clear_basic_filter,
    "addProtectedRange": add_protected_range,
    "deleteProtectedRange": delete_protected_range,
    "mergeCells": merge_cells,
    "unmergeCells": unmerge_cells,
    "addNamedRange": add_named_range,
    "updateNamedRange": update_named_range,
    "deleteNamedRange": delete_named_range,
    "copyPaste": copy_paste,
    "cutPaste": cut_paste,
    "addDimensionGroup": add_dimension_group,
    "deleteDimensionGroup": delete_dimension_group,
}

#: batchUpdate request kinds the fidelity harness counts as in scope.
IN_SCOPE = {
    "addSheet",
    "deleteSheet",
    "updateSheetProperties",
    "appendDimension",
    "insertDimension",
    "deleteDimension",
    "repeatCell",
    "updateCells",
    "createDeveloperMetadata",
    "setBasicFilter",
    "addProtectedRange",
    "sortRange",
}
