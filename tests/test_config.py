"""Configuration loading: what a user sees for a good file, and for each mistake.

Every malformed config must raise one ``ConfigError`` (exit code 78) with a
problem naming the TOML key at fault; the API key never appears in a message.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync.config import (
    DEFAULT_BASE_URL,
    DEFAULT_KEYS,
    KNOWN_KEYS,
    TEST_INTERVALS_ENV,
    Config,
    find_config_path,
    load_config,
    parse_config,
    resolve_date,
)
from sync.errors import EX_CONFIG, ConfigError

ROOT = Path(__file__).resolve().parent.parent
SECRET = "sk-Do-Not-Leak-1234567890"
ENV = {"DATAQUEST_API_KEY": SECRET}
TODAY = date(2024, 3, 15)

DQ = '[dataquest]\nteam_id = "12345"\n'
SINK = '[workbook]\npath = "out.xlsx"\n'
WS = '[[worksheet]]\nendpoint = "course_progress"\ntitle = "Courses"\n'


def toml(dq: str = DQ, sink: str = SINK, schedule: str = "", sync: str = "", ws: str = WS) -> str:
    return "\n".join(part for part in (dq, sink, schedule, sync, ws) if part)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> Config:
    return load_config(write(tmp_path, text), ENV if env is None else env, today=TODAY)


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, env)
    assert info.value.exit_code == EX_CONFIG
    assert SECRET not in str(info.value)
    return info.value


# --- the good paths ---------------------------------------------------------


def test_example_config_loads(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.toml", tmp_path / "config.toml")
    (tmp_path / "service-account.json").write_text("{}")
    config = load_config(tmp_path / "config.toml", ENV, today=TODAY)
    assert config.path == tmp_path / "config.toml"
    assert config.dataquest.team_id == "12345"
    assert config.dataquest.api_key == SECRET
    assert config.dataquest.base_url == DEFAULT_BASE_URL
    assert config.google is not None and config.workbook is None
    assert config.google.spreadsheet_id == "1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"
    assert config.google.credentials_file == tmp_path / "service-account.json"
    assert config.schedule.every_seconds == 3600
    assert [w.endpoint for w in config.worksheets] == ["course_progress", "time_spent"]
    assert config.worksheets[1].date_params(TODAY) == {
        "start_date": "14/02/2024",
        "end_date": "15/03/2024",
    }


def _example_sections() -> dict[str, str]:
    """The example's text by section (commented-out headers such as `# [workbook]` count)."""
    sections: dict[str, str] = {}
    current = ""
    for line in (ROOT / "config.example.toml").read_text().splitlines():
        header = re.match(r"\s*#?\s*\[\[?(\w+)\]\]?\s*(#.*)?$", line)
        if header:
            current = header.group(1)
        sections[current] = sections.get(current, "") + line + "\n"
    return sections


@pytest.mark.parametrize(
    ("section", "key"), [(s, k) for s, keys in KNOWN_KEYS.items() for k in keys]
)
def test_every_key_is_explained_in_the_example(section: str, key: str) -> None:
    text = _example_sections().get(section, "")
    assert re.search(rf"^\s*#?\s*{key}\s*=", text, re.M), f"[{section}] {key} missing"


def test_every_key_is_in_the_readme() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text() if readme.exists() else ""
    if "## Configuration" not in text:
        pytest.skip("README.md has no '## Configuration' section yet")
    reference = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    missing = [
        f"{section}.{key}"
        for section, keys in KNOWN_KEYS.items()
        for key in keys
        if not re.search(rf"\b{key}\b", reference)
    ]
    assert not missing, f"README.md's configuration reference lacks {missing}"


def test_defaults_of_a_minimal_config(tmp_path: Path) -> None:
    config = load(tmp_path, toml())
    assert config.dataquest.requests_per_minute == 10
    assert config.dataquest.timeout_seconds == 60.0
    assert config.workbook is not None and config.workbook.path == tmp_path / "out.xlsx"
    assert (config.schedule.every_seconds, config.schedule.at) == (3600, ())
    assert config.sync.missing_rows == "mark"
    assert config.sync.max_missing_fraction == 0.5
    assert config.sync.status_sheet == "Sync status"
    assert config.worksheets[0].key == DEFAULT_KEYS["course_progress"]
    assert config.worksheets[0].date_params(TODAY) == {}
    assert config.warnings == ()


