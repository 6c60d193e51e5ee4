"""Configuration: TOML in, frozen dataclasses out, every problem reported at once.

``find_config_path`` picks the file (``--config``, ``$DQ_SHEETS_SYNC_CONFIG``,
``./config.toml``), ``load_config`` reads it and ``parse_config`` validates an
already-parsed mapping (the demo builds its config in code). Secrets (the Teams
API key) are resolved here, from the environment or a key file, and never
appear in a message, a log line or a ``repr``.

A ``ConfigError`` lists every problem found, each named by its TOML key as a
dotted path; ``[[worksheet]]`` blocks are counted from 1, as people count
them: ``worksheet[2].endpoint`` is the second block's endpoint.

This module owns the schema (the sections, their keys and what each must
hold); reading one typed value and phrasing its problem is
``sync.config_values``.
"""

from __future__ import annotations

import logging
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

from sync.config_values import Table, key_part, section, show, suggest, zone_problem
from sync.dates import api_date, resolve_date
from sync.errors import ConfigError, Problem
from sync.schedule_spec import parse_at, parse_every

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_BASE_URL",
    "DEFAULT_KEYS",
    "ENDPOINTS",
    "KNOWN_KEYS",
    "MISSING_ROWS_MODES",
    "TEST_INTERVALS_ENV",
    "Config",
    "DataquestConfig",
    "GoogleConfig",
    "ScheduleConfig",
    "SyncConfig",
    "WorkbookConfig",
    "WorksheetConfig",
    "find_config_path",
    "load_config",
    "parse_config",
    "resolve_date",
]

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://app.dataquest.io/api/team-reports/"
DEFAULT_API_URL = "https://sheets.googleapis.com"
ENDPOINTS = ("course_progress", "mission_progress", "invitations_status", "time_spent")
DEFAULT_KEYS: dict[str, tuple[str, ...]] = {
    "course_progress": ("email", "path", "course"),
    "mission_progress": ("email", "path", "course", "mission"),
    "time_spent": ("email",),
    "invitations_status": ("email",),
}
MISSING_ROWS_MODES = ("mark", "keep", "delete_unannotated")
#: When this environment variable is "1", ``every`` may be shorter than a minute.
TEST_INTERVALS_ENV = "DQ_SHEETS_SYNC_ALLOW_SHORT_INTERVALS"
#: The environment variable naming the config file when ``--config`` is absent.
CONFIG_ENV = "DQ_SHEETS_SYNC_CONFIG"
#: Every key the parser accepts, by section (``worksheet`` is each ``[[worksheet]]``).
KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "dataquest": (
        "team_id",
        "team_id_env",
        "api_key_env",
        "api_key_file",
        "base_url",
        "requests_per_minute",
        "timeout_seconds",
    ),
    "google": ("spreadsheet", "credentials_file", "api_url"),
    "workbook": ("path",),
    "schedule": ("every", "at", "timezone"),
    "sync": ("missing_rows", "max_missing_fraction", "status_sheet"),
    "worksheet": ("endpoint", "title", "key", "start_date", "end_date"),
}

MAX_TITLE = 100  # Google Sheets' limit on a sheet title
MAX_EXCEL_TITLE = 31  # Excel's limit; a longer title makes a file Excel cannot open
_EXCEL_FORBIDDEN = set("\\/?*[]:")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
_TEAM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SHEET_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")
_SHEET_URL = re.compile(r"/spreadsheets/d/([A-Za-z0-9_-]+)")
_MAX_KEY_FILE = 64 * 1024


# --- the result -------------------------------------------------------------


@dataclass(frozen=True)
class DataquestConfig:
    team_id: str
    api_key: str = field(repr=False)
    base_url: str = DEFAULT_BASE_URL  # always ends with "/"
    requests_per_minute: int = 10
    timeout_seconds: float = 60.0


@dataclass(frozen=True)
class GoogleConfig:
    spreadsheet_id: str
    #: None: Application Default Credentials.
    credentials_file: Path | None
    api_url: str = DEFAULT_API_URL  # no trailing slash


@dataclass(frozen=True)
class WorkbookConfig:
    path: Path


@dataclass(frozen=True)
class ScheduleConfig:
    every_seconds: int | None = 3600  # None when ``at`` is used
    at: tuple[str, ...] = ()  # "HH:MM", sorted, unique
    timezone: str | None = None  # IANA name; None: local time


