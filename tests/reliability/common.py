"""What "the sheet is exactly right" means, checked cell by cell, and a person's notes.

``sheet_problems`` compares a worksheet as a person reads it with the report
the connector was given (typed by the product's own ``build_table``, so
timestamps are serials exactly as written) and with the notes a person typed:
no key on two rows, every report key on a row whose managed cells equal the
report, every note still beside its key (or on its hand-typed row), keys that
left the report still there and marked missing.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sync.config import DEFAULT_KEYS
from sync.model import (
    MISSING_PREFIX,
    STATUS_COLUMN,
    Cell,
    Key,
    Table,
    is_empty,
    normalise_key,
    same_value,
)
from sync.table import build_table
from tests.emulator import Person

NOTES = "Notes"
#: The emulator's default spreadsheet time zone (what the engine types timestamps in).
SHEET_TZ = "Etc/GMT"


def typed(endpoint: str, records: Sequence[Mapping[str, Any]], tz: str = SHEET_TZ) -> Table:
    """The report as the connector types it."""
    return build_table(endpoint, records, DEFAULT_KEYS[endpoint], timezone=tz)


@dataclass
class Notes:
    """What a person typed in the ``Notes`` column: beside keys, and on hand rows."""

    by_key: dict[Key, str] = field(default_factory=dict)
    hand: list[str] = field(default_factory=list)

    def count(self) -> int:
        return len(self.by_key) + len(self.hand)


def cell(row: Sequence[Cell], col: int | None) -> Cell:
    """The 0-based ``col`` of ``row`` (None past its end or for no column)."""
    if col is None or col >= len(row):
        return None
    return row[col]


def header_index(header: Sequence[Cell]) -> dict[str, int]:
    out: dict[str, int] = {}
    for i, name in enumerate(header):
        if isinstance(name, str) and name and name not in out:
            out[name] = i
    return out


def row_key(row: Sequence[Cell], key_cols: Sequence[int]) -> Key | None:
    return normalise_key([cell(row, c) for c in key_cols])


def annotate(
    person: Person, title: str, rng: random.Random, key_fields: Sequence[str], share: float = 0.35
) -> Notes:
    """Type a ``Notes`` header right of the data, notes beside a share of the keyed
    rows, and one hand-typed row (a note with no key) inserted among them."""
    values = person.values(title)
    header = values[0]
    cols = header_index(header)
    key_cols = [cols[f] for f in key_fields]
    notes_col = len(header) + 1  # 1-based: one right of the last used column
    person.set_cells(title, 1, notes_col, [[NOTES]])
    notes = Notes()
    for r, row in enumerate(values[1:], start=2):
        key = row_key(row, key_cols)
        if key is not None and rng.random() < share:
            text = f"note {rng.randrange(10**6)} for {'/'.join(key)}"
            person.set_cells(title, r, notes_col, [[text]])
            notes.by_key[key] = text
    at = rng.randint(2, max(2, len(values)))
    person.insert_rows(title, at)
    text = f"hand-typed {rng.randrange(10**6)}: call them in January"
    person.set_cells(title, at, notes_col, [[text]])
    notes.hand.append(text)
    return notes


def sheet_problems(values: Sequence[Sequence[Cell]], table: Table, notes: Notes) -> list[str]:
    """Everything wrong with a worksheet after a clean sync (empty: exactly right)."""
    problems: list[str] = []
    if not values:
        return ["the worksheet is empty"]
    header, rows = values[0], values[1:]
    cols = header_index(header)
    absent = [c for c in (*table.columns, STATUS_COLUMN) if c not in cols]
    if absent:
        return [f"columns missing from the header: {absent}"]
    managed = {c: cols[c] for c in table.columns}
    key_cols = [cols[f] for f in table.key_fields]
    notes_col = cols.get(NOTES)
    status_col = cols[STATUS_COLUMN]
    report = dict(zip(table.keys, table.rows, strict=True))
    seen: dict[Key, int] = {}
    hand_found: list[str] = []
    for r, row in enumerate(rows, start=2):
        key = row_key(row, key_cols)
        note = cell(row, notes_col)
        if key is None:
            filled = [c for c, i in managed.items() if not is_empty(cell(row, i))]
            if filled:
                problems.append(f"row {r} has no key but managed cells {filled}")
            if isinstance(note, str) and note:
                hand_found.append(note)
            continue
        if key in seen:
            problems.append(f"key {key} on rows {seen[key]} and {r}")
            continue
        seen[key] = r
        expected_note = notes.by_key.get(key)
        if expected_note is not None and note != expected_note:
            problems.append(f"row {r} ({key}): note {note!r}, expected {expected_note!r}")
        elif expected_note is None and not is_empty(note):
            problems.append(f"row {r} ({key}): a note {note!r} that belongs elsewhere")
        status = cell(row, status_col)
        if key in report:
            if not is_empty(status):
                problems.append(f"row {r} ({key}): status {status!r} for a key in the report")
            for (name, i), want in zip(managed.items(), report[key], strict=True):
                got = cell(row, i)
                if not same_value(got, want):
                    problems.append(f"row {r} ({key}) {name}: {got!r}, expected {want!r}")
        elif not (isinstance(status, str) and status.startswith(MISSING_PREFIX)):
            problems.append(f"row {r} ({key}) left the report but its status is {status!r}")
    for key in report:
        if key not in seen:
            problems.append(f"key {key} of the report has no row")
    for key in notes.by_key:
        if key not in seen:
            problems.append(f"the row of {key} and its note are gone")
    if sorted(hand_found) != sorted(notes.hand):
        problems.append(f"hand-typed notes {sorted(hand_found)}, expected {sorted(notes.hand)}")
    return problems