def test_values_are_normalised(tmp_path: Path) -> None:
    text = toml(
        dq='[dataquest]\nteam_id = 987\nbase_url = "http://127.0.0.1:8000/api"\n'
        "timeout_seconds = 5",
        sink='[google]\nspreadsheet = "abc_DEF-123"\napi_url = "http://127.0.0.1:9/"\n',
        schedule='[schedule]\nat = ["13:00", "7:05", "07:05"]\ntimezone = "Europe/Berlin"',
        ws='[[worksheet]]\nendpoint = "time_spent"\nstart_date = 2024-01-01\n'
        'end_date = "-1d"\n[[worksheet]]\nendpoint = "mission_progress"\n',
    )
    config = load(tmp_path, text)
    assert config.dataquest.team_id == "987"
    assert config.dataquest.base_url == "http://127.0.0.1:8000/api/"
    assert config.google is not None
    assert config.google.spreadsheet_id == "abc_DEF-123"
    assert config.google.credentials_file is None
    assert config.google.api_url == "http://127.0.0.1:9"
    assert config.schedule == type(config.schedule)(None, ("07:05", "13:00"), "Europe/Berlin")
    first, second = config.worksheets
    assert first.title == "Time spent" and second.title == "Mission progress"
    assert first.start_date == "2024-01-01"
    assert first.date_params(TODAY) == {"start_date": "01/01/2024", "end_date": "14/03/2024"}
    assert second.key == ("email", "path", "course", "mission")


def test_team_id_and_key_from_the_environment(tmp_path: Path) -> None:
    env = {"DQ_TEAM": "42", "MY_KEY": f"  {SECRET}\n"}
    dq = '[dataquest]\nteam_id_env = "DQ_TEAM"\napi_key_env = "MY_KEY"\n'
    config = load(tmp_path, toml(dq=dq), env)
    assert config.dataquest.team_id == "42"
    assert config.dataquest.api_key == SECRET
    assert SECRET not in repr(config)


def test_short_intervals_only_for_tests(tmp_path: Path) -> None:
    text = toml(schedule='[schedule]\nevery = "2s"')
    assert "too short" in str(problems(tmp_path, text))
    config = load(tmp_path, text, {**ENV, TEST_INTERVALS_ENV: "1"})
    assert config.schedule.every_seconds == 2


# --- secrets -------------------------------------------------------------------


def test_key_file_relative_to_the_config_and_permission_warning(tmp_path: Path) -> None:
    (tmp_path / "api-key").write_text(SECRET + "\n")
    os.chmod(tmp_path / "api-key", 0o644)
    dq = DQ + 'api_key_file = "api-key"\n'
    config = load(tmp_path, toml(dq=dq), {})
    assert config.dataquest.api_key == SECRET
    assert len(config.warnings) == 1 and "chmod 600" in config.warnings[0]
    os.chmod(tmp_path / "api-key", 0o600)
    assert load(tmp_path, toml(dq=dq), {}).warnings == ()


def test_key_file_found_in_systemd_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "api-key").write_text(SECRET)
    os.chmod(creds / "api-key", 0o400)
    dq = DQ + 'api_key_file = "api-key"\n'
    config = load(tmp_path, toml(dq=dq), {"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.dataquest.api_key == SECRET
    assert config.warnings == ()


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("  \n", "is empty"), (f"{SECRET}\nsecond line", "only the key"), (b"\xff\xfe", "only")],
)
def test_bad_key_file_is_named_but_never_shown(
    tmp_path: Path, content: str | bytes, fragment: str
) -> None:
    key_file = tmp_path / "api-key"
    if isinstance(content, bytes):
        key_file.write_bytes(content)
    else:
        key_file.write_text(content)
    error = problems(tmp_path, toml(dq=DQ + f'api_key_file = "{key_file}"\n'), {})
    [problem] = error.problems
    assert problem.key == "dataquest.api_key_file"
    assert fragment in problem.message and str(key_file) in problem.message


