"""The sd_notify client and watchdog timing, against real Unix datagram sockets."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sync.notify import Notifier, Watchdog, socket_address


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    try:
        yield path, sock
    finally:
        sock.close()


def test_messages_arrive_as_one_datagram_each(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    notifier = Notifier.from_env({"NOTIFY_SOCKET": path})
    assert notifier.ready("starting")
    assert notifier.status("12:00 4 worksheets synced,\n37 cells updated")
    assert notifier.watchdog()
    assert notifier.reloading(monotonic_usec=1234)
    assert notifier.stopping()
    got = [sock.recv(4096).decode() for _ in range(5)]
    assert got == [
        "READY=1\nSTATUS=starting",
        "STATUS=12:00 4 worksheets synced, 37 cells updated",  # one line
        "WATCHDOG=1",
        "RELOADING=1\nMONOTONIC_USEC=1234",
        "STOPPING=1",
    ]
    notifier.close()


def test_abstract_socket_names_start_with_at() -> None:
    name = f"dq-sheets-sync-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2)
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        assert notifier.ready()
        assert sock.recv(100) == b"READY=1"
    finally:
        sock.close()


def test_without_systemd_nothing_is_sent_and_nothing_fails(tmp_path: Path) -> None:
    assert not Notifier.from_env({}).ready()
    assert not Notifier.from_env({"NOTIFY_SOCKET": "vsock:2:1234"}).enabled
    gone = Notifier.from_env({"NOTIFY_SOCKET": str(tmp_path / "missing.sock")})
    assert gone.enabled and not gone.ready()  # logged at debug, never raised


def test_socket_address() -> None:
    assert socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert socket_address("@x") == "\0x"
    assert socket_address("@") is None
    assert socket_address("relative") is None


def test_watchdog_pings_at_half_the_interval(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    now = [0.0]
    dog = Watchdog.from_env(Notifier(path), {"WATCHDOG_USEC": "4000000"}, monotonic=lambda: now[0])
    assert dog.interval == 2.0
    assert dog.seconds_until_due() == 0.0
    dog.ping_if_due()
    assert sock.recv(100) == b"WATCHDOG=1"
    now[0] = 1.5
    assert dog.seconds_until_due() == 0.5
    dog.ping_if_due()  # not due yet: nothing sent
    now[0] = 2.0
    dog.ping_if_due()
    assert sock.recv(100) == b"WATCHDOG=1"
    sock.settimeout(0.05)
    with pytest.raises(TimeoutError):
        sock.recv(100)


def test_watchdog_is_off_for_another_pid_or_without_a_socket(tmp_path: Path) -> None:
    notifier = Notifier(str(tmp_path / "n.sock"))
    env = {"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid() + 1)}
    assert not Watchdog.from_env(notifier, env).enabled
    assert Watchdog.from_env(notifier, {**env, "WATCHDOG_PID": str(os.getpid())}).enabled
    assert not Watchdog.from_env(Notifier(None), {"WATCHDOG_USEC": "4000000"}).enabled
    assert not Watchdog.from_env(notifier, {"WATCHDOG_USEC": "soon"}).enabled
    off = Watchdog(notifier, None)
    assert off.seconds_until_due() is None
    off.ping_if_due()  # no-op
