"""Safety stops between planning and writing (DESIGN.md, "Guards").

``check(plan, snapshot, options)`` raises ``UnsafeSync`` for a plan that looks
like a broken report rather than real change, unless ``options.force``:

- the report is empty while the worksheet holds synced rows that this sync
  would mark missing or delete;
- the rows newly marked missing plus the rows deleted exceed
  ``max_missing_fraction`` of the synced rows this sync could affect (every
  synced row except those already marked missing that stay as they are). No
  minimum: a worksheet of two rows is refused when it would lose both.

With ``missing_rows = "keep"`` nothing marks a row that went missing, so
every row that ever left would count again on every run; there the guard
counts the rows that leave only as far as new rows replace them (a report
whose keys all changed, say e-mails now upper case, would otherwise append a
second copy of every row).

- a key column is missing from the header of a worksheet that holds data (a
  person renamed or deleted it): every row would be appended again.

Like vdirsyncer's ``StorageEmpty``. Pure: no I/O.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sync.errors import UnsafeSync
from sync.model import Plan, Snapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GuardOptions:
    #: Refuse when more than this fraction of the synced rows would go missing.
    max_missing_fraction: float = 0.5
    #: Apply the plan whatever it does (``--force``).
    force: bool = False
    #: ``[sync] missing_rows``: in "keep" mode no row is ever marked.
    missing_rows: str = "mark"
    #: The worksheet's key fields (to notice a renamed key header).
    key_fields: tuple[str, ...] = ()


def check(plan: Plan, snapshot: Snapshot, options: GuardOptions) -> None:
    """Raise ``UnsafeSync`` when ``plan`` would mark or delete too many rows."""
    counts = plan.counts
    title = plan.title or snapshot.title
    lost_keys = [i.header for i in plan.column_inserts if i.header in options.key_fields]
    if lost_keys and any(any(c not in (None, "") for c in row) for row in snapshot.rows):
        # a key header renamed or deleted by a person: every row would come again
        _refuse(
            f"worksheet {title!r}: its header has no {', '.join(map(repr, lost_keys))} column "
            f"although it holds {len(snapshot.rows)} data row(s); every row would be appended "
            "again",
            "Was the header renamed or deleted? Restore it; or run with --force to add the "
            "column and append every row anew.",
            options,
        )
        return
    affected = counts.newly_missing + counts.deleted
    if options.missing_rows == "keep":
        # nothing remembers rows that left: count them only as far as new keys replace them
        affected = min(affected, counts.added)
    # synced rows minus those already marked missing that stay so untouched
    base = counts.sheet_rows - (counts.missing - counts.newly_missing - counts.deleted)
    if affected <= 0:
        return
    what = _what(counts.newly_missing, counts.deleted)
    if counts.rows == 0:
        # an empty report over a worksheet with live rows
        problem = (
            f"worksheet {title!r}: the report came back empty while the worksheet holds "
            f"{counts.sheet_rows} synced row(s) ({what})"
        )
        advice = "If the report is really empty now, run again with --force."
    elif base > 0 and affected / base > options.max_missing_fraction:
        # too large a share of the rows would leave at once
        problem = (
            f"worksheet {title!r}: {what}, {affected} of {base} synced rows "
            f"({affected / base:.0%}), more than max_missing_fraction "
            f"{options.max_missing_fraction:.0%}"
        )
        advice = (
            "Check the report (key fields, date range); if it is right, run again with --force."
        )
    else:
        return
    _refuse(problem, advice, options)


def _refuse(problem: str, advice: str, options: GuardOptions) -> None:
    if options.force:
        log.warning("%s; applying it anyway (--force)", problem)
        return
    raise UnsafeSync(f"{problem}. Nothing was written. {advice}")


def _what(newly_missing: int, deleted: int) -> str:
    parts = []
    if newly_missing:
        parts.append(f"{newly_missing} row(s) would newly go missing")
    if deleted:
        parts.append(f"{deleted} row(s) would be deleted")
    return " and ".join(parts)