def test_key_pasted_into_api_key_env_is_not_echoed(tmp_path: Path) -> None:
    dq = DQ + f'api_key_env = "{SECRET.replace("-", "")}"\n'
    error = problems(tmp_path, toml(dq=dq), {})
    assert SECRET.replace("-", "") not in str(error)
    assert error.problems[0].key == "dataquest.api_key_env"


def test_key_with_inner_space_in_env_is_refused_silently(tmp_path: Path) -> None:
    error = problems(tmp_path, toml(), {"DATAQUEST_API_KEY": "abc def"})
    assert "abc def" not in str(error)
    assert error.problems[0].key == "dataquest.api_key_env"


# --- malformed configs: each names its key -----------------------------------

NO_ENV: dict[str, str] = {}
CASES: list[tuple[str, str, str, str, dict[str, str] | None]] = [
    # (id, toml text, expected key, expected message fragment, env or None for ENV)
    ("syntax", toml(dq='[dataquest]\nteam_id = "12345\n'), "", "line 2", None),
    ("unknown-section", toml() + "\n[dataqest]\n", "dataqest", 'did you mean "dataquest"', None),
    ("unknown-key", toml(dq=DQ + "tem_id = 1\n"), "dataquest.tem_id", '"team_id"', None),
    ("api-key-inline", toml(dq=DQ + 'api_key = "x"\n'), "dataquest.api_key", "never", None),
    ("key-at-top", "team_id = 1\n" + toml(), "team_id", "belongs in [dataquest]", None),
    ("section-array", toml(dq='[[dataquest]]\nteam_id = "1"\n'), "dataquest", "table", None),
    ("team-id-bool", toml(dq="[dataquest]\nteam_id = true\n"), "dataquest.team_id", "true", None),
    ("team-id-space", toml(dq='[dataquest]\nteam_id = "1 2"\n'), "dataquest.team_id", "", None),
    ("team-id-unset", toml(dq=""), "dataquest.team_id", "DATAQUEST_TEAM_ID", None),
    (
        "team-id-both",
        toml(dq=DQ + 'team_id_env = "X"\n'),
        "dataquest.team_id_env",
        "not both",
        None,
    ),
    ("api-key-unset", toml(), "dataquest.api_key_env", "DATAQUEST_API_KEY is not set", NO_ENV),
    ("api-key-empty", toml(), "dataquest.api_key_env", "is empty", {"DATAQUEST_API_KEY": " "}),
    ("api-env-name", toml(dq=DQ + 'api_key_env = "1X"\n'), "dataquest.api_key_env", "", None),
    (
        "api-both",
        toml(dq=DQ + 'api_key_env = "A"\napi_key_file = "k"\n'),
        "dataquest.api_key_file",
        "not both",
        None,
    ),
    ("api-file-none", toml(dq=DQ + 'api_key_file = "nope"\n'), "dataquest.api_key_file", "", None),
    ("base-url-ftp", toml(dq=DQ + 'base_url = "ftp://x/"\n'), "dataquest.base_url", "http", None),
    ("base-url-int", toml(dq=DQ + "base_url = 5\n"), "dataquest.base_url", "string", None),
    (
        "rpm-string",
        toml(dq=DQ + 'requests_per_minute = "10"\n'),
        "dataquest.requests_per_minute",
        "whole number",
        None,
    ),
    (
        "rpm-bool",
        toml(dq=DQ + "requests_per_minute = true\n"),
        "dataquest.requests_per_minute",
        "got true",
        None,
    ),
    (
        "rpm-zero",
        toml(dq=DQ + "requests_per_minute = 0\n"),
        "dataquest.requests_per_minute",
        "out of range",
        None,
    ),
    (
        "rpm-huge",
        toml(dq=DQ + "requests_per_minute = 99999999999999999999999999\n"),
        "dataquest.requests_per_minute",
        "huge",
        None,
    ),
    ("timeout-nan", toml(dq=DQ + "timeout_seconds = nan\n"), "dataquest.timeout_seconds", "", None),
    ("timeout-neg", toml(dq=DQ + "timeout_seconds = -1\n"), "dataquest.timeout_seconds", "", None),
    ("both-sinks", toml(sink=SINK + '[google]\nspreadsheet = "a"\n'), "workbook", "only one", None),
    ("no-sink", toml(sink=""), "google", "[workbook]", None),
    (
        "sheet-url",
        toml(sink='[google]\nspreadsheet = "https://example.com/x"\n'),
        "google.spreadsheet",
        "docs.google.com",
        None,
    ),
    ("sheet-missing", toml(sink="[google]\n"), "google.spreadsheet", "missing", None),
    (
        "google-creds",
        toml(sink='[google]\nspreadsheet = "a"\ncredentials_file = "sa.json"\n'),
        "google.credentials_file",
        "sa.json",
        None,
    ),
    (
        "api-url",
        toml(sink='[google]\nspreadsheet = "a"\napi_url = "localhost"\n'),
        "google.api_url",
        "",
        None,
    ),
    ("xlsx-suffix", toml(sink='[workbook]\npath = "out.csv"\n'), "workbook.path", ".xlsx", None),
    ("xlsx-folder", toml(sink='[workbook]\npath = "no/x.xlsx"\n'), "workbook.path", "folder", None),
    ("every-bare", toml(schedule='[schedule]\nevery = "5"'), "schedule.every", "15m", None),
    ("every-int", toml(schedule="[schedule]\nevery = 3600"), "schedule.every", "string", None),
    ("every-short", toml(schedule='[schedule]\nevery = "30s"'), "schedule.every", "short", None),
    ("every-long", toml(schedule='[schedule]\nevery = "999999d"'), "schedule.every", "long", None),
    (
        "every-and-at",
        toml(schedule='[schedule]\nevery = "1h"\nat = ["07:00"]'),
        "schedule.at",
        "not both",
        None,
    ),
    ("at-hour", toml(schedule='[schedule]\nat = ["25:00"]'), "schedule.at[1]", "time", None),
    ("at-string", toml(schedule='[schedule]\nat = "07:00"'), "schedule.at", "list", None),
    ("at-empty", toml(schedule="[schedule]\nat = []"), "schedule.at", "non-empty", None),
    (
        "timezone",
        toml(schedule='[schedule]\nat = ["07:00"]\ntimezone = "Europe/Berln"'),
        "schedule.timezone",
        'did you mean "Europe/Berlin"',
        None,
    ),
    (
        "missing-rows",
        toml(sync='[sync]\nmissing_rows = "delete"'),
        "sync.missing_rows",
        'did you mean "delete_unannotated"',
        None,
    ),
    (
        "fraction",
        toml(sync="[sync]\nmax_missing_fraction = 1.5"),
        "sync.max_missing_fraction",
        "",
        None,
    ),
    ("status-int", toml(sync="[sync]\nstatus_sheet = 5"), "sync.status_sheet", "string", None),
    ("no-worksheet", toml(ws=""), "worksheet", "[[worksheet]]", None),
    (
        "worksheet-table",
        toml(ws='[worksheet]\nendpoint = "time_spent"'),
        "worksheet",
        "double",
        None,
    ),
    (
        "endpoint-typo",
        toml(ws='[[worksheet]]\nendpoint = "course_progres"'),
        "worksheet[1].endpoint",
        '"course_progres" is not an endpoint; did you mean "course_progress"? (one of '
        "course_progress, mission_progress, invitations_status, time_spent)",
        None,
    ),
    ("endpoint-none", toml(ws='[[worksheet]]\ntitle = "x"'), "worksheet[1].endpoint", "", None),
    (
        "endpoint-second",
        toml(ws=WS + '[[worksheet]]\nendpoint = "time"'),
        "worksheet[2].endpoint",
        "",
        None,
    ),
    (
        "title-duplicate",
        toml(ws=WS + '[[worksheet]]\nendpoint = "time_spent"\ntitle = "COURSES"'),
        "worksheet[2].title",
        "worksheet[1]",
        None,
    ),
    (
        "title-status",
        toml(ws='[[worksheet]]\nendpoint = "time_spent"\ntitle = "sync status"'),
        "worksheet[1].title",
        "status sheet",
        None,
    ),
    (
        "title-long",
        toml(sink='[google]\nspreadsheet = "a"\n', ws=WS.replace("Courses", "x" * 101)),
        "worksheet[1].title",
        "at most 100",
        None,
    ),
    (
        "title-excel",
        toml(ws='[[worksheet]]\nendpoint = "time_spent"\ntitle = "a:b"'),
        "worksheet[1].title",
        "Excel",
        None,
    ),
    ("title-tab", toml(ws=WS.replace("Courses", "a\\tb")), "worksheet[1].title", "control", None),
    ("title-blank", toml(ws=WS.replace('"Courses"', '"  "')), "worksheet[1].title", "empty", None),
    ("key-empty", toml(ws=WS + "key = []"), "worksheet[1].key", "non-empty", None),
    ("key-string", toml(ws=WS + 'key = "email"'), "worksheet[1].key", "list", None),
    ("key-item", toml(ws=WS + 'key = ["email", ""]'), "worksheet[1].key[2]", "", None),
    ("key-twice", toml(ws=WS + 'key = ["email", "email"]'), "worksheet[1].key[2]", "twice", None),
    ("date-word", toml(ws=WS + 'start_date = "yesterday"'), "worksheet[1].start_date", "-Nd", None),
    ("date-feb30", toml(ws=WS + 'end_date = "2024-02-30"'), "worksheet[1].end_date", "real", None),
    (
        "date-order",
        toml(ws=WS + 'start_date = "2024-03-01"\nend_date = "2024-02-01"'),
        "worksheet[1].start_date",
        "after end_date",
        None,
    ),
    (
        "date-time",
        toml(ws=WS + "start_date = 2024-01-01T10:00:00"),
        "worksheet[1].start_date",
        "date-time",
        None,
    ),
    ("ws-typo", toml(ws=WS + 'titel = "x"'), "worksheet[1].titel", 'did you mean "title"', None),
    ("odd-unicode-key", toml(dq=DQ + '"t\u200bam" = 1\n'), 'dataquest."t\\u200bam"', "", None),
]


