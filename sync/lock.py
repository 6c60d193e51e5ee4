"""One writer per spreadsheet: an advisory ``flock`` on a small lock file.

The file lives under ``$RUNTIME_DIRECTORY`` (systemd's ``RuntimeDirectory=``)
or the temp folder, named after a hash of the destination (spreadsheet id or
workbook path), and holds the holder's pid and command for the message a
waiting process prints.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType

from sync.errors import Busy, ConfigError

DEFAULT_WAIT = 60.0


#: The service's RuntimeDirectory= (see README); a manual run uses it when it
#: exists, so that it shares the service's lock even under PrivateTmp=.
SERVICE_RUNTIME = Path("/run/dq-sheets-sync")


def lock_path(name: str, env: Mapping[str, str] = os.environ) -> Path:
    runtime = env.get("RUNTIME_DIRECTORY", "").split(":")[0]
    if runtime:
        folder = Path(runtime)
    elif SERVICE_RUNTIME.is_dir() and os.access(SERVICE_RUNTIME, os.W_OK):
        folder = SERVICE_RUNTIME
    else:
        folder = Path(tempfile.gettempdir())
    digest = hashlib.sha256(name.encode()).hexdigest()[:16]
    return folder / f"dq-sheets-sync-{digest}.lock"


class WriterLock:
    """``with WriterLock(name): ...`` holds the lock for ``name`` or raises ``Busy``."""

    def __init__(
        self,
        name: str,
        *,
        wait: float = DEFAULT_WAIT,
        env: Mapping[str, str] = os.environ,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        describe: str = "",
    ) -> None:
        self.name = name
        self.path = lock_path(name, env)
        self.wait = wait
        self._clock = clock
        self._sleep = sleep
        self._describe = describe or name
        self._fd: int | None = None

    def _open(self) -> int:
        """The lock file, created if need be; read-only when another user owns it
        (``flock`` works on a read-only descriptor too)."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            try:
                return os.open(self.path, os.O_RDONLY)
            except OSError as exc:
                problem = exc
        except OSError as exc:
            problem = exc
        raise ConfigError(
            f"cannot open the lock file {self.path} ({problem.strerror}); remove it if no "
            "dq-sheets-sync is running, or set RUNTIME_DIRECTORY to a folder this user may "
            "write to"
        )

    def acquire(self) -> None:
        fd = self._open()
        deadline = self._clock() + self.wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if self._clock() >= deadline:
                    holder = self._holder(fd)
                    os.close(fd)
                    raise Busy(
                        f"another dq-sheets-sync ({holder}) is writing to {self._describe}; "
                        f"waited {self.wait:.0f} s. Try again when it has finished "
                        f"(lock file {self.path})."
                    ) from None
                self._sleep(min(0.5, max(0.0, deadline - self._clock())))
        with contextlib.suppress(OSError):  # read-only: the holder stays unnamed
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()}: {' '.join(sys.argv[:4])}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def _holder(fd: int) -> str:
        try:
            text = os.pread(fd, 200, 0).decode(errors="replace").strip()
        except OSError:
            text = ""
        return text or "unknown process"

    def __enter__(self) -> WriterLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
