"""The fault matrix, one test per cell: exit code, message and sheet state of a
cycle under each fault, and convergence on the next run (see ``faults``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sync.sandbox import Sandbox
from tests.emulator import Emulator
from tests.reliability.faults import CELLS, FaultCell, describe, run_cell


@pytest.mark.parametrize(
    "cell",
    [
        pytest.param(
            c,
            id=f"{c.side}: {c.name}",
            marks=[pytest.mark.xfail(strict=True, reason=f"bug: {c.bug}")] if c.bug else [],
        )
        for c in CELLS
    ],
)
def test_fault(
    cell: FaultCell,
    emulator: Emulator,
    sandbox_factory: Callable[..., Sandbox],
    tmp_path: Path,
) -> None:
    sandbox = sandbox_factory(rate_per_minute=1000, learners=10)
    result = run_cell(cell, emulator, sandbox, tmp_path)
    assert result.as_expected, describe(result)
    assert "Traceback" not in result.message
