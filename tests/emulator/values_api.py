"""The ``spreadsheets.values`` endpoints: get, batchGet, update, batchUpdate,
append, clear, batchClear, with Google's reply shapes (range echo, trimmed
trailing empties, ``values`` absent when empty, updatedRange/updatedCells)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import a1
from .errors import ApiError, bad_request, invalid_value
from .model import CELL_LIMIT, Row, Sheet, Spreadsheet
from .values import parse_user_entered, render, stored_raw

RENDER_OPTIONS = ("FORMATTED_VALUE", "UNFORMATTED_VALUE", "FORMULA")
DATE_OPTIONS = ("SERIAL_NUMBER", "FORMATTED_STRING")
INPUT_OPTIONS = ("RAW", "USER_ENTERED")
LIST_VALUE = "type.googleapis.com/google.protobuf.ListValue"


@dataclass
class Target:
    """A resolved range: 0-based, end-exclusive, clamped to the grid."""

    sheet: Sheet
    r0: int
    c0: int
    r1: int
    c1: int
    single_cell: bool
    whole_sheet: bool
    text: str

    def echo(self) -> str:
        r1 = max(self.r1, self.r0 + 1)
        c1 = max(self.c1, self.c0 + 1)
        return a1.format_range(self.sheet.title, self.r0 + 1, self.c0 + 1, r1, c1)


def grid_error(sheet: Sheet, r0: int, c0: int, r1: int, c1: int) -> ApiError:
    text = a1.format_range(sheet.title, r0, c0, r1, c1)
    return bad_request(
        f"Range ({text}) exceeds grid limits. Max rows: {sheet.row_count}, "
        f"max columns: {sheet.col_count}"
    )


def resolve(book: Spreadsheet, text: str, *, check_grid: bool = True) -> Target:
    named = _named_range(book, text)
    if named is not None:
        return named
    try:
        ref = a1.parse(text, [s.title for s in book.sheets])
    except a1.RangeError as exc:
        raise bad_request(str(exc)) from None
    sheet = book.sheets[0] if ref.title is None else book.sheet_by_title(ref.title)
    if sheet is None:
        raise bad_request(f"Unable to parse range: {text}")
    rows, cols = sheet.row_count, sheet.col_count
    if ref.whole_sheet:
        return Target(sheet, 0, 0, rows, cols, False, True, text)
    r0 = (ref.r0 or 1) - 1
    c0 = (ref.c0 or 1) - 1
    r1 = ref.r1 if ref.r1 is not None else rows
    c1 = ref.c1 if ref.c1 is not None else cols
    if ref.r0 is None and ref.r1 is None:
        r1 = rows
    if check_grid and (r1 > rows or c1 > cols or r0 >= max(rows, 1) or c0 >= max(cols, 1)):
        raise grid_error(sheet, r0 + 1, c0 + 1, max(r1, r0 + 1), max(c1, c0 + 1))
    single = ref.r0 is not None and ref.r0 == ref.r1 and ref.c0 == ref.c1 and ref.c0 is not None
    return Target(sheet, r0, c0, r1, c1, single, False, text)


def _named_range(book: Spreadsheet, text: str) -> Target | None:
    name = text.rpartition("!")[2]
    for named in book.named_ranges:
        if named.get("name") == name:
            rng = named.get("range") or {}
            sheet = book.sheet_by_id(int(rng.get("sheetId") or 0))
            if sheet is None:
                return None
            return Target(
                sheet,
                int(rng.get("startRowIndex") or 0),
                int(rng.get("startColumnIndex") or 0),
                int(rng.get("endRowIndex") or sheet.row_count),
                int(rng.get("endColumnIndex") or sheet.col_count),
                False,
                False,
                text,
            )
    return None


# --- reading ------------------------------------------------------------------------


def read_block(
    sheet: Sheet, r0: int, c0: int, r1: int, c1: int, value_render: str, date_render: str
) -> list[list[Any]]:
    """Rows of rendered values with trailing empties (cells and rows) trimmed."""
    out: list[list[Any]] = []
    rows = sheet.rows
    last = min(r1, len(rows))
    plain = value_render != "FORMATTED_VALUE"
    for i in range(r0, last):
        row = rows[i]
        cells = row.cells[c0:c1]
        n = len(cells)
        while n and cells[n - 1] is None:
            n -= 1
        if n == 0:
            out.append([])
            continue
        if plain and not row.extra:
            vals = [("" if v is None else v) for v in cells[:n]]
        else:
            vals = []
            extra = row.extra or {}
            for j in range(n):
                v = cells[j]
                if v is None:
                    vals.append("")
                    continue
                ex = extra.get(c0 + j)
                if ex:
                    fmt = ex.get("fmt") or {}
                    vals.append(
                        render(
                            v, ex.get("formula"), fmt.get("numberFormat"), value_render, date_render
                        )
                    )
                else:
                    vals.append(render(v, None, None, value_render, date_render))
        out.append(vals)
    while out and not out[-1]:
        out.pop()
    return out


def value_range(target: Target, params: dict[str, list[str]]) -> dict[str, Any]:
    value_render = first(params, "valueRenderOption") or "FORMATTED_VALUE"
    date_render = first(params, "dateTimeRenderOption") or "SERIAL_NUMBER"
    major = first(params, "majorDimension") or "ROWS"
    if value_render not in RENDER_OPTIONS:
        raise invalid_value("value_render_option", "TYPE_ENUM", value_render)
    if major not in ("ROWS", "COLUMNS"):
        raise invalid_value("major_dimension", "TYPE_ENUM", major)
    values = read_block(
        target.sheet, target.r0, target.c0, target.r1, target.c1, value_render, date_render
    )
    if major == "COLUMNS" and values:
        width = max(len(r) for r in values)
        cols = [[(r[j] if j < len(r) else "") for r in values] for j in range(width)]
        for col in cols:
            while col and col[-1] == "":
                col.pop()
        while cols and not cols[-1]:
            cols.pop()
        values = cols
    reply: dict[str, Any] = {"range": target.echo(), "majorDimension": major}
    if values:
        reply["values"] = values
    return reply


def first(params: dict[str, list[str]], name: str) -> str | None:
    got = params.get(name)
    return got[0] if got else None


def values_get(book: Spreadsheet, range_text: str, params: dict[str, list[str]]) -> dict[str, Any]:
    return value_range(resolve(book, range_text), params)


def values_batch_get(book: Spreadsheet, params: dict[str, list[str]]) -> dict[str, Any]:
    targets = [resolve(book, text) for text in params.get("ranges", [])]
    return {
        "spreadsheetId": book.spreadsheet_id,
        "valueRanges": [value_range(t, params) for t in targets],
    }


# --- writing ------------------------------------------------------------------------


@dataclass
class Write:
    target: Target
    rows: list[list[Any]]
    r0: int
    c0: int
    height: int
    width: int
    cells: int


def _as_rows(body: dict[str, Any], prefix: str) -> list[list[Any]]:
    values = body.get("values", [])
    if values is None:
        values = []
    if not isinstance(values, list):
        raise invalid_value(f"{prefix}values", LIST_VALUE, values)
    rows: list[list[Any]] = []
    for i, row in enumerate(values):
        if not isinstance(row, list):
            raise invalid_value(f"{prefix}values[{i}]", LIST_VALUE, row)
        if any(type(v) in (dict, list) for v in row):
            raise invalid_value(f"{prefix}values[{i}]", LIST_VALUE, row)
        rows.append(row)
    major = body.get("majorDimension") or "ROWS"
    if major == "COLUMNS" and rows:
        height = max(len(c) for c in rows)
        rows = [[(c[i] if i < len(c) else None) for c in rows] for i in range(height)]
    return rows


def plan_write(
    book: Spreadsheet,
    range_text: str,
    body: dict[str, Any],
    *,
    prefix: str = "data.",
    anchor: tuple[int, int] | None = None,
    grow: bool = False,
) -> Write:
    rows = _as_rows(body, prefix)
    target = resolve(book, range_text, check_grid=not grow)
    height = len(rows)
    width = max((len(r) for r in rows), default=0)
    r0, c0 = anchor if anchor is not None else (target.r0, target.c0)
    bounded = not (target.single_cell or target.whole_sheet) and anchor is None
    if bounded:
        if r0 + height > target.r1:
            raise bad_request(
                f"Requested writing within range [{target.echo()}], but tried writing to row "
                f"[{r0 + height}]"
            )
        if c0 + width > target.c1:
            raise bad_request(
                f"Requested writing within range [{target.echo()}], but tried writing to column "
                f"[{a1.col_letters(c0 + width)}]"
            )
    sheet = target.sheet
    if (
        not grow
        and height
        and width
        and (r0 + height > sheet.row_count or c0 + width > sheet.col_count)
    ):
        raise grid_error(sheet, r0 + 1, c0 + 1, r0 + height, c0 + width)
    cells = sum(1 for row in rows for v in row if v is not None)
    return Write(target, rows, r0, c0, height, width, cells)


def _raw_row(row: Row, c0: int, data: list[Any]) -> bool:
    """Fast RAW write of a row without nulls; False when the slow path is needed."""
    if any(v is None for v in data):
        return False
    values = [
        None
        if v == ""
        else (int(v) if type(v) is float and v.is_integer() and abs(v) < 2**53 else v)
        for v in data
    ]
    cells = row.cells
    end = c0 + len(values)
    if len(cells) < end:
        cells.extend([None] * (end - len(cells)))
    cells[c0:end] = values
    if row.extra:
        for col in range(c0, end):
            ex = row.extra.get(col)
            if ex and "formula" in ex:
                del ex["formula"]
                if not ex:
                    del row.extra[col]
    row.trim()
    return True


def apply_write(write: Write, input_option: str) -> None:
    sheet = write.target.sheet
    user = input_option == "USER_ENTERED"
    for i, data in enumerate(write.rows):
        if not data:
            continue
        row = sheet.row(write.r0 + i)
        if not user and _raw_row(row, write.c0, data):
            continue
        for j, value in enumerate(data):
            if value is None:
                continue
            col = write.c0 + j
            if user and isinstance(value, str) and value != "":
                stored, formula, fmt = parse_user_entered(value)
                row.set_value(col, stored, formula)
                if fmt is not None:
                    uef = row.extra_for(col).setdefault("fmt", {})
                    current = uef.get("numberFormat")
                    if current is None or current.get("type") in ("DATE", "TIME", "DATE_TIME"):
                        uef["numberFormat"] = fmt
            else:
                row.set_value(col, stored_raw(value))
        row.trim()


def write_reply(book: Spreadsheet, write: Write) -> dict[str, Any]:
    reply: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    if write.height and write.width:
        reply["updatedRange"] = a1.format_range(
            write.target.sheet.title,
            write.r0 + 1,
            write.c0 + 1,
            write.r0 + write.height,
            write.c0 + write.width,
        )
        columns = {j for r in write.rows for j, v in enumerate(r) if v is not None}
        reply["updatedRows"] = sum(1 for r in write.rows if any(v is not None for v in r))
        reply["updatedColumns"] = len(columns)
        reply["updatedCells"] = write.cells
    else:
        reply["updatedRange"] = write.target.echo()
    return reply


def input_option(params: dict[str, list[str]], body: dict[str, Any] | None = None) -> str:
    option = first(params, "valueInputOption")
    if option is None and body is not None:
        option = body.get("valueInputOption")
    if not option:
        raise bad_request("'valueInputOption' is required but not specified")
    if option not in INPUT_OPTIONS:
        raise invalid_value("value_input_option", "TYPE_ENUM", option)
    return option


def values_update(
    book: Spreadsheet, range_text: str, params: dict[str, list[str]], body: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    option = input_option(params)
    write = plan_write(book, range_text, body)
    apply_write(write, option)
    return write_reply(book, write), write.cells


def values_batch_update(book: Spreadsheet, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    option = input_option({}, body)
    writes = []
    for i, item in enumerate(body.get("data") or []):
        try:
            writes.append(plan_write(book, item.get("range", ""), item, prefix=f"data[{i}]."))
        except ApiError as exc:
            raise bad_request(f"Invalid data[{i}]: {exc.message}") from None
    for write in writes:
        apply_write(write, option)
    responses = [write_reply(book, w) for w in writes]
    total_cells = sum(w.cells for w in writes)
    reply: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    if writes:
        reply.update(
            {
                "totalUpdatedRows": sum(r.get("updatedRows", 0) for r in responses),
                "totalUpdatedColumns": max(r.get("updatedColumns", 0) for r in responses),
                "totalUpdatedCells": total_cells,
                "totalUpdatedSheets": len({id(w.target.sheet) for w in writes}),
                "responses": responses,
            }
        )
    return reply, total_cells


# --- append -------------------------------------------------------------------------


def _filled(sheet: Sheet, r: int, c: int) -> bool:
    row = sheet.peek(r)
    return row is not None and row.get(c) is not None


def find_table(sheet: Sheet, target: Target) -> tuple[int, int, int, int] | None:
    """Google's table detection: (r0, c0, r1, c1) inclusive, or None."""
    if target.whole_sheet or not target.single_cell:
        # Last used row in the range, the run of cells ending at its last value,
        # then upwards while rows hold data in those columns.
        last = None
        for i in range(min(target.r1, len(sheet.rows)) - 1, target.r0 - 1, -1):
            row = sheet.rows[i]
            cells = row.cells[target.c0 : target.c1]
            n = len(cells)
            while n and cells[n - 1] is None:
                n -= 1
            if n:
                last = (i, target.c0 + n - 1)
                break
        if last is None:
            return None
        r1, c1 = last
        c0 = c1
        while c0 - 1 >= target.c0 and _filled(sheet, r1, c0 - 1):
            c0 -= 1
        r0 = r1
        while r0 - 1 >= target.r0 and any(_filled(sheet, r0 - 1, c) for c in range(c0, c1 + 1)):
            r0 -= 1
        return r0, c0, r1, c1
    r0, c0 = target.r0, target.c0
    if not _filled(sheet, r0, c0):
        return None
    c1 = c0
    while c1 + 1 < sheet.col_count and _filled(sheet, r0, c1 + 1):
        c1 += 1
    r1 = r0
    while any(_filled(sheet, r1 + 1, c) for c in range(c0, c1 + 1)):
        r1 += 1
    return r0, c0, r1, c1


