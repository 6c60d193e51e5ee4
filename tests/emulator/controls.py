"""Test controls of the emulator: the request log, fault injection, hooks that
run a person's edit before a given request, and per-user per-minute quotas on
an injected clock."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoggedRequest:
    """One request as the emulator saw it (also what ``before_request`` hooks get)."""

    method: str
    path: str
    kind: str
    ranges: list[str] = field(default_factory=list)
    value_input_option: str | None = None
    cells_written: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    status: int = 0
    spreadsheet_id: str | None = None
    client_email: str | None = None
    query: str = ""
    dropped: bool = False


@dataclass
class Fault:
    status: int | None
    count: int
    kind: str | None
    method: str | None
    drop: bool
    after: int
    apply_then_drop: bool
    message: str | None = None
    skipped: int = 0

    def matches(self, req: LoggedRequest) -> bool:
        if self.kind is None and req.kind == "token":
            return False
        if self.kind is not None and req.kind != self.kind:
            return False
        return self.method is None or req.method.upper() == self.method.upper()


@dataclass
class Hook:
    fn: Callable[[LoggedRequest], None]
    kind: str | None
    nth: int
    seen: int = 0


class Faults:
    """Pending injected faults, consumed in registration order."""

    def __init__(self) -> None:
        self.pending: list[Fault] = []

    def take(self, req: LoggedRequest) -> Fault | None:
        for fault in self.pending:
            if not fault.matches(req):
                continue
            if fault.skipped < fault.after:
                fault.skipped += 1
                continue
            fault.count -= 1
            if fault.count <= 0:
                self.pending.remove(fault)
            return fault
        return None


class Hooks:
    def __init__(self) -> None:
        self.pending: list[Hook] = []

    def due(self, req: LoggedRequest) -> list[Hook]:
        ready = []
        for hook in list(self.pending):
            if hook.kind is not None and hook.kind != req.kind:
                continue
            if hook.kind is None and req.kind == "token":
                continue
            hook.seen += 1
            if hook.seen == hook.nth:
                self.pending.remove(hook)
                ready.append(hook)
        return ready


class Quota:
    """Sliding one-minute windows of accepted requests per (user, read|write)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.limits: dict[str, int] | None = None
        self.windows: dict[tuple[str, str], deque[float]] = {}

    def set(self, read_per_minute: int, write_per_minute: int) -> None:
        self.limits = {"read": read_per_minute, "write": write_per_minute}
        self.windows.clear()

    def admit(self, user: str, bucket: str) -> bool:
        if self.limits is None:
            return True
        now = self.clock()
        window = self.windows.setdefault((user, bucket), deque())
        while window and window[0] <= now - 60.0:
            window.popleft()
        if len(window) >= self.limits[bucket]:
            return False
        window.append(now)
        return True
