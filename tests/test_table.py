"""Records to Table: column order, flattening, cell typing, keys, duplicates."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.errors import BadResponse
from sync.model import normalise_key
from sync.table import (
    MAX_CELL_CHARS,
    build_table,
    from_serial,
    parse_timestamp,
    to_serial,
)

KEY = ["email", "path", "course"]


def rec(email: str = "a@b.c", **fields: object) -> dict[str, object]:
    return {"email": email, "path": "Data Analyst", "course": "Python Basics", **fields}


def test_columns_in_order_of_first_appearance_across_records() -> None:
    table = build_table(
        "course_progress",
        [rec("a@b.c", step=1), rec("b@b.c", last_login=None, step=2), rec("c@b.c", extra="x")],
        KEY,
    )
    assert table.columns == ("email", "path", "course", "step", "last_login", "extra")
    # a field absent from a record is an empty cell
    assert table.rows[0][table.columns.index("extra")] is None


def test_nested_objects_are_dotted_and_lists_are_compact_json() -> None:
    table = build_table(
        "x", [rec(stats={"hours": 2.5, "by": {"week": 1}}, tags=["a", "b"], empty=[])], KEY
    )
    row = dict(zip(table.columns, table.rows[0], strict=True))
    assert row["stats.hours"] == 2.5
    assert row["stats.by.week"] == 1
    assert row["tags"] == '["a","b"]'
    assert row["empty"] == "[]"


def test_cell_types_numbers_booleans_text_null() -> None:
    table = build_table(
        "x",
        [rec(step=1, pct=40.5, has_license=True, active=False, course_id="N/A", done=None)],
        KEY,
    )
    row = dict(zip(table.columns, table.rows[0], strict=True))
    assert row["step"] == 1 and type(row["step"]) is int
    assert row["pct"] == 40.5
    assert row["has_license"] is True and row["active"] is False
    assert row["course_id"] == "N/A"
    assert row["done"] is None
    assert table.warnings == ()


def test_formula_like_text_stays_text() -> None:
    table = build_table("x", [rec(name='=IMPORTXML("http://x", "//a")')], KEY)
    assert table.rows[0][-1] == '=IMPORTXML("http://x", "//a")'


def test_nan_and_infinity_become_empty_with_a_warning() -> None:
    table = build_table("x", [rec(a=math.nan, b=math.inf, c=1.0)], KEY)
    assert table.rows[0][3:] == (None, None, 1.0)
    assert any("NaN" in w and "a, b" in w for w in table.warnings)


def test_long_text_is_cut_to_the_cell_limit_with_a_warning() -> None:
    table = build_table("x", [rec(bio="y" * (MAX_CELL_CHARS + 10))], KEY)
    assert len(table.rows[0][-1]) == MAX_CELL_CHARS  # type: ignore[arg-type]
    assert any("bio" in w for w in table.warnings)


def test_timestamps_become_serials_in_the_sheet_time_zone() -> None:
    records = [rec(last_login="2022-02-16T12:16:09.692Z", started="2022-02-16T12:00:00Z")]
    utc = build_table("x", records, KEY)
    berlin = build_table("x", records, KEY, timezone="Europe/Berlin")
    assert utc.datetime_columns == {"last_login", "started"}
    assert utc.rows[0][-1] == 44608.5
    assert berlin.rows[0][-1] == pytest.approx(44608.5 + 1 / 24)
    assert from_serial(utc.rows[0][-2]) == datetime(2022, 2, 16, 12, 16, 9, 692000)  # type: ignore[arg-type]


def test_date_only_and_na_stay_text_in_a_timestamp_column() -> None:
    table = build_table(
        "x", [rec("a", when="2022-02-16T12:00:00Z"), rec("b", when="N/A"), rec("c", when=None)], KEY
    )
    assert [r[-1] for r in table.rows] == [44608.5, "N/A", None]
    assert build_table("x", [rec(day="2022-02-16")], KEY).rows[0][-1] == "2022-02-16"


def test_unknown_time_zone_falls_back_to_utc_with_a_warning() -> None:
    table = build_table("x", [rec(t="2022-02-16T12:00:00Z")], KEY, timezone="Mars/Olympus")
    assert table.rows[0][-1] == 44608.5
    assert any("Mars/Olympus" in w for w in table.warnings)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2022-02-16T12:16:09.692Z", datetime(2022, 2, 16, 12, 16, 9, 692000, tzinfo=UTC)),
        ("2022-02-16T12:16:09Z", datetime(2022, 2, 16, 12, 16, 9, tzinfo=UTC)),
        ("2022-02-16T12:16:09", datetime(2022, 2, 16, 12, 16, 9, tzinfo=UTC)),
        ("2022-02-16 12:16", datetime(2022, 2, 16, 12, 16, tzinfo=UTC)),
        (
            "2022-02-16T12:16:09.123456789+05:30",
            datetime(2022, 2, 16, 12, 16, 9, 123456, tzinfo=timezone(timedelta(hours=5.5))),
        ),
        ("2022-02-16T12:16:09-0800", datetime(2022, 2, 16, 20, 16, 9, tzinfo=UTC)),
    ],
)
def test_parse_timestamp_accepts_iso_forms(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


@pytest.mark.parametrize(
    "text",
    ["2022-02-16", "N/A", "", "2022-02-30T12:00:00Z", "2022-02-16T25:00:00Z", "12:00", "x" * 30],
)
def test_parse_timestamp_rejects_non_timestamps(text: str) -> None:
    assert parse_timestamp(text) is None


def test_to_serial_known_values() -> None:
    assert to_serial(datetime(1899, 12, 30)) == 0
    assert to_serial(datetime(1900, 3, 1)) == 61
    assert to_serial(datetime(2022, 2, 16, 6)) == 44608.25
    aware = datetime(2022, 2, 16, 12, tzinfo=UTC)
    assert to_serial(aware, "America/New_York") == 44608 + 7 / 24


@given(st.datetimes(min_value=datetime(1900, 3, 1), max_value=datetime(2200, 1, 1)))
def test_serial_round_trips_to_the_microsecond(ts: datetime) -> None:
    assert abs(from_serial(to_serial(ts)) - ts) <= timedelta(microseconds=10)


def test_keys_are_normalised_text() -> None:
    table = build_table("x", [{"email": " a@b.c ", "id": 12.0}], ["email", "id"])
    assert table.keys == (("a@b.c", "12"),)
    assert table.keys[0] == normalise_key([" a@b.c", 12])


def test_missing_key_field_names_it_and_lists_the_fields_that_arrived() -> None:
    with pytest.raises(BadResponse) as info:
        build_table("course_progress", [{"email": "a", "step": 1}], KEY)
    assert "'path'" in str(info.value)
    assert "email, step" in str(info.value)


@pytest.mark.parametrize("records", [[1, 2], ["a"], [None], {"course_progress": []}, "text"])
def test_records_that_are_not_objects_are_a_bad_response(records: object) -> None:
    with pytest.raises(BadResponse):
        build_table("x", records, ["email"])  # type: ignore[arg-type]


def test_an_empty_report_is_an_empty_table() -> None:
    table = build_table("x", [], KEY)
    assert table.rows == () and table.keys == () and table.key_fields == tuple(KEY)


def test_records_with_an_empty_key_are_skipped_with_one_warning() -> None:
    records = [rec(""), {"email": " ", "path": None, "course": ""}, rec("a", step=1)]
    records[0].update(path="", course="")
    table = build_table("x", records, KEY)
    assert table.keys == (("a", "Data Analyst", "Python Basics"),)
    assert len(table.warnings) == 1 and "2 record(s) with an empty key" in table.warnings[0]


def test_a_partial_key_is_a_key() -> None:
    table = build_table("x", [{"email": "a", "path": "", "course": None}], KEY)
    assert table.keys == (("a", "", ""),)


def test_identical_duplicates_collapse_silently() -> None:
    table = build_table("x", [rec(step=1), rec(step=1), rec(step=1.0)], KEY)
    assert len(table.rows) == 1 and table.warnings == ()


def test_conflicting_duplicates_keep_the_first_and_name_the_key() -> None:
    table = build_table("x", [rec(step=1), rec(step=2), rec("b", step=1)], KEY)
    assert [r[3] for r in table.rows] == [1, 1]
    assert table.warnings == (
        "records with the same key (a@b.c, Data Analyst, Python Basics) differ: the first is kept",
    )


def test_a_boolean_and_a_number_are_not_duplicates() -> None:
    table = build_table("x", [rec(flag=True), rec(flag=1)], KEY)
    assert table.rows[0][-1] is True and len(table.warnings) == 1


def test_many_conflicts_are_summarised() -> None:
    records = [rec(str(i), step=s) for i in range(8) for s in (1, 2)]
    table = build_table("x", records, KEY)
    assert len(table.rows) == 8
    assert len(table.warnings) == 6 and "3 more" in table.warnings[-1]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=30)
    | st.sampled_from(["2022-02-16T12:16:09.692Z", "N/A", "2022-02-16"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["email", "a", "b", " c"]), json_values)))
def test_odd_records_never_crash(records: list[dict[str, object]]) -> None:
    try:
        table = build_table("x", records, ["email"])
    except BadResponse as error:
        # only when no record has a plain "email" field
        assert "'email'" in str(error)
        return
    assert len(table.rows) == len(table.keys) == len(set(table.keys))
    assert all(len(row) == len(table.columns) for row in table.rows)
    for row in table.rows:
        for cell in row:
            assert cell is None or isinstance(cell, str | int | float | bool)
            assert not (isinstance(cell, float) and not math.isfinite(cell))