@dataclass(frozen=True)
class SyncConfig:
    missing_rows: str = "mark"
    max_missing_fraction: float = 0.5
    status_sheet: str = "Sync status"  # "" disables it


@dataclass(frozen=True)
class WorksheetConfig:
    endpoint: str
    title: str
    key: tuple[str, ...]
    start_date: str | None = None  # the spec as written: "2024-01-01", "today", "-30d"
    end_date: str | None = None

    def date_params(self, today: date) -> dict[str, str]:
        """Query parameters for the Teams API, resolved against ``today`` (DD/MM/YYYY)."""
        params: dict[str, str] = {}
        if self.start_date is not None:
            params["start_date"] = api_date(resolve_date(self.start_date, today))
        if self.end_date is not None:
            params["end_date"] = api_date(resolve_date(self.end_date, today))
        return params


@dataclass(frozen=True)
class Config:
    path: Path | None
    dataquest: DataquestConfig
    google: GoogleConfig | None
    workbook: WorkbookConfig | None
    schedule: ScheduleConfig
    sync: SyncConfig
    worksheets: tuple[WorksheetConfig, ...]
    warnings: tuple[str, ...] = ()


# --- finding and loading ----------------------------------------------------


def find_config_path(cli_path: str | None, env: Mapping[str, str]) -> Path:
    """The config file to use: ``--config``, else ``$DQ_SHEETS_SYNC_CONFIG``,
    else ``./config.toml``. The first one given is the only one tried, so a
    mistyped ``--config`` never silently falls back to another file."""
    from_env = env.get(CONFIG_ENV, "")
    if cli_path:
        path, how = Path(cli_path).expanduser(), "--config"
    elif from_env:
        path, how = Path(from_env).expanduser(), f"${CONFIG_ENV}"
    else:
        path, how = Path("config.toml"), "./config.toml"
    if _is_file(path):
        return path
    tried = [f"--config {cli_path}" if cli_path else "--config (not given)"]
    if not cli_path:
        tried.append(f"${CONFIG_ENV}={from_env}" if from_env else f"${CONFIG_ENV} (not set)")
    if not cli_path and not from_env:
        tried.append(f"./config.toml ({Path(os.path.abspath(path))})")
    state = "is a directory" if path.is_dir() else "does not exist"
    raise ConfigError(
        f"no configuration file: {how} {path} {state}; tried {', '.join(tried)}. "
        "Copy config.example.toml to config.toml, or pass --config PATH."
    )


def load_config(
    path: Path, env: Mapping[str, str] = os.environ, *, today: date | None = None
) -> Config:
    """Read, parse and validate the TOML file at ``path``."""
    source = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror}", source=source) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"line {line}: the file is not UTF-8 text; save it as UTF-8", source=source
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"TOML syntax error: {exc}", source=source) from exc
    except RecursionError:
        raise ConfigError("TOML: values are nested too deeply", source=source) from None
    except ValueError as exc:  # e.g. an integer with thousands of digits
        raise ConfigError(f"TOML: a value cannot be read ({exc})", source=source) from None
    base_dir = Path(os.path.abspath(path)).parent
    config = parse_config(data, env=env, base_dir=base_dir, source=source, today=today)
    return replace(config, path=path)


def parse_config(
    data: Mapping[str, Any],
    *,
    env: Mapping[str, str],
    base_dir: Path,
    source: str = "config.toml",
    today: date | None = None,
) -> Config:
    """Validate an already-parsed config mapping; relative paths resolve against
    ``base_dir``. Raises one ``ConfigError`` listing every problem."""
    problems: list[Problem] = []
    warnings: list[str] = []
    if not isinstance(data, Mapping):
        raise ConfigError(f"the configuration must be a table, got {show(data)}", source=source)
    _unknown(data, "", tuple(KNOWN_KEYS), problems)
    ctx = _Context(env, base_dir, problems, warnings)
    dataquest = _dataquest(_table(data, "dataquest", problems), ctx)
    google_data, workbook_data = data.get("google"), data.get("workbook")
    google = workbook = None
    if google_data is not None and workbook_data is not None:
        problems.append(Problem("workbook", "give only one of [google] and [workbook]"))
    elif google_data is None and workbook_data is None:
        problems.append(
            Problem("google", "missing: add a [google] section, or [workbook] for a local .xlsx")
        )
    if google_data is not None:
        google = _google(_table(data, "google", problems), ctx)
    if workbook_data is not None:
        workbook = _workbook(_table(data, "workbook", problems), ctx)
    schedule = _schedule(_table(data, "schedule", problems), ctx)
    sync = _sync(_table(data, "sync", problems), excel=workbook_data is not None)
    excel = workbook_data is not None
    worksheets = _worksheets(data, ctx, sync.status_sheet, today or date.today(), excel=excel)
    if problems:
        raise ConfigError(problems, source=source)
    log.debug("Configuration %s: %d worksheets", source, len(worksheets))
    return Config(None, dataquest, google, workbook, schedule, sync, worksheets, tuple(warnings))


