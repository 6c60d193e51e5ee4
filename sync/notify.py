"""systemd's notify protocol and watchdog, with the standard library only.

The protocol is one datagram per message on the Unix socket named by
``$NOTIFY_SOCKET`` (a path, or an abstract name written with a leading ``@``),
holding newline-separated ``NAME=value`` fields::

    READY=1
    STATUS=12:00 4 worksheets synced, 37 cells updated

``Notifier`` sends them and never raises: without ``$NOTIFY_SOCKET`` (not
under systemd) every call is a no-op, and a send that fails is logged at
DEBUG. ``Watchdog`` knows from ``$WATCHDOG_USEC`` (and ``$WATCHDOG_PID``) how
often to send ``WATCHDOG=1``: every half of the configured interval.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

__all__ = ["NOTIFY_SOCKET_ENV", "Notifier", "Watchdog", "socket_address"]

NOTIFY_SOCKET_ENV = "NOTIFY_SOCKET"
WATCHDOG_USEC_ENV = "WATCHDOG_USEC"
WATCHDOG_PID_ENV = "WATCHDOG_PID"
#: systemd cuts STATUS= texts; keep ours short and on one line.
MAX_STATUS = 200
#: Seconds a send may wait for room in systemd's queue before it is dropped.
SEND_TIMEOUT = 1.0


def socket_address(value: str) -> str | None:
    """The ``AF_UNIX`` address for a ``$NOTIFY_SOCKET`` value, or None if unusable.

    >>> socket_address("/run/systemd/notify")
    '/run/systemd/notify'
    >>> socket_address("@abstract") == "\\0abstract"
    True
    """
    if value.startswith("/"):
        return value
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    return None


class Notifier:
    """Sends ``sd_notify`` messages to ``address`` (None: do nothing)."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self._sock: socket.socket | None = None
        self._warned = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Notifier:
        raw = env.get(NOTIFY_SOCKET_ENV, "")
        address = socket_address(raw) if raw else None
        if raw and address is None:
            log.warning("Ignoring NOTIFY_SOCKET=%s: only paths and @names are supported", raw)
        return cls(address)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *fields: str) -> bool:
        """Send ``fields`` ("READY=1", "STATUS=...") as one datagram; True if sent."""
        if self.address is None or not fields:
            return False
        data = "\n".join(fields).encode("utf-8", "replace")
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # A full receive queue blocks a datagram send: wait a little, never hang.
                self._sock.settimeout(SEND_TIMEOUT)
            self._sock.sendto(data, self.address)
        except OSError as exc:
            if not self._warned:
                log.debug("Could not notify systemd (%s): %s", self.address.lstrip("\0"), exc)
                self._warned = True
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        return self.send("READY=1", *([_status(status)] if status else []))

    def status(self, text: str) -> bool:
        return self.send(_status(text))

    def reloading(self, monotonic_usec: int | None = None) -> bool:
        usec = time.monotonic_ns() // 1000 if monotonic_usec is None else monotonic_usec
        return self.send("RELOADING=1", f"MONOTONIC_USEC={usec}")

    def stopping(self, status: str | None = None) -> bool:
        return self.send("STOPPING=1", *([_status(status)] if status else []))

    def watchdog(self) -> bool:
        return self.send("WATCHDOG=1")

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def _status(text: str) -> str:
    one_line = " ".join(text.split())
    return "STATUS=" + one_line[:MAX_STATUS]


class Watchdog:
    """Pings ``notifier`` every ``interval`` seconds (half of ``$WATCHDOG_USEC``).

    ``interval`` None means no watchdog: ``ping_if_due`` does nothing and
    ``seconds_until_due`` is None.
    """

    def __init__(
        self,
        notifier: Notifier,
        interval: float | None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.notifier = notifier
        self.interval = interval
        self._monotonic = monotonic
        self._last: float | None = None

    @classmethod
    def from_env(
        cls,
        notifier: Notifier,
        env: Mapping[str, str] = os.environ,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        pid: int | None = None,
    ) -> Watchdog:
        interval: float | None = None
        raw = env.get(WATCHDOG_USEC_ENV, "")
        owner = env.get(WATCHDOG_PID_ENV, "")
        mine = str(os.getpid() if pid is None else pid)
        if raw and notifier.enabled and (not owner or owner == mine):
            try:
                usec = int(raw)
            except ValueError:
                log.warning("Ignoring WATCHDOG_USEC=%s: not a number of microseconds", raw)
            else:
                if usec > 0:
                    interval = usec / 2 / 1_000_000
        return cls(notifier, interval, monotonic=monotonic)

    @property
    def enabled(self) -> bool:
        return self.interval is not None

    def seconds_until_due(self) -> float | None:
        if self.interval is None:
            return None
        if self._last is None:
            return 0.0
        return max(0.0, self._last + self.interval - self._monotonic())

    def ping(self) -> None:
        if self.interval is not None:
            self.notifier.watchdog()
            self._last = self._monotonic()

    def ping_if_due(self) -> None:
        due = self.seconds_until_due()
        if due is not None and due <= 0:
            self.ping()
