"""Concurrent people: a person edits the sheet while the connector syncs it.

One trial (in-process ``Engine`` + ``GoogleBackend``, real HTTP to the
emulator): a worksheet synced once and annotated (notes beside keys, a
hand-typed row), a report that moved on, then a cycle during which a person
makes one seeded edit (sort by any column, insert a row, delete a hand-typed
row, type an annotation, move a column) at one of three moments:

- ``before structure``: between the read and the structural write
  (``spreadsheets.batchUpdate``; the report gains a field so there is one);
- ``before re-read``: between the structural write and the re-read guard
  (the second ``values.batchGet``);
- ``before values write``: after the re-read guard, just before the values
  write (``values.batchUpdate``). No re-read guard can see this one; it is
  measured and reported on its own.

Right after the disturbed cycle: *misplaced* counts managed cells holding a
value that is neither the old nor the new report value of their row's key
(or any managed value on a row without a key, or on a second row of a key);
*lost* counts notes no longer beside their key (or hand-typed notes no
longer on a row without a key). Then a clean cycle must leave the sheet
exactly right (*converged*).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sync.config import DEFAULT_KEYS, Config, parse_config
from sync.engine import Engine
from sync.model import Cell, Key, Table, is_empty, same_value
from sync.sandbox_data import World
from sync.sheets.google import GoogleBackend
from tests.emulator import Emulator, LoggedRequest, Person
from tests.harness import StaticSource
from tests.reliability.common import (
    NOTES,
    Notes,
    annotate,
    cell,
    header_index,
    row_key,
    sheet_problems,
    typed,
)

EMAIL = "sync@test-project.iam.gserviceaccount.com"
EDITS = ("sort", "insert row", "delete hand row", "annotate", "move column")
MOMENTS: dict[str, tuple[str, int]] = {
    "before structure": ("spreadsheets.batchUpdate", 1),
    "before re-read": ("values.batchGet", 2),
    "before values write": ("values.batchUpdate", 1),
}
#: The moments a re-read guard can protect (the targets: 0 misplaced, 0 lost).
GUARDED = ("before structure", "before re-read")
ENDPOINTS = (("time_spent", "Time spent"), ("course_progress", "Course progress"))


@dataclass
class ConcurrentTrial:
    seed: int
    edit: str
    moment: str
    endpoint: str
    edited: bool = False
    exit_code: int = -1
    misplaced: int = 0
    lost: int = 0
    clean_exit: int = -1
    problems: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)

    @property
    def converged(self) -> bool:
        return self.clean_exit == 0 and not self.problems


def _config(tmp: Path, endpoint: str, title: str) -> Config:
    data: dict[str, Any] = {
        "dataquest": {"team_id": "12345", "api_key_env": "K"},
        "workbook": {"path": str(tmp / "unused.xlsx")},  # the engine gets its backend directly
        "worksheet": [{"endpoint": endpoint, "title": title}],
    }
    return parse_config(data, env={"K": "k" * 20}, base_dir=tmp)


class _Rig:
    def __init__(self, emulator: Emulator, credentials: Path, config: Config) -> None:
        self.emulator = emulator
        self.credentials = credentials
        self.config = config
        self.spreadsheet = emulator.create_spreadsheet("People", shared_with=[EMAIL])
        self.person: Person = emulator.person(self.spreadsheet)

    def sync(self, records: dict[str, list[dict[str, Any]]]) -> int:
        backend = GoogleBackend(self.spreadsheet, self.credentials, api_url=self.emulator.url)
        try:
            return Engine(self.config, backend, StaticSource(records)).run_cycle().exit_code
        finally:
            backend.close()


def _edit(
    kind: str, person: Person, title: str, notes: Notes, rng: random.Random, key_fields: Any
) -> str:
    """Make one edit as a person would; keep ``notes`` true to what is now typed."""
    values = person.values(title)
    header = values[0]
    used = len(values)
    if kind == "delete hand row":
        col = header_index(header).get(NOTES)
        for r, row in enumerate(values[1:], start=2):
            if col is not None and cell(row, col) in notes.hand:
                person.delete_rows(title, r)
                notes.hand.remove(str(cell(row, col)))
                return f"deleted hand row {r}"
        kind = "insert row"
    if kind == "sort":
        col, desc = rng.randint(1, len(header)), rng.random() < 0.5
        person.sort_rows(title, col, descending=desc)
        return f"sorted by column {col} ({header[col - 1]!r}){' descending' if desc else ''}"
    if kind == "insert row":
        at = rng.randint(2, used + 1)
        person.insert_rows(title, at)
        return f"inserted a row at {at}"
    if kind == "annotate":
        cols = header_index(header)
        key_cols = [cols[f] for f in key_fields]
        free = [
            (r, row_key(row, key_cols))
            for r, row in enumerate(values[1:], start=2)
            if row_key(row, key_cols) is not None and row_key(row, key_cols) not in notes.by_key
        ]
        if free:
            r, key = rng.choice(free)
            text = f"typed during the sync {rng.randrange(10**6)}"
            person.set_cells(title, r, cols[NOTES] + 1, [[text]])
            assert key is not None
            notes.by_key[key] = text
            return f"typed a note on row {r}"
        return "nothing to annotate"
    src = rng.randint(1, len(header))
    dst = rng.choice([d for d in range(1, len(header) + 1) if d != src])
    person.move_column(title, src, dst)
    return f"moved column {src} ({header[src - 1]!r}) to {dst}"


def _measure(
    values: list[list[Cell]], old: Table, new: Table, notes: Notes
) -> tuple[int, int, list[str]]:
    """(misplaced cells, lost notes, details) of the sheet right after the disturbed cycle."""
    header, rows = values[0], values[1:]
    cols = header_index(header)
    names = [c for c in dict.fromkeys((*new.columns, *old.columns)) if c in cols]
    key_cols = [cols[f] for f in new.key_fields]
    notes_col = cols.get(NOTES)
    olds = {
        k: dict(zip(old.columns, r, strict=True)) for k, r in zip(old.keys, old.rows, strict=True)
    }
    news = {
        k: dict(zip(new.columns, r, strict=True)) for k, r in zip(new.keys, new.rows, strict=True)
    }
    misplaced, details = 0, []
    seen: set[Key] = set()
    found_notes: dict[Key, Cell] = {}
    hand_found: list[Cell] = []
    for r, row in enumerate(rows, start=2):
        key = row_key(row, key_cols)
        filled = [n for n in names if not is_empty(cell(row, cols[n]))]
        if key is None or key in seen:
            misplaced += len(filled) or (0 if key is None else 1)
            if filled:
                details.append(f"row {r} ({key}): managed values {filled} on a row not its own")
            if key is None and not is_empty(cell(row, notes_col)):
                hand_found.append(cell(row, notes_col))
            continue
        seen.add(key)
        found_notes[key] = cell(row, notes_col)
        for n in names:
            got = cell(row, cols[n])
            choices = [d.get(n) for d in (olds.get(key), news.get(key)) if d is not None]
            if not any(same_value(got, want) for want in choices):
                misplaced += 1
                details.append(f"row {r} ({key}) {n}: {got!r} is not its value")
    if notes_col is None:
        return misplaced, notes.count(), details + ["the Notes column is gone"]
    lost = 0
    for key, text in notes.by_key.items():
        if found_notes.get(key) != text:
            lost += 1
            details.append(f"note of {key} lost: found {found_notes.get(key)!r}")
    for text in notes.hand:
        if text not in hand_found:
            lost += 1
            details.append(f"hand-typed note {text!r} lost")
    return misplaced, lost, details


def run_concurrent_trial(
    seed: int,
    emulator: Emulator,
    credentials: Path,
    tmp: Path,
    *,
    moment: str | None = None,
    edit: str | None = None,
) -> ConcurrentTrial:
    rng = random.Random(seed)
    moment = moment or rng.choice(list(MOMENTS))
    edit = edit or rng.choice(EDITS)
    endpoint, title = rng.choice(ENDPOINTS)
    trial = ConcurrentTrial(seed, edit, moment, endpoint)
    emulator.latency = 0.0
    rig = _Rig(emulator, credentials, _config(tmp, endpoint, title))
    world = World(seed, 10)
    epoch = rng.randrange(0, 20)
    old_records = world.records(endpoint, epoch)
    assert rig.sync({endpoint: old_records}) == 0
    key_fields = DEFAULT_KEYS[endpoint]
    notes = annotate(rig.person, title, rng, key_fields)
    new_records = world.records(endpoint, epoch + rng.randint(1, 3))
    if moment == "before structure" or rng.random() < 0.3:
        for rec in new_records:
            rec["cohort"] = f"cohort {rng.randrange(3)}"
    old, new = typed(endpoint, old_records), typed(endpoint, new_records)
    kind, nth = MOMENTS[moment]

    def person_edits(_: LoggedRequest) -> None:
        trial.edited = True
        trial.details.append(_edit(edit, rig.person, title, notes, rng, key_fields))

    emulator.before_request(person_edits, kind=kind, nth=nth)
    trial.exit_code = rig.sync({endpoint: new_records})
    with emulator.lock:
        emulator.hooks.pending.clear()
    trial.misplaced, trial.lost, found = _measure(rig.person.values(title), old, new, notes)
    trial.details.extend(found)
    trial.clean_exit = rig.sync({endpoint: new_records})
    trial.problems = sheet_problems(rig.person.values(title), new, notes)
    return trial


def run_concurrent_trials(
    seeds: range | list[int], emulator: Emulator, credentials: Path, tmp: Path
) -> list[ConcurrentTrial]:
    """Trials for ``seeds``: every (moment, edit) pair in turn, the rest seeded."""
    pairs = [(m, e) for m in MOMENTS for e in EDITS]
    return [
        run_concurrent_trial(seed, emulator, credentials, tmp, moment=m, edit=e)
        for seed, (m, e) in ((s, pairs[i % len(pairs)]) for i, s in enumerate(seeds))
    ]


Summary = dict[str, dict[str, int]]


def summarise(trials: list[ConcurrentTrial], key: Callable[[ConcurrentTrial], str]) -> Summary:
    out: Summary = {}
    for t in trials:
        row = out.setdefault(
            key(t), {"trials": 0, "edited": 0, "misplaced": 0, "lost": 0, "converged": 0}
        )
        row["trials"] += 1
        row["edited"] += t.edited
        row["misplaced"] += t.misplaced
        row["lost"] += t.lost
        row["converged"] += t.converged
    return out


def describe(t: ConcurrentTrial) -> str:
    return (
        f"seed {t.seed} {t.endpoint} {t.edit} {t.moment}: exit {t.exit_code}, "
        f"misplaced {t.misplaced}, lost {t.lost}, clean exit {t.clean_exit}, "
        f"problems {t.problems[:4]}; {t.details[:6]}"
    )


__all__ = [
    "EDITS",
    "GUARDED",
    "MOMENTS",
    "ConcurrentTrial",
    "describe",
    "run_concurrent_trial",
    "run_concurrent_trials",
    "summarise",
]