# --- the sections -------------------------------------------------------------


@dataclass
class _Context:
    env: Mapping[str, str]
    base_dir: Path
    problems: list[Problem]
    warnings: list[str]


def _dataquest(t: Table, ctx: _Context) -> DataquestConfig:
    team_id = _team_id(t, ctx)
    api_key = _api_key(t, ctx)
    base_url = t.url("base_url", DEFAULT_BASE_URL).rstrip("/") + "/"
    rpm = t.integer("requests_per_minute", 10, 1, 10_000)
    timeout = t.number("timeout_seconds", 60.0, 0.0, 3600.0, low_open=True)
    return DataquestConfig(team_id, api_key, base_url, rpm, timeout)


def _team_id(t: Table, ctx: _Context) -> str:
    if t.has("team_id"):
        if t.has("team_id_env"):
            t.problem("team_id_env", "give team_id or team_id_env, not both")
        value = t.data["team_id"]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**30:
            return str(value)
        if isinstance(value, str) and _TEAM_ID.fullmatch(value.strip()):
            return value.strip()
        t.problem("team_id", f'must be a team id like "12345" (letters, digits), got {show(value)}')
        return ""
    name = t.string("team_id_env", "DATAQUEST_TEAM_ID")
    if not _ENV_NAME.fullmatch(name):
        t.problem("team_id_env", f"{show(name)} is not an environment variable name")
        return ""
    value = ctx.env.get(name, "").strip()
    if not value:
        t.problem(
            "team_id_env" if t.has("team_id_env") else "team_id",
            f'missing: set team_id = "12345" in [dataquest] or the environment variable {name}',
        )
    elif not _TEAM_ID.fullmatch(value):
        t.problem("team_id_env", f"${name} holds {show(value)}, which is not a team id")
    return value


def _api_key(t: Table, ctx: _Context) -> str:
    if t.has("api_key_file"):
        if t.has("api_key_env"):
            t.problem("api_key_file", "give api_key_env or api_key_file, not both")
        raw = t.string("api_key_file", required="name the file that holds the Teams API key")
        return _read_key_file(t, raw, ctx) if raw else ""
    name = t.string("api_key_env", "DATAQUEST_API_KEY")
    if not _ENV_NAME.fullmatch(name):
        t.problem("api_key_env", "is not an environment variable name (letters, digits and _)")
        return ""
    shown = f"${_secretish(name)}"
    value = ctx.env.get(name, "").strip()
    if not value:
        state = "is empty" if name in ctx.env else "is not set"
        t.problem(
            "api_key_env",
            f"the environment variable {shown} {state}; put the Teams API key there "
            "(an admin generates it in the team settings) or name a file in api_key_file",
        )
    elif not _key_chars_ok(value):
        t.problem("api_key_env", f"the API key in {shown} has spaces or unusual characters inside")
    return value


def _read_key_file(t: Table, raw: str, ctx: _Context) -> str:
    candidates = _candidates(raw, ctx)
    found = next((p for p in candidates if _is_file(p)), None)
    if found is None:
        tried = " or ".join(_secretish(str(p)) for p in candidates)
        t.problem("api_key_file", f"no such file: {tried}; put the Teams API key in it")
        return ""
    try:
        with found.open("rb") as handle:
            data = handle.read(_MAX_KEY_FILE + 1)
            mode = os.fstat(handle.fileno()).st_mode
    except OSError as exc:
        t.problem("api_key_file", f"cannot read {found}: {exc.strerror}")
        return ""
    if mode & 0o077:
        ctx.warnings.append(f"api_key_file {found} is readable by group/others; chmod 600 it")
    try:
        value = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        value = "\x00"  # reported just below, without showing the content
    if len(data) > _MAX_KEY_FILE:
        t.problem("api_key_file", f"{found} is too big for a key file; it must hold only the key")
    elif not value:
        t.problem("api_key_file", f"{found} is empty; put the Teams API key in it")
    elif not _key_chars_ok(value):
        t.problem("api_key_file", f"{found} must hold only the key (no spaces or line breaks)")
    return value