@pytest.mark.parametrize(
    ("text", "key", "fragment", "env"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_malformed_config_names_the_key(
    tmp_path: Path, text: str, key: str, fragment: str, env: dict[str, str] | None
) -> None:
    error = problems(tmp_path, text, env)
    assert str(tmp_path / "config.toml") in str(error)
    matching = [p for p in error.problems if p.key == key]
    assert matching, f"no problem for {key!r} in {error.problems}"
    assert any(fragment in p.message for p in matching), matching


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = toml(
        dq=DQ + "requests_per_minute = 0\n",
        schedule='[schedule]\nevery = "soon"',
        ws=WS + '[[worksheet]]\nendpoint = "nope"',
    )
    error = problems(tmp_path, text, NO_ENV)
    keys = {p.key for p in error.problems}
    expected = {"dataquest.requests_per_minute", "dataquest.api_key_env", "schedule.every"}
    assert keys == expected | {"worksheet[2].endpoint"}
    assert "4 problems" in str(error)


def test_file_level_failures(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml", ENV)
    (tmp_path / "latin1.toml").write_bytes(b'[dataquest]\nteam_id = "caf\xe9"\n')
    with pytest.raises(ConfigError, match="line 2.*UTF-8"):
        load_config(tmp_path / "latin1.toml", ENV)
    (tmp_path / "big.toml").write_text("x = " + "9" * 5000)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "big.toml", ENV)
    (tmp_path / "deep.toml").write_text("x = " + "[" * 3000 + "]" * 3000)
    with pytest.raises(ConfigError):
        load_config(tmp_path / "deep.toml", ENV)


def test_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + toml().encode())
    assert load_config(path, ENV, today=TODAY).dataquest.team_id == "12345"


# --- finding the file ----------------------------------------------------------


def test_find_config_path_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    a.write_text("")
    b.write_text("")
    env = {"DQ_SHEETS_SYNC_CONFIG": str(b)}
    assert find_config_path(str(a), env) == a
    assert find_config_path(None, env) == b
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.toml").write_text("")
    assert find_config_path(None, {}) == Path("config.toml")


def test_missing_config_names_every_path_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as info:
        find_config_path(None, {})
    message = str(info.value)
    assert "--config (not given)" in message and "DQ_SHEETS_SYNC_CONFIG (not set)" in message
    assert str(tmp_path / "config.toml") in message
    # a mistyped --config never falls back to ./config.toml
    (tmp_path / "config.toml").write_text("")
    with pytest.raises(ConfigError, match="typo.toml"):
        find_config_path("typo.toml", {})
    with pytest.raises(ConfigError, match="elsewhere.toml"):
        find_config_path(None, {"DQ_SHEETS_SYNC_CONFIG": "elsewhere.toml"})


# --- dates ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("2024-01-31", date(2024, 1, 31)),
        ("today", TODAY),
        ("Today", TODAY),
        ("-0d", TODAY),
        ("-30d", date(2024, 2, 14)),
        ("-366d", date(2023, 3, 15)),
    ],
)
def test_resolve_date(spec: str, expected: date) -> None:
    assert resolve_date(spec, TODAY) == expected


