"""The emulator against Google's recorded answers (../shared/fixtures/gspread-cassettes).

Every recording is replayed against a fresh emulator; at least 95% of the
in-scope interactions (Sheets endpoints and the modelled batchUpdate kinds)
must answer exactly as Google did. ``python -m tests.emulator.fidelity`` prints
the same table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.emulator.fidelity import run

CASSETTES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "gspread-cassettes"


@pytest.mark.skipif(
    not CASSETTES.is_dir(),
    reason=f"recorded Google traffic not found at {CASSETTES} "
    "(../shared is absent outside the team checkout)",
)
def test_emulator_answers_like_google_on_recorded_traffic() -> None:
    report = run(CASSETTES)
    print(report.table())
    scoped = report.in_scope
    assert len(scoped) > 1000, "expected the ~1,400 in-scope recorded interactions"
    assert report.ratio >= 0.95, report.table()
