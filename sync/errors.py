"""The exception tree. Library code raises these; only ``cli`` prints them.

Every error carries the exit code the CLI uses for it, so the mapping from
failure to exit status lives in one place:

- 1  ``EX_FAILED``: a worksheet failed or a guard refused it
- 2  usage error (argparse)
- 75 ``EX_TEMPFAIL``: only transient failures (network, throttling, quota, locks)
- 78 ``EX_CONFIG``: configuration or credentials problem
"""

from __future__ import annotations

from dataclasses import dataclass

EX_OK = 0
EX_FAILED = 1
EX_USAGE = 2
EX_TEMPFAIL = 75
EX_CONFIG = 78


class SyncError(Exception):
    """Root of every error this package raises on purpose."""

    exit_code = EX_FAILED
    #: True when trying again later may succeed without anyone changing anything.
    transient = False


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, named by its TOML key."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class ConfigError(SyncError):
    """The configuration (or a credential it points to) is unusable."""

    exit_code = EX_CONFIG

    def __init__(self, problems: list[Problem] | Problem | str, *, source: str = "") -> None:
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        self.source = source
        head = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = f"{head}{self.problems[0]}"
        else:
            lines = "\n".join(f"  - {p}" for p in self.problems)
            text = f"{head}{len(self.problems)} problems:\n{lines}"
        super().__init__(text)


# --- the Dataquest side -------------------------------------------------------


class SourceError(SyncError):
    """The Dataquest Teams API failed or answered something unusable."""

    transient = True
    exit_code = EX_TEMPFAIL


class AuthError(SourceError):
    """The API key was refused (401/403) or the team id is unknown (404)."""

    transient = False
    exit_code = EX_CONFIG


class Throttled(SourceError):
    """HTTP 429 persisted past the retry budget."""


class BadResponse(SourceError):
    """The reply was not the JSON shape the endpoint promises."""

    transient = False
    exit_code = EX_FAILED


# --- the spreadsheet side -----------------------------------------------------


class SheetError(SyncError):
    """The spreadsheet (Google or workbook) failed or refused."""


class NotShared(SheetError):
    """HTTP 403: the spreadsheet is not shared with the service account."""

    exit_code = EX_CONFIG


class SheetNotFound(SheetError):
    """HTTP 404 or a missing file: wrong spreadsheet id, URL or path."""

    exit_code = EX_CONFIG


class QuotaExceeded(SheetError):
    """429 or 5xx persisted past the retry budget; try again later."""

    transient = True
    exit_code = EX_TEMPFAIL


class GridLimit(SheetError):
    """The write would pass the spreadsheet's cell or column limits."""


class Busy(SheetError):
    """Another writer holds the spreadsheet (lock file, Excel lock, service)."""

    transient = True
    exit_code = EX_TEMPFAIL


class UnsafeSync(SyncError):
    """A guard refused to apply a plan that could lose data; ``--force`` overrides."""