def _google(t: Table, ctx: _Context) -> GoogleConfig:
    spreadsheet = t.string(
        "spreadsheet", required='give the sheet\'s address, "https://docs.google.com/..."'
    )
    sheet_id = ""
    if spreadsheet:
        match = _SHEET_URL.search(spreadsheet)
        if match:
            sheet_id = match.group(1)
        elif _SHEET_ID.fullmatch(spreadsheet):
            sheet_id = spreadsheet
        else:
            t.problem(
                "spreadsheet",
                f"{show(spreadsheet)} is neither a spreadsheet address "
                '("https://docs.google.com/spreadsheets/d/<id>/edit") nor an id',
            )
    credentials: Path | None = None
    raw = t.string("credentials_file")
    if raw:
        candidates = _candidates(raw, ctx)
        credentials = next((p for p in candidates if _is_file(p)), None)
        if credentials is None:
            tried = " or ".join(str(p) for p in candidates)
            t.problem(
                "credentials_file",
                f"no such file: {tried}; download the service account's JSON key there, "
                "or remove the line to use Application Default Credentials",
            )
    api_url = t.url("api_url", DEFAULT_API_URL).rstrip("/")
    return GoogleConfig(sheet_id, credentials, api_url)


def _workbook(t: Table, ctx: _Context) -> WorkbookConfig:
    raw = t.string("path", required='give the .xlsx file to write, e.g. path = "dataquest.xlsx"')
    path = _resolve(raw, ctx.base_dir) if raw else Path()
    if raw:
        if path.suffix.lower() not in (".xlsx", ".xlsm"):
            t.problem("path", f"{show(raw)} must end in .xlsx (an Excel workbook)")
        elif path.is_dir():
            t.problem("path", f"{path} is a folder; name a .xlsx file inside it")
        elif not path.parent.is_dir():
            t.problem("path", f"the folder {path.parent} does not exist; create it first")
    return WorkbookConfig(path)


def _schedule(t: Table, ctx: _Context) -> ScheduleConfig:
    timezone = t.string("timezone") or None
    if timezone is not None and (problem := zone_problem(timezone)):
        t.problem("timezone", problem)
    if t.has("at"):
        if t.has("every"):
            t.problem("at", "give every or at, not both")
        times = t.string_list("at", (), item_check=parse_at, what="times of day")
        return ScheduleConfig(None, tuple(sorted(set(times))), timezone)
    if timezone is not None:
        ctx.warnings.append("schedule.timezone only matters with schedule.at; it is ignored")
    every = t.string("every", "1h")
    try:
        seconds = parse_every(every, allow_short=ctx.env.get(TEST_INTERVALS_ENV) == "1")
    except ValueError as exc:
        t.problem("every", f"{show(every)}: {exc}")
        seconds = 3600
    return ScheduleConfig(seconds, (), timezone)


def _sync(t: Table, *, excel: bool) -> SyncConfig:
    mode = t.choice("missing_rows", MISSING_ROWS_MODES, "a missing_rows mode", "mark")
    fraction = t.number("max_missing_fraction", 0.5, 0.0, 1.0)
    status = t.string("status_sheet", "Sync status", empty_ok=True, strip=False)
    if status and (problem := _title_problem(status, excel)):
        t.problem("status_sheet", problem)
    return SyncConfig(mode, fraction, status)


