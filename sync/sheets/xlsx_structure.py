"""Column inserts and row deletes in an openpyxl worksheet, done whole.

openpyxl's ``insert_cols``/``delete_rows`` move cell values, styles and
comments, but not merged ranges, column widths, row heights or hyperlink
anchors. A merged note left behind would hide (and on the next load lose) a
person's text, so this module moves those too. Still not moved (openpyxl
limits, documented): references inside formulas, conditional formats, data
validations, the auto-filter range and print areas.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from openpyxl.utils import column_index_from_string, get_column_letter
from openpyxl.worksheet.cell_range import CellRange
from openpyxl.worksheet.worksheet import Worksheet

log = logging.getLogger(__name__)

#: Width given to a date-time column that has no width of its own.
DATETIME_WIDTH = 20


def insert_column(sheet: Worksheet, index: int) -> None:
    """Insert an empty column at 1-based ``index``; everything right of it moves."""
    moved = _unmerge(sheet, lambda r: r.max_col >= index)
    sheet.insert_cols(index)
    for cells in moved:
        if cells.min_col >= index:
            cells.shift(col_shift=1)
            sheet.merge_cells(cells.coord)
        else:  # the new column would fall inside the merge: leave it unmerged
            log.warning(
                "%s: cells %s unmerged, a new column was inserted inside them",
                sheet.title,
                cells.coord,
            )
    _shift_column_widths(sheet, index)
    _reanchor_hyperlinks(sheet)


def delete_row(sheet: Worksheet, row: int) -> None:
    """Delete 1-based ``row``; rows below move up, with their merges and heights."""
    moved = _unmerge(sheet, lambda r: r.max_row >= row)
    sheet.delete_rows(row)
    for cells in moved:
        if cells.min_row > row:
            cells.shift(row_shift=-1)
        elif cells.min_row < row:  # the deleted row was inside: shrink the range
            cells.shrink(bottom=1)
        else:  # the deleted row held the range's first cell and its value
            continue
        if cells.size["rows"] * cells.size["columns"] > 1:
            sheet.merge_cells(cells.coord)
    _shift_row_heights(sheet, row)
    _reanchor_hyperlinks(sheet)


def widen_for_datetimes(sheet: Worksheet, col: int) -> None:
    """Give a date-time column room for its format unless it has a width of its own."""
    for dim in sheet.column_dimensions.values():
        low = dim.min or column_index_from_string(dim.index)
        high = dim.max or low
        if low <= col <= high and (dim.customWidth or low != high):
            return  # a width of its own, or a range that another <col> must not overlap
    sheet.column_dimensions[get_column_letter(col)].width = DATETIME_WIDTH


def _unmerge(sheet: Worksheet, affected: Callable[[CellRange], bool]) -> list[CellRange]:
    """Unmerge the ranges ``affected`` selects (their first cell keeps the value)
    and return copies of them, to merge again at their new place."""
    found = [CellRange(r.coord) for r in sheet.merged_cells.ranges if affected(r)]
    for cells in found:
        sheet.unmerge_cells(cells.coord)
    return found


def _shift_column_widths(sheet: Worksheet, index: int) -> None:
    """Move column dimensions (width, hidden, outline) at or right of ``index``."""
    dims = sheet.column_dimensions
    moved = []
    for key, dim in list(dims.items()):
        low = dim.min or column_index_from_string(key)
        high = dim.max or low
        if low >= index:
            low, high = low + 1, high + 1
        elif high >= index:
            high += 1
        dim.min, dim.max = low, high
        dim.index = get_column_letter(low)
        moved.append(dim)
    dims.clear()
    for dim in moved:
        dims[dim.index] = dim


def _shift_row_heights(sheet: Worksheet, row: int) -> None:
    """Drop the deleted row's dimension and move the ones below it up."""
    dims = sheet.row_dimensions
    moved = []
    for key, dim in list(dims.items()):
        if key == row:
            continue
        if key > row:
            dim.index = key - 1
        moved.append(dim)
    dims.clear()
    for dim in moved:
        dims[dim.index] = dim


def _reanchor_hyperlinks(sheet: Worksheet) -> None:
    """A hyperlink remembers the cell it was set on: point it at where it is now."""
    for cell in sheet._cells.values():  # openpyxl has no public index of linked cells
        link = getattr(cell, "hyperlink", None)
        if link is not None:
            link.ref = cell.coordinate
