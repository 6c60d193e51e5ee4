"""Hostile input: broken configs, odd report values, odd worksheet titles.

- Hypothesis-generated configs (wrong types, unknown keys, odd unicode, huge
  numbers, damaged bytes), each with at least one real defect, through the real
  CLI entry point: always exit 78 and a message, never a traceback.
- Report values a spreadsheet could take for something else (formula
  prefixes), or that push its limits (50,000 characters, control characters,
  right-to-left text, emoji) come back as the same text from Google, and as
  the documented cleaned text from a workbook.
- Worksheet titles with quotes, ``!`` and unicode sync and re-sync.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync import cli
from sync.config import KNOWN_KEYS, parse_config
from sync.engine import CycleResult, Engine
from sync.sheets.google import GoogleBackend
from sync.sheets.workbook import WorkbookBackend
from tests.emulator import Emulator
from tests.harness import StaticSource, tidy

KEY_ENV = "HOSTILE_TEST_DQ_KEY"
EMAIL = "sync@test-project.iam.gserviceaccount.com"

# --- configs ------------------------------------------------------------------------


def toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    raise TypeError(type(value))


def to_toml(data: dict[str, Any]) -> str:
    """TOML text for ``data``: scalars first, then tables, then arrays of tables."""
    lines = [f"{toml_string(k)} = {toml_value(v)}" for k, v in data.items() if not _is_table(v)]
    for name, value in data.items():
        if isinstance(value, dict):
            lines.append(f"\n[{toml_string(name)}]")
            lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in value.items()]
        elif _is_table_list(value):
            for item in value:
                lines.append(f"\n[[{toml_string(name)}]]")
                lines += [f"{toml_string(k)} = {toml_value(v)}" for k, v in item.items()]
    return "\n".join(lines) + "\n"


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _is_table(value: Any) -> bool:
    return isinstance(value, dict) or _is_table_list(value)


def base_config(folder: Path) -> dict[str, Any]:
    """A valid config (checked by ``test_the_base_config_is_valid``)."""
    return {
        "dataquest": {"team_id": "12345", "api_key_env": KEY_ENV},
        "workbook": {"path": str(folder / "hostile.xlsx")},
        "schedule": {"every": "1h"},
        "sync": {"missing_rows": "mark", "max_missing_fraction": 0.5},
        "worksheet": [{"endpoint": "time_spent", "title": "Time spent"}],
    }


ODD_TEXT = st.text(
    st.characters(blacklist_categories=["Cs"]),  # TOML is UTF-8: no lone surrogates
    min_size=1,
    max_size=40,
)
HUGE = st.one_of(
    st.integers(min_value=10**18, max_value=10**40),
    st.integers(max_value=-1, min_value=-(10**40)),
    st.sampled_from([math.inf, -math.inf, math.nan, 1e308, -1e308]),
)
WRONG = st.one_of(
    HUGE,
    st.booleans(),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["a", "é", "🚀"]), st.integers(), min_size=1, max_size=2),
    st.floats(allow_nan=True),
)
SCALAR_KEYS = [
    ("dataquest", "team_id"),
    ("dataquest", "requests_per_minute"),
    ("dataquest", "timeout_seconds"),
    ("dataquest", "base_url"),
    ("workbook", "path"),
    ("schedule", "every"),
    ("sync", "missing_rows"),
    ("sync", "max_missing_fraction"),
    ("sync", "status_sheet"),
]


@st.composite
def defect(draw: st.DrawFn) -> tuple[str, Any]:
    """One change that makes a valid config invalid, as (kind, detail)."""
    kind = draw(
        st.sampled_from(
            [
                "unknown key",
                "wrong type",
                "huge number",
                "odd endpoint",
                "bad title",
                "bad key list",
                "no worksheets",
                "odd schedule",
                "raw damage",
            ]
        )
    )
    if kind == "unknown key":
        section = draw(st.sampled_from(["", "dataquest", "workbook", "schedule", "sync"]))
        name = draw(ODD_TEXT)
        return kind, (section, name, draw(st.one_of(ODD_TEXT, WRONG)))
    if kind == "wrong type":
        section, key = draw(st.sampled_from(SCALAR_KEYS))
        numeric = {"requests_per_minute", "timeout_seconds", "max_missing_fraction"}

        def wrong(v: Any) -> bool:
            # A number for a numeric key may be valid (0.0 is a fine fraction): not a wrong type.
            is_number = isinstance(v, int | float) and not isinstance(v, bool)
            return not ((key == "team_id" and isinstance(v, int)) or (key in numeric and is_number))

        value = draw(WRONG.filter(wrong))
        return kind, (section, key, value)
    if kind == "huge number":
        return kind, draw(st.sampled_from(SCALAR_KEYS[1:3] + [("sync", "max_missing_fraction")]))
    if kind == "raw damage":
        return kind, draw(st.sampled_from(["cut", "bytes", "nul", "brackets", "dup"]))
    return kind, draw(ODD_TEXT)


def damaged(base: dict[str, Any], change: tuple[str, Any], noise: str) -> bytes:
    data = {k: (dict(v) if isinstance(v, dict) else v) for k, v in base.items()}
    data["worksheet"] = [dict(w) for w in base["worksheet"]]
    ws = data["worksheet"][0]
    ws["title"] = f"Time spent {noise}"[:90]  # odd unicode everywhere (valid on its own)
    kind, detail = change
    if kind == "unknown key":
        section, name, value = detail
        known = KNOWN_KEYS.get(section, ()) if section else tuple(KNOWN_KEYS)
        name = name if name not in known and name.strip() else f"x-{name}-unknown"
        (data if not section else data[section])[name] = value
    elif kind == "wrong type":
        section, key, value = detail
        data[section][key] = value
    elif kind == "huge number":
        section, key = detail
        data[section][key] = 10**30
    elif kind == "odd endpoint":
        ws["endpoint"] = f"{detail}-not-an-endpoint"
    elif kind == "bad title":
        ws["title"] = detail * 40 + "[]:*?/\\" if detail.strip() else "   "
    elif kind == "bad key list":
        ws["key"] = [detail, 7]
    elif kind == "no worksheets":
        del data["worksheet"]
    elif kind == "odd schedule":
        data["schedule"]["every"] = f"{detail} fortnights"
    text = to_toml(data).encode("utf-8")
    if kind == "raw damage":
        if detail == "cut":
            text = text[: len(text) // 2] + b'"'
        elif detail == "bytes":
            text = text + b"\n# \xff\xfe not utf-8\n"
        elif detail == "nul":
            text = text.replace(b"12345", b"123\x0045")
        elif detail == "brackets":
            text = b"[[[dataquest]\n" + text
        else:
            text = text + b'\n[dataquest]\nteam_id = "1"\n'
    return text


def test_the_base_config_is_valid(tmp_path: Path) -> None:
    text = to_toml(base_config(tmp_path))
    import tomllib

    parse_config(tomllib.loads(text), env={KEY_ENV: "k" * 20}, base_dir=tmp_path)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(change=defect(), noise=ODD_TEXT)
def test_any_broken_config_exits_78_with_a_message(
    change: tuple[str, Any],
    noise: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(KEY_ENV, "k" * 24)
    path = tmp_path / "hostile.toml"
    path.write_bytes(damaged(base_config(tmp_path), change, noise))
    code = cli.main(["--once", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 78, (change, out, err)
    assert "Configuration problem" in err, (change, err)
    assert "Traceback" not in out + err
    assert not (tmp_path / "hostile.xlsx").exists()


# --- values and titles ----------------------------------------------------------------

HOSTILE_VALUES = [
    "=1+1",
    '=IMPORTXML("https://example.org", "//a")',
    "+49 30 1234567",
    "-5",
    "@SUM(A1:A3)",
    "=",
    "x" * 50_000,
    "tab\there, new\nline, bell\x07, nul-free \x01\x1f end",
    "مرحبا بالعالم \u200fRTL\u200e mixed",
    "שלום עולם",
    "😀 👩\u200d👩\u200d👧 🚀 emoji",
    "\u202eevil\u202c override",
]


def report() -> dict[str, list[dict[str, Any]]]:
    return {
        "time_spent": [
            {"email": f"p{i}@example.org", "note from the API": value, "hours": float(i)}
            for i, value in enumerate(HOSTILE_VALUES)
        ]
    }


def _config(tmp_path: Path, titles: list[str], google: dict[str, str] | None = None) -> Any:
    data: dict[str, Any] = {
        "dataquest": {"team_id": "1", "api_key_env": "K"},
        "worksheet": [{"endpoint": "time_spent", "title": t} for t in titles],
    }
    if google is not None:  # the title rules of Google Sheets, not Excel's
        data["google"] = google
    else:
        data["workbook"] = {"path": str(tmp_path / "hostile.xlsx")}
    return parse_config(data, env={"K": "k" * 20}, base_dir=tmp_path)


def _google_sync(emulator: Emulator, tmp_path: Path, spreadsheet: str, titles: list[str]) -> Any:
    credentials = tmp_path / "sa" / "service-account.json"
    if not credentials.exists():
        credentials = emulator.service_account(tmp_path / "sa", email=EMAIL)
    be = GoogleBackend(spreadsheet, credentials, api_url=emulator.url)
    google = {"spreadsheet": spreadsheet, "credentials_file": str(credentials)}
    try:
        config = _config(tmp_path, titles, google)
        return Engine(config, be, StaticSource(report())).run_cycle()
    finally:
        be.close()


def _column(rows: list[list[Any]], name: str) -> list[Any]:
    col = rows[0].index(name)
    return [r[col] if col < len(r) else None for r in rows[1:]]


def test_hostile_values_round_trip_as_text_in_google(emulator: Emulator, tmp_path: Path) -> None:
    spreadsheet = emulator.create_spreadsheet("Hostile", shared_with=[EMAIL])
    first = _google_sync(emulator, tmp_path, spreadsheet, ["Time spent"])
    assert first.exit_code == 0, first.results
    writes = [r for r in emulator.log if r.kind == "values.batchUpdate"]
    assert writes and all(r.value_input_option == "RAW" for r in writes)
    rows = emulator.person(spreadsheet).values("Time spent")
    assert _column(rows, "note from the API") == HOSTILE_VALUES
    emulator.clear_log()
    second = _google_sync(emulator, tmp_path, spreadsheet, ["Time spent"])
    assert second.exit_code == 0
    assert second.results[0].counts.updated_cells == 0  # read back equal: nothing to write
    written = [g for r in emulator.log if r.kind == "values.batchUpdate" for g in r.ranges]
    assert not [g for g in written if "Time spent" in g]


def _workbook_sync(tmp_path: Path, titles: list[str]) -> CycleResult:
    be = WorkbookBackend(tmp_path / "hostile.xlsx", timezone="UTC")
    try:
        config = _config(tmp_path, titles)
        return Engine(config, be, StaticSource(report())).run_cycle()
    finally:
        be.close()


def _excel_text(value: str) -> str:
    """What the workbook backend documents: XML control characters removed
    (tab and newline stay), at most 32,767 characters."""
    cleaned = "".join(c for c in value if c in "\t\n\r" or not (ord(c) < 0x20))
    return cleaned[:32_767]


def test_hostile_values_are_text_in_the_workbook(tmp_path: Path) -> None:
    result = _workbook_sync(tmp_path, ["Time spent"])
    assert result.exit_code == 0, result.results
    wb = openpyxl.load_workbook(tmp_path / "hostile.xlsx")
    ws = wb["Time spent"]
    header = [c.value for c in ws[1]]
    col = header.index("note from the API") + 1
    cells = [ws.cell(r, col) for r in range(2, 2 + len(HOSTILE_VALUES))]
    assert [c.value for c in cells] == [_excel_text(v) for v in HOSTILE_VALUES]
    assert all(c.data_type == "s" for c in cells)  # text, never a formula


def test_a_second_workbook_sync_of_cleaned_values_writes_nothing(tmp_path: Path) -> None:
    assert _workbook_sync(tmp_path, ["Time spent"]).exit_code == 0
    second = _workbook_sync(tmp_path, ["Time spent"])
    assert second.results[0].counts.updated_cells == 0


GOOGLE_TITLES = ['Jon\'s "data"!', "'quoted'", "A!B!C", "données ✓ 数据 🚀", "مرحبا"]
EXCEL_TITLES = ["Jon's data!", "A!B", "données ✓ 数据", "עברית"]


def test_odd_titles_work_with_google(emulator: Emulator, tmp_path: Path) -> None:
    spreadsheet = emulator.create_spreadsheet("Titles", shared_with=[EMAIL])
    first = _google_sync(emulator, tmp_path, spreadsheet, GOOGLE_TITLES)
    assert first.exit_code == 0, first.results
    person = emulator.person(spreadsheet)
    for title in GOOGLE_TITLES:
        assert _column(person.values(title), "email")[:2] == ["p0@example.org", "p1@example.org"]
    second = _google_sync(emulator, tmp_path, spreadsheet, GOOGLE_TITLES)
    assert second.exit_code == 0
    assert all(r.outcome == "unchanged" for r in second.results), second.results


def test_excel_legal_odd_titles_work_with_the_workbook(tmp_path: Path) -> None:
    first = _workbook_sync(tmp_path, EXCEL_TITLES)
    assert first.exit_code == 0, first.results
    wb = openpyxl.load_workbook(tmp_path / "hostile.xlsx")
    for title in EXCEL_TITLES:
        rows = tidy([[c.value for c in r] for r in wb[title].iter_rows()])
        assert rows[1][rows[0].index("email")] == "p0@example.org"
    assert _workbook_sync(tmp_path, EXCEL_TITLES).exit_code == 0
