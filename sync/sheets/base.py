"""The interface every sheet backend implements.

One cycle calls, in order: ``read`` (all worksheets at once, and learns the
time zone), ``refuse`` (plans that cannot be applied, e.g. the cell budget),
``apply_structure`` (one batched structural write), ``read_guard`` (the re-read
guard: header and key columns), ``apply_values`` (one batched values write). Backends do I/O and
nothing else: no planning, no retries of whole cycles.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from sync.errors import SyncError
from sync.model import Cell, Plan, Snapshot


class Backend(Protocol):
    #: What the single-writer lock is keyed by (spreadsheet id, workbook path).
    lock_name: str
    #: Human-readable destination for messages ("spreadsheet 1AbC..", "workbook x.xlsx").
    description: str

    def read(self, titles: Sequence[str]) -> dict[str, Snapshot]:
        """Snapshots of the named worksheets (``exists=False`` for absent ones)."""
        ...

    def timezone(self) -> str:
        """IANA time zone of the spreadsheet (valid after ``read``)."""
        ...

    def refuse(self, plans: Sequence[Plan]) -> dict[str, SyncError]:
        """Plans that must not be applied, by title, with the reason."""
        ...

    def apply_structure(self, plans: Sequence[Plan]) -> None:
        """Create sheets, insert columns, delete rows, grow grids, set formats."""
        ...

    def read_keys(
        self, columns: Mapping[str, tuple[int, ...]]
    ) -> dict[str, tuple[tuple[Cell, ...], ...]]:
        """The cells of the given 1-based columns for every data row (row 2 on)."""
        ...

    def read_guard(
        self, columns: Mapping[str, tuple[int, ...]]
    ) -> dict[str, tuple[tuple[Cell, ...], tuple[tuple[Cell, ...], ...]]]:
        """For each title: its header row and the cells of the given key columns
        of every data row, read fresh (one request): what the re-read guard
        compares with the plan before the values write."""
        ...

    def apply_values(self, plans: Sequence[Plan]) -> None:
        """Write every cell update of every plan (one batched write)."""
        ...

    def close(self) -> None: ...
