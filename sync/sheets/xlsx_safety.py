"""Safety of the user's .xlsx file: loading it, lock files, and atomic saves.

This module owns everything that touches the workbook file on disk, so the
backend in ``workbook.py`` only edits an in-memory workbook:

- ``load_workbook`` opens the file or raises ``ConfigError`` (never overwrite a
  corrupt or non-xlsx file) and warns about parts openpyxl cannot keep;
- ``check_not_open`` raises ``Busy`` while Excel or LibreOffice has the file
  open (their lock files sit beside it);
- ``atomic_save`` writes a temporary file in the same folder, fsyncs it, keeps
  the previous version as ``<name>.xlsx.bak`` and renames over the original,
  so a crash never leaves a half-written workbook.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook

from sync.errors import Busy, ConfigError, SheetError

log = logging.getLogger(__name__)

TEMP_PREFIX = ".~dq-"
#: Seconds after which a temporary file of ours is known to be abandoned.
STALE_AFTER = 3600.0

#: Zip member prefixes of parts openpyxl drops or simplifies on save, by what
#: a person would call them.
DROPPED_PARTS: tuple[tuple[str, str], ...] = (
    ("xl/charts/", "charts"),
    ("xl/chartsheets/", "chart sheets"),
    ("xl/drawings/", "drawings or shapes"),
    ("xl/media/", "images"),
    ("xl/pivotTables/", "pivot tables"),
    ("xl/pivotCache/", "pivot tables"),
    ("xl/slicers/", "slicers"),
    ("xl/slicerCaches/", "slicers"),
    ("xl/timelines/", "timelines"),
    ("xl/threadedComments/", "threaded comments"),
    ("xl/ctrlProps/", "form controls"),
    ("xl/model/", "a data model"),
    ("xl/vbaProject.bin", "macros"),
)


#: Workbooks already warned about (once per process: the service reloads every cycle).
_warned: set[str] = set()


@dataclass(frozen=True)
class FileStamp:
    """What the file looked like when it was read, to notice a change before saving."""

    mtime_ns: int
    size: int

    @classmethod
    def of(cls, path: Path) -> FileStamp | None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        return cls(st.st_mtime_ns, st.st_size)


def backup_path(path: Path) -> Path:
    """``x.xlsx`` -> ``x.xlsx.bak``, beside it."""
    return path.with_name(path.name + ".bak")


def lock_files(path: Path) -> tuple[Path, ...]:
    """The lock files Excel (``~$x.xlsx``) and LibreOffice (``.~lock.x.xlsx#``)
    create beside a workbook they have open."""
    return (
        path.with_name("~$" + path.name),
        path.with_name(".~lock." + path.name + "#"),
    )


def check_not_open(path: Path) -> None:
    """Raise ``Busy`` when a spreadsheet program has the workbook open."""
    for lock in lock_files(path):
        if lock.exists():
            raise Busy(
                f"{path.name} is open in Excel or LibreOffice (lock file {lock.name} "
                f"found in {lock.parent}): close the workbook and sync again; nothing "
                f"was changed. If it is not open anywhere, delete that stale lock file."
            )


def check_path(path: Path) -> None:
    """Raise ``ConfigError`` for a path that can never hold our workbook."""
    if path.suffix.lower() != ".xlsx":
        raise ConfigError(
            f"{path.name} is not an .xlsx path: the workbook backend writes .xlsx "
            f"files only (macro-enabled .xlsm and old .xls are not supported)"
        )
    if not path.parent.is_dir():
        raise ConfigError(
            f"folder {path.parent} does not exist: create it or fix the workbook path"
        )
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path} is not a file: fix the workbook path")


def _unreadable(path: Path, why: str) -> ConfigError:
    return ConfigError(
        f"{path.name} is not a readable .xlsx workbook ({why}): fix or move it; it was not changed"
    )


def dropped_parts(path: Path) -> list[str]:
    """What the workbook holds that openpyxl will drop or simplify on save."""
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    found: list[str] = []
    for prefix, what in DROPPED_PARTS:
        if what not in found and any(name.startswith(prefix) for name in names):
            found.append(what)
    return found


def load_workbook(path: Path) -> Workbook:
    """Open an existing workbook for editing, or raise ``ConfigError``."""
    try:
        if not zipfile.is_zipfile(path):
            raise _unreadable(path, "not a zip archive; an old .xls or another format?")
        dropped = dropped_parts(path)
        workbook = openpyxl.load_workbook(path)
    except ConfigError:
        raise
    except PermissionError as exc:
        raise ConfigError(
            f"{path.name} cannot be read (permission denied): check the file's permissions"
        ) from exc
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ParseError) as exc:
        raise _unreadable(path, f"{type(exc).__name__}: {exc}") from exc
    except (ValueError, TypeError, AttributeError, IndexError, OSError) as exc:
        # openpyxl raises a variety of errors on malformed parts
        raise _unreadable(path, f"{type(exc).__name__}: {exc}") from exc
    if dropped and str(path.resolve()) not in _warned:
        _warned.add(str(path.resolve()))
        log.warning(
            "%s contains %s, which openpyxl (the library this tool writes .xlsx files "
            "with) may drop or simplify when the workbook is saved; the version before "
            "each save is kept as %s. Keep charts, images and pivot tables in another "
            "workbook that reads this one.",
            path.name,
            ", ".join(dropped),
            backup_path(path).name,
        )
    return workbook


def remove_stale_temps(path: Path, *, now: float, max_age: float = STALE_AFTER) -> list[Path]:
    """Delete temporary files a killed sync left beside the workbook.

    Only files with this tool's prefix and the workbook's suffixes, older than
    ``max_age`` seconds (a running save is never that old), are removed.
    """
    removed: list[Path] = []
    for temp in path.parent.glob(TEMP_PREFIX + "*"):
        if temp.suffix not in (".xlsx", ".bak") or not temp.is_file():
            continue
        try:
            if now - temp.stat().st_mtime > max_age:
                temp.unlink()
                removed.append(temp)
        except OSError:  # gone meanwhile, or not ours to delete: leave it
            continue
    if removed:
        log.info("removed %d temporary file(s) left by an interrupted save", len(removed))
    return removed


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError:  # some network file systems refuse fsync on a directory
        pass
    finally:
        os.close(fd)


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _check_unchanged(path: Path, stamp: FileStamp | None) -> None:
    if FileStamp.of(path) != stamp:
        raise Busy(
            f"{path.name} changed on disk while syncing (someone saved it): nothing "
            f"was written; the next sync reads the new version"
        )


def atomic_save(
    workbook: Workbook,
    path: Path,
    *,
    stamp: FileStamp | None,
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Save ``workbook`` over ``path`` atomically, keeping ``<name>.bak``.

    ``stamp`` is the file as it was read (None: it did not exist); if the file
    changed since, or a lock file appeared, nothing is written (``Busy``).
    ``before_replace`` runs after the temporary file is complete and before
    anything else is touched (a test hook to simulate a crash).
    """
    check_not_open(path)
    _check_unchanged(path, stamp)
    folder = path.parent
    try:
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed below, kept on disk)
            dir=folder, prefix=TEMP_PREFIX, suffix=".xlsx", delete=False
        )
    except OSError as exc:
        raise SheetError(
            f"cannot write in {folder} ({exc.strerror}): {path.name} was not changed"
        ) from exc
    temp = Path(handle.name)
    try:
        with handle:
            workbook.save(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if stamp is not None:
            shutil.copymode(path, temp)
        else:
            os.chmod(temp, _new_file_mode())
        if before_replace is not None:
            before_replace()
        check_not_open(path)
        _check_unchanged(path, stamp)
        if stamp is not None:
            _write_backup(path)
        os.replace(temp, path)
    except OSError as exc:
        raise SheetError(
            f"could not save {path.name} ({exc.strerror or exc}): it was not changed"
        ) from exc
    finally:
        temp.unlink(missing_ok=True)
    _fsync_dir(folder)
    log.debug("saved %s", path)


def _write_backup(path: Path) -> None:
    """Copy the current file to ``<name>.bak`` (itself via a temp file and rename)."""
    backup = backup_path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=TEMP_PREFIX, suffix=".bak")
    os.close(fd)
    temp = Path(name)
    try:
        shutil.copy2(path, temp)
        os.replace(temp, backup)
    finally:
        temp.unlink(missing_ok=True)