def _worksheets(
    data: Mapping[str, Any], ctx: _Context, status: str, today: date, *, excel: bool
) -> tuple[WorksheetConfig, ...]:
    raw = data.get("worksheet")
    example = 'add one: [[worksheet]] endpoint = "course_progress" title = "Course progress"'
    if raw is None or (isinstance(raw, list) and not raw):
        ctx.problems.append(Problem("worksheet", f"no [[worksheet]] blocks; {example}"))
        return ()
    if not isinstance(raw, list):
        hint = "write [[worksheet]] (double brackets) before each block"
        ctx.problems.append(Problem("worksheet", f"must be an array of tables; {hint}"))
        return ()
    result: list[WorksheetConfig] = []
    seen: dict[str, int] = {status.casefold(): 0} if status else {}
    for number, item in enumerate(raw, 1):
        path = f"worksheet[{number}]"
        if not isinstance(item, Mapping):
            ctx.problems.append(Problem(path, f"must be a table, got {show(item)}"))
            continue
        t = _known(Table(item, path, ctx.problems))
        endpoint = t.choice("endpoint", ENDPOINTS, "an endpoint", required="which report?")
        default_title = endpoint.replace("_", " ").capitalize() if endpoint else ""
        title = t.string("title", default_title, strip=False)
        if title and (problem := _title_problem(title, excel)):
            t.problem("title", problem)
        elif title and title.casefold() in seen:
            other = seen[title.casefold()]
            where = "the status sheet's title" if other == 0 else f"the title of worksheet[{other}]"
            t.problem("title", f"{show(title)} is already {where}; titles must differ")
        elif title:
            seen[title.casefold()] = number
        key = t.string_list("key", DEFAULT_KEYS.get(endpoint, ()), what="field names")
        start, end = t.date_spec("start_date", today), t.date_spec("end_date", today)
        if start and end and start[1] > end[1]:
            t.problem(
                "start_date",
                f"{show(start[0])} ({start[1]}) is after end_date {show(end[0])} ({end[1]})",
            )
        spec = (start[0] if start else None), (end[0] if end else None)
        result.append(WorksheetConfig(endpoint, title, key, *spec))
    return tuple(result)


# --- unknown keys and file names ---------------------------------------------


def _table(data: Mapping[str, Any], name: str, problems: list[Problem]) -> Table:
    """The section ``[name]``, its unknown keys reported."""
    return _known(section(data, name, problems))


def _known(t: Table) -> Table:
    """``t``, after reporting every key its section does not have."""
    _unknown(t.data, t.path, KNOWN_KEYS[t.path.split("[")[0]], t.problems)
    return t


def _unknown(
    data: Mapping[Any, Any], path: str, known: tuple[str, ...], problems: list[Problem]
) -> None:
    for name in data:
        if name in known:
            continue
        word = name if isinstance(name, str) else ""
        key = f"{path}.{key_part(name)}" if path else key_part(name)
        home = [s for s, keys in KNOWN_KEYS.items() if word in keys and not path]
        if path == "dataquest" and word.lower().replace("-", "_") in {"api_key", "apikey", "key"}:
            message = (
                "the API key never goes in the config file; put it in the environment "
                "variable named by api_key_env (default DATAQUEST_API_KEY) or in a file "
                "named by api_key_file"
            )
        elif home:
            message = f"this key belongs in [{home[0]}]; move it below that header"
        else:
            where = f"[{path.split('[')[0]}]" if path else "the top level"
            message = f"unknown key{suggest(word, known)} (known in {where}: {', '.join(known)})"
        problems.append(Problem(key, message))


def _title_problem(title: str, excel: bool) -> str | None:
    """Why ``title`` cannot name a worksheet, or None."""
    if not title.strip():
        return "must not be blank"
    if len(title) > MAX_TITLE:
        return f"is {len(title)} characters long; Google Sheets allows at most {MAX_TITLE}"
    if excel and len(title) > MAX_EXCEL_TITLE:
        return f"is {len(title)} characters long; Excel allows at most {MAX_EXCEL_TITLE}"
    if excel and (bad := sorted(_EXCEL_FORBIDDEN & set(title))):
        return f"{show(title)} has characters Excel forbids in sheet names: {' '.join(bad)}"
    if excel and (title.startswith("'") or title.endswith("'")):
        return "must not begin or end with an apostrophe (Excel forbids it)"
    return None


def _candidates(raw: str, ctx: _Context) -> list[Path]:
    """Where a configured file may be: as written (relative to the config's
    folder), then under systemd's ``$CREDENTIALS_DIRECTORY`` for relative names."""
    path = Path(raw).expanduser()
    found = [_resolve(raw, ctx.base_dir)]
    creds = ctx.env.get("CREDENTIALS_DIRECTORY")
    if creds and not path.is_absolute():
        found.append(Path(creds) / path)
    return found


def _resolve(raw: str, base_dir: Path) -> Path:
    path = Path(raw).expanduser()
    return path if path.is_absolute() else base_dir / path


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _key_chars_ok(key: str) -> bool:
    """An API key is printable ASCII without spaces (anything else breaks the header)."""
    return all("!" <= c <= "~" for c in key)


def _secretish(text: str) -> str:
    """``text``, unless it looks like a pasted secret rather than a name or path."""
    token = len(text) >= 20 and not any(c in text for c in "/._") and not text.isupper()
    return "(name not shown: it looks like a key)" if token else text
