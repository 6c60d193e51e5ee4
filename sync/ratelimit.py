"""Client-side politeness: a rolling-window request limiter and the retry policy.

Two small, clock-injected pieces that every remote client of the package uses:

- ``RollingWindowLimiter``: at most ``limit`` requests in any rolling window
  (60 s by default), the same sliding window Django REST Framework enforces on
  the server, so a client that goes through it never sees a 429 in normal use.
  ``shared_limiter`` hands out one limiter per remote identity (a hash of
  URL, account and key: never the key itself), so every client of one API key
  in the process counts against the same window.
- ``Backoff`` (capped exponential delay with jitter) and ``RetryBudget``
  (counters of one call: attempts and seconds waited, bounded), so retry loops
  stay small, bounded and testable. Counters live on the budget of one call,
  never on a class.

Nothing here sleeps on its own initiative with the real clock unless it was
given ``time.sleep``: clocks and sleep functions are parameters.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Sleep = Callable[[float], None]

#: The smallest wait the limiter sleeps when a slot is not free yet (guards
#: against floating-point edges where ``t + window - now`` rounds to zero).
MIN_WAIT = 1e-3


class Slot:
    """One request counted in a window. ``at`` is when it counts from.

    A slot is taken before the request is sent; call ``done`` when the reply
    arrives so the slot counts from then: the server stamps the request
    somewhere between send and reply, so the reply time is the safe bound.
    """

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at

    def done(self, at: float) -> None:
        self.at = max(self.at, at)

    def __repr__(self) -> str:
        return f"Slot(at={self.at:.3f})"


class RollingWindowLimiter:
    """At most ``limit`` requests in any rolling ``window`` seconds.

    Thread-safe. The check is DRF's: a request stamped ``t`` has left the
    window once ``t <= now - window``.

    >>> now = [0.0]
    >>> lim = RollingWindowLimiter(2, 60.0, clock=lambda: now[0])
    >>> lim.try_acquire() is not None, lim.try_acquire() is not None
    (True, True)
    >>> lim.try_acquire(), lim.wait_time()
    (None, 60.0)
    """

    def __init__(self, limit: int, window: float = 60.0, *, clock: Clock = time.monotonic) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        if window <= 0:
            raise ValueError(f"window must be positive, got {window}")
        self.limit = limit
        self.window = window
        self.clock = clock
        self._slots: list[Slot] = []
        self._hold_until = float("-inf")
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RollingWindowLimiter(limit={self.limit}, window={self.window})"

    def _wait_locked(self, now: float) -> float:
        horizon = now - self.window
        self._slots = [s for s in self._slots if not s.at <= horizon]
        wait = self._hold_until - now
        if len(self._slots) >= self.limit:
            ats = sorted(s.at for s in self._slots)
            # The (n - limit)th oldest must leave for a slot to be free.
            oldest_to_leave = ats[len(ats) - self.limit]
            wait = max(wait, oldest_to_leave + self.window - now, MIN_WAIT)
        return max(wait, 0.0)

    def wait_time(self) -> float:
        """Seconds until a request may be sent (0 when it may go now)."""
        with self._lock:
            return self._wait_locked(self.clock())

    def try_acquire(self) -> Slot | None:
        """Take a slot now if one is free; None otherwise."""
        with self._lock:
            now = self.clock()
            if self._wait_locked(now) > 0:
                return None
            slot = Slot(now)
            self._slots.append(slot)
            return slot

    def acquire(self, sleep: Sleep, on_wait: Callable[[float], None] | None = None) -> Slot:
        """Take a slot, sleeping (with ``sleep``) until one is free.

        ``on_wait(seconds)`` is called before each sleep (for logging).
        """
        while True:
            with self._lock:
                now = self.clock()
                wait = self._wait_locked(now)
                if wait <= 0:
                    slot = Slot(now)
                    self._slots.append(slot)
                    return slot
            if on_wait is not None:
                on_wait(wait)
            sleep(wait)

    def hold_until(self, until: float) -> None:
        """Send nothing before ``until`` (clock time): the server asked us to wait."""
        with self._lock:
            self._hold_until = max(self._hold_until, until)

    def in_window(self) -> int:
        """How many requests count in the current window."""
        with self._lock:
            now = self.clock()
            self._wait_locked(now)
            return len(self._slots)


_registry: dict[tuple[str, int], RollingWindowLimiter] = {}
_registry_clocks: dict[int, Clock] = {}
_registry_lock = threading.Lock()


def identity(*parts: str) -> str:
    """A stable, non-reversible name for a remote account (URL, team, key...).

    >>> len(identity("https://x/", "12345", "secret"))
    64
    """
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def shared_limiter(
    name: str, limit: int, *, window: float = 60.0, clock: Clock = time.monotonic
) -> RollingWindowLimiter:
    """The process-wide limiter for ``name`` (see ``identity``) and ``clock``.

    Timestamps are only comparable within one clock, so the clock is part of
    the identity. When callers ask for different limits for one name, the
    strictest wins.
    """
    key = (name, id(clock))
    with _registry_lock:
        limiter = _registry.get(key)
        if limiter is None:
            limiter = RollingWindowLimiter(limit, window, clock=clock)
            _registry[key] = limiter
            _registry_clocks[id(clock)] = clock  # keep the clock alive: ids stay unique
        else:
            limiter.limit = min(limiter.limit, limit)
        return limiter


@dataclass(frozen=True)
class Backoff:
    """Capped exponential backoff with jitter.

    Attempt n (1-based) waits a random time in ``[d/2, d]`` where
    ``d = min(cap, base * factor ** (n - 1))`` ("equal jitter": never zero,
    never in lockstep with other clients).
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 60.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        ceiling = min(self.cap, self.base * self.factor ** max(attempt - 1, 0))
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass
class RetryBudget:
    """The retry counters of one call: attempts made and seconds waited.

    ``allows(wait)`` says whether one more attempt after waiting ``wait``
    seconds stays within both bounds; ``spend(wait)`` records the wait.
    """

    max_attempts: int = 8
    max_total_wait: float = 300.0
    attempts: int = 0
    waited: float = 0.0

    def attempt(self) -> int:
        """Count one attempt; returns its 1-based number."""
        self.attempts += 1
        return self.attempts

    def allows(self, wait: float) -> bool:
        return self.attempts < self.max_attempts and self.waited + wait <= self.max_total_wait

    def spend(self, wait: float) -> None:
        self.waited += wait