def values_append(
    book: Spreadsheet, range_text: str, params: dict[str, list[str]], body: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    option = input_option(params)
    target = resolve(book, range_text)
    sheet = target.sheet
    table = find_table(sheet, target)
    anchor = (target.r0, target.c0) if table is None else (table[2] + 1, table[1])
    write = plan_write(book, range_text, body, anchor=anchor, grow=True)
    insert = (first(params, "insertDataOption") or "OVERWRITE") == "INSERT_ROWS"
    need_rows = write.r0 + write.height
    grow_rows = max(0, need_rows - sheet.row_count)
    grow_cols = max(0, write.c0 + write.width - sheet.col_count)
    extra_rows = write.height if insert else grow_rows
    new_total = (
        book.total_cells()
        + extra_rows * (sheet.col_count + grow_cols)
        + grow_cols * sheet.row_count
    )
    if new_total > CELL_LIMIT:
        raise bad_request(
            "This action would increase the number of cells in the workbook above the limit "
            f"of {CELL_LIMIT} cells."
        )
    if insert and write.height:
        sheet.insert_rows(write.r0, write.height)
    elif grow_rows:
        sheet.grid["rowCount"] = need_rows
    if grow_cols:
        sheet.grid["columnCount"] = sheet.col_count + grow_cols
    apply_write(write, option)
    reply: dict[str, Any] = {"spreadsheetId": book.spreadsheet_id}
    if table is not None:
        reply["tableRange"] = a1.format_range(
            sheet.title, table[0] + 1, table[1] + 1, table[2] + 1, table[3] + 1
        )
    reply["updates"] = write_reply(book, write)
    return reply, write.cells


# --- clear --------------------------------------------------------------------------


def values_clear(book: Spreadsheet, range_text: str) -> dict[str, Any]:
    target = resolve(book, range_text)
    target.sheet.clear(target.r0, target.c0, target.r1, target.c1)
    return {"spreadsheetId": book.spreadsheet_id, "clearedRange": target.echo()}


def values_batch_clear(book: Spreadsheet, body: dict[str, Any]) -> dict[str, Any]:
    targets = [resolve(book, text) for text in body.get("ranges") or []]
    for t in targets:
        t.sheet.clear(t.r0, t.c0, t.r1, t.c1)
    return {"spreadsheetId": book.spreadsheet_id, "clearedRanges": [t.echo() for t in targets]}
