"""Crash consistency: a ``--once`` SIGKILLed at a seeded moment, then a clean
``--once``, leaves every worksheet exactly right (see ``crash``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sync.sandbox import Sandbox
from tests.emulator import Emulator
from tests.reliability.crash import PHASES, describe, run_crash_trial, run_crash_trials

#: Trials of the full (slow) run.
FULL_TRIALS = 56


@pytest.fixture
def team(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(clock=time.monotonic, rate_per_minute=1000, learners=10)


@pytest.mark.parametrize(
    ("seed", "phase"),
    [
        (101, "structure applied"),
        (102, "values applied"),
        (103, "random time"),
    ],
)
def test_a_killed_run_then_a_clean_run_converges(
    seed: int, phase: str, tmp_path: Path, emulator: Emulator, team: Sandbox
) -> None:
    trial = run_crash_trial(seed, tmp_path, emulator, team, phase=phase)
    assert trial.converged, describe(trial)
    if PHASES[phase] is not None:
        assert trial.killed, describe(trial)


@pytest.mark.slow
def test_crash_consistency_full(tmp_path: Path, emulator: Emulator, team: Sandbox) -> None:
    trials = run_crash_trials(range(FULL_TRIALS), tmp_path, emulator, team)
    failed = [describe(t) for t in trials if not t.converged]
    assert not failed, "\n".join(failed)
    assert sum(t.killed for t in trials) >= 50
