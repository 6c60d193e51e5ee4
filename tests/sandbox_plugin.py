"""Pytest fixtures for the Teams API sandbox and the Dataquest client.

- ``fake_clock``: a ``FakeClock`` (call it for the time; ``.sleep`` advances it
  instantly). Give the same one to a sandbox and a client and throttling plays
  out in fake time: no test ever waits for real.
- ``sandbox``: a started ``Sandbox`` (40 learners, seed 1) on the fake clock.
- ``sandbox_factory(**kwargs)``: more sandboxes (defaults as above); all are
  stopped at teardown. Pass ``clock=time.monotonic`` for a real-time one (for
  subprocess tests, where a fake clock cannot be shared).
- ``client_factory(sandbox, **kwargs)``: a ``DataquestClient`` for a sandbox,
  on the fake clock, sleeping with ``fake_clock.sleep``, seeded jitter.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sync.dataquest import DataquestClient
from sync.sandbox import Sandbox


class FakeClock:
    """A monotonic clock that moves only when told to (thread-safe)."""

    def __init__(self, start: float = 1000.0) -> None:
        self._now = start
        self._lock = threading.Lock()
        #: Every sleep asked for, in order.
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock does not go back")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        """Return at once, the clock ``seconds`` later."""
        self.sleeps.append(seconds)
        self.advance(max(seconds, 0.0))

    @property
    def slept(self) -> float:
        return sum(self.sleeps)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sandbox_factory(fake_clock: FakeClock) -> Iterator[Callable[..., Sandbox]]:
    started: list[Sandbox] = []

    def make(**kwargs: Any) -> Sandbox:
        kwargs.setdefault("clock", fake_clock)
        kwargs.setdefault("learners", 40)
        kwargs.setdefault("seed", 1)
        sandbox = Sandbox(**kwargs).start()
        started.append(sandbox)
        return sandbox

    yield make
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory()


@pytest.fixture
def client_factory(fake_clock: FakeClock) -> Iterator[Callable[..., DataquestClient]]:
    made: list[DataquestClient] = []

    def make(sandbox: Sandbox, **kwargs: Any) -> DataquestClient:
        kwargs.setdefault("team_id", sandbox.team_id)
        kwargs.setdefault("api_key", sandbox.api_key)
        kwargs.setdefault("base_url", sandbox.url)
        kwargs.setdefault("clock", fake_clock)
        kwargs.setdefault("sleep", fake_clock.sleep)
        kwargs.setdefault("rng", random.Random(0))
        kwargs.setdefault("timeout_seconds", 5.0)
        client = DataquestClient(**kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