@pytest.mark.parametrize(
    "spec", ["", "yesterday", "30d", "+3d", "2024-1-1", "20240101", "-99999999d"]
)
def test_resolve_date_refuses(spec: str) -> None:
    with pytest.raises(ValueError):
        resolve_date(spec, TODAY)


# --- never any other exception -------------------------------------------------

_leaves = (
    st.text(max_size=30)
    | st.integers()
    | st.floats()
    | st.booleans()
    | st.dates()
    | st.datetimes()
    | st.times()
    | st.none()
)
_junk = st.recursive(
    _leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_names = st.sampled_from([k for keys in KNOWN_KEYS.values() for k in keys]) | st.text(max_size=12)


def _valid(folder: Path) -> dict[str, Any]:
    return {
        "dataquest": {"team_id": "1"},
        "workbook": {"path": str(folder / "x.xlsx")},
        "schedule": {"every": "1h"},
        "sync": {},
        "worksheet": [{"endpoint": "time_spent"}, {"endpoint": "course_progress"}],
    }


def _parse(data: Any, folder: Path) -> None:
    try:
        config = parse_config(data, env=ENV, base_dir=folder, today=TODAY)
    except ConfigError as error:
        assert error.problems and SECRET not in str(error)
        assert all(isinstance(p.key, str) and p.message for p in error.problems)
        # printable on a terminal: no control characters, no lone surrogates
        assert not [c for c in str(error) if unicodedata.category(c) in ("Cc", "Cs") and c != "\n"]
    else:
        assert isinstance(config, Config)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hypothesis")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.dictionaries(st.sampled_from([*KNOWN_KEYS, "x"]) | st.text(max_size=8), _junk))
def test_random_documents_never_crash(folder: Path, data: dict[str, Any]) -> None:
    _parse(data, folder)


@settings(max_examples=300, deadline=None)
@given(
    section=st.sampled_from([*KNOWN_KEYS]),
    name=_names,
    value=_junk,
    index=st.integers(0, 1),
)
def test_one_bad_value_in_a_good_config_never_crashes(
    folder: Path, section: str, name: str, value: Any, index: int
) -> None:
    data = _valid(folder)
    target = data["worksheet"][index] if section == "worksheet" else data.setdefault(section, {})
    target[name] = value
    _parse(data, folder)


def test_valid_base_of_the_property_tests_is_valid(folder: Path) -> None:
    config = parse_config(_valid(folder), env=ENV, base_dir=folder, today=TODAY)
    assert config.workbook is not None and len(config.worksheets) == 2
