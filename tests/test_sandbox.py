"""The sandbox behaves like the Teams API as documented (reference/dataquest-teams-api.md)."""

from __future__ import annotations

import io
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

import pytest
import requests

from sync.sandbox import Sandbox, serve
from sync.sandbox_data import ENDPOINT_BUILDERS, World
from tests.api_fields import KNOWN_FIELDS as API_FIELDS
from tests.sandbox_plugin import FakeClock

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
KNOWN_FIELDS = {endpoint: set(fields) for endpoint, fields in API_FIELDS.items()}


def get(sandbox: Sandbox, endpoint: str, **kwargs: object) -> requests.Response:
    kwargs.setdefault("headers", {"API-Key": sandbox.api_key})
    kwargs.setdefault("timeout", 10)
    return requests.get(f"{sandbox.url}{sandbox.team_id}/{endpoint}", **kwargs)  # type: ignore[arg-type]


# --- the help page's examples ---------------------------------------------------------


def test_help_page_examples_work_unchanged(sandbox: Sandbox) -> None:
    base, team, key = sandbox.url, sandbox.team_id, sandbox.api_key
    plain = requests.get(f"{base}{team}/course_progress", headers={"API-Key": key})
    dated = requests.get(
        f"{base}{team}/course_progress",
        headers={"API-Key": key},
        params={"start_date": "14/02/2022", "end_date": "17/02/2022"},
    )
    for reply in (plain, dated):
        assert reply.status_code == 200
        assert reply.headers["Content-Type"] == "application/json"
        records = reply.json()
        assert isinstance(records, list) and records
        assert all(isinstance(r, dict) for r in records)
        assert KNOWN_FIELDS["course_progress"] <= set(records[0])
        # compact JSON, accents as they are, like DRF renders it
        assert reply.text == json.dumps(records, separators=(",", ":"), ensure_ascii=False)
    assert base.startswith("http://127.0.0.1:") and base.endswith("/api/team-reports/")


@pytest.mark.parametrize("endpoint", sorted(ENDPOINT_BUILDERS))
def test_every_endpoint_has_the_known_fields(sandbox: Sandbox, endpoint: str) -> None:
    records = get(sandbox, endpoint).json()
    assert records
    for record in records:
        assert KNOWN_FIELDS[endpoint] <= set(record), record


def test_data_looks_like_the_real_reports(sandbox: Sandbox) -> None:
    course = sandbox.records("course_progress")
    missions = sandbox.records("mission_progress")
    spent = sandbox.records("time_spent")
    invites = sandbox.records("invitations_status")
    # a few hundred mission rows for 40 learners
    assert 150 <= len(missions) <= 800
    assert len(spent) == 40
    # the help page's example path and course are there
    assert any(
        r["path"] == "Data Analyst in Python"
        and r["course"] == "Variables, Data Types, and Lists in Python"
        and r["step"] == 1
        and r["language"] == "Python"
        for r in course
    )
    assert {r["language"] for r in missions} == {"Python", "R"}
    # timestamps in the API's format, null where a date has not happened yet
    assert all(TIMESTAMP.match(r["last_login"]) for r in course)
    assert any(r["dttm_completed"] is None for r in missions)
    assert all(TIMESTAMP.match(r["dttm_completed"]) for r in missions if r["progress_pct"] == 100)
    assert any(r["dttm_course_started"] is None for r in course)
    assert any(r["course_id"] == "N/A" for r in missions)
    # the same mission under two paths
    paths_of = {}
    for r in missions:
        paths_of.setdefault((r["email"], r["mission"]), set()).add(r["path"])
    assert any(len(p) > 1 for p in paths_of.values())
    # progress is 0..100, complete is 100
    assert all(0 <= r["progress_pct"] <= 100 for r in course + missions)
    assert any(r["progress_pct"] == 100 for r in course)
    # time_spent: booleans and hours, with the space and colon in the key
    assert all(isinstance(r["has_license"], bool) for r in spent)
    assert {r["has_license"] for r in spent} == {True, False}
    assert all(isinstance(r["all time: hours spent"], float) for r in spent)
    assert any(k.endswith(": hours spent") and k != "all time: hours spent" for k in spent[0])
    # invitations: Pending (not accepted yet, no name) and Active
    assert {r["status"] for r in invites} == {"Pending", "Active"}
    assert all(r["dttm_accepted"] is None for r in invites if r["status"] == "Pending")
    # realistic names, some with accents, unique ASCII e-mails
    names = {r["learner_name"] for r in spent}
    assert any(not n.isascii() for n in names)
    emails = [r["email"] for r in spent]
    assert len(set(emails)) == len(emails)
    assert all(e.isascii() and "@" in e for e in emails)


# --- auth and errors -------------------------------------------------------------------


def test_auth_errors_have_drf_bodies(sandbox: Sandbox) -> None:
    missing = get(sandbox, "course_progress", headers={})
    assert missing.status_code == 401
    assert missing.text == '{"detail":"Authentication credentials were not provided."}'
    wrong = get(sandbox, "course_progress", headers={"API-Key": "not-the-key"})
    assert wrong.status_code == 401
    assert wrong.text == '{"detail":"Incorrect authentication credentials."}'


def test_wrong_team_and_unknown_endpoint_are_404(sandbox: Sandbox) -> None:
    other_team = requests.get(
        f"{sandbox.url}99999/course_progress", headers={"API-Key": sandbox.api_key}, timeout=10
    )
    assert other_team.status_code == 404
    assert other_team.json() == {"detail": "Not found."}
    unknown = get(sandbox, "course_progres")
    assert unknown.status_code == 404
    assert "Not Found" in unknown.text
    trailing_slash = get(sandbox, "course_progress/")
    assert trailing_slash.status_code == 404


@pytest.mark.parametrize(
    "params",
    [
        {"start_date": "2022-02-14"},
        {"end_date": "31/02/2022"},
        {"start_date": "14/2/2022"},
        {"start_date": "17/02/2022", "end_date": "14/02/2022"},
    ],
)
def test_bad_dates_are_400_with_a_detail(sandbox: Sandbox, params: dict[str, str]) -> None:
    reply = get(sandbox, "time_spent", params=params)
    assert reply.status_code == 400
    assert set(reply.json()) == {"detail"}
    assert "date" in reply.json()["detail"]


# --- the throttle -----------------------------------------------------------------------


def test_the_11th_request_within_60_s_is_throttled_exactly(
    sandbox: Sandbox, fake_clock: FakeClock
) -> None:
    for _ in range(10):
        assert get(sandbox, "time_spent").status_code == 200
        fake_clock.advance(1.0)
    # now 10 s after the first request: it leaves the window in 50 s
    eleventh = get(sandbox, "time_spent")
    assert eleventh.status_code == 429
    assert eleventh.headers["Retry-After"] == "50"
    assert eleventh.text == '{"detail":"Request was throttled. Expected available in 50 seconds."}'
    fake_clock.advance(49.5)  # 0.5 s to go: ceil -> 1, singular
    almost = get(sandbox, "time_spent")
    assert almost.status_code == 429
    assert almost.headers["Retry-After"] == "1"
    assert almost.json() == {"detail": "Request was throttled. Expected available in 1 second."}
    fake_clock.advance(0.5)  # exactly 60 s after the first: it has left the window
    assert get(sandbox, "time_spent").status_code == 200
    # throttled requests did not count: the 2nd request leaves at +61 s
    assert get(sandbox, "time_spent").status_code == 429


def test_refused_keys_do_not_use_the_budget(sandbox: Sandbox) -> None:
    for _ in range(15):
        assert get(sandbox, "time_spent", headers={"API-Key": "wrong"}).status_code == 401
    assert get(sandbox, "time_spent").status_code == 200


def test_rate_is_configurable(sandbox_factory: Callable[..., Sandbox]) -> None:
    sandbox = sandbox_factory(rate_per_minute=3)
    assert [get(sandbox, "time_spent").status_code for _ in range(4)] == [200, 200, 200, 429]


# --- the data moves forward -------------------------------------------------------------


def test_one_sync_sees_one_epoch_and_the_next_sync_the_next(sandbox: Sandbox) -> None:
    first = {e: get(sandbox, e).json() for e in ENDPOINT_BUILDERS}
    assert sandbox.epoch == 0
    assert first == sandbox.all_records()
    second = {e: get(sandbox, e).json() for e in ENDPOINT_BUILDERS}
    assert sandbox.epoch == 1
    assert second != first
    assert [r.epoch for r in sandbox.requests] == [0, 0, 0, 0, 1, 1, 1, 1]


def test_all_returns_the_four_arrays(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    everything = get(sandbox, "all").json()
    assert everything == sandbox.all_records()
    assert set(everything) == set(ENDPOINT_BUILDERS)
    again = get(sandbox, "course_progress").json()  # already served by `all`: next epoch
    assert sandbox.epoch == 1
    assert again == sandbox.records("course_progress")


def test_auto_advance_can_be_turned_off(sandbox_factory: Callable[..., Sandbox]) -> None:
    sandbox = sandbox_factory(auto_advance=False, epoch=3)
    a = get(sandbox, "time_spent").json()
    b = get(sandbox, "time_spent").json()
    assert a == b and sandbox.epoch == 3
    sandbox.advance(2)
    assert sandbox.epoch == 5
    assert get(sandbox, "time_spent").json() == World(1, 40).records("time_spent", 5)


def test_records_are_a_pure_function_of_seed_learners_epoch() -> None:
    for endpoint in ENDPOINT_BUILDERS:
        assert World(7, 30).records(endpoint, 4) == World(7, 30).records(endpoint, 4)
        assert World(7, 30).records(endpoint, 4) != World(8, 30).records(endpoint, 4)
    # computing earlier epochs later gives the same answer
    world = World(7, 30)
    late = world.records("mission_progress", 6)
    assert world.records("mission_progress", 2) == World(7, 30).records("mission_progress", 2)
    assert world.records("mission_progress", 6) == late


def test_progress_moves_forward_with_arrivals_and_departures() -> None:
    world = World(1, 40)
    changed = arrived = departed = progressed = 0
    for epoch in range(5):
        before = {r["email"]: r for r in world.records("time_spent", epoch)}
        after = {r["email"]: r for r in world.records("time_spent", epoch + 1)}
        invited_before = {r["email"] for r in world.records("invitations_status", epoch)}
        invited_after = {r["email"] for r in world.records("invitations_status", epoch + 1)}
        arrived += len(invited_after - invited_before)
        departed += len(set(before) - set(after))
        changed += sum(1 for e in set(before) & set(after) if before[e] != after[e])
        cp_before = _pct(world.records("mission_progress", epoch))
        cp_after = _pct(world.records("mission_progress", epoch + 1))
        for key, pct in cp_after.items():
            if key in cp_before:
                assert pct >= cp_before[key], "progress never goes back"
                progressed += pct > cp_before[key]
        assert invited_after - invited_before, "someone new every epoch"
        assert set(before) - set(after), "someone leaves every epoch"
    assert changed >= 5 and progressed >= 5 and arrived >= 5 and departed >= 5
    # the new arrivals show up in the progress reports once they accept
    late = {r["email"] for r in world.records("course_progress", 5)}
    assert late - {r["email"] for r in world.records("course_progress", 0)}


def _pct(rows: list[dict[str, object]]) -> dict[tuple[object, ...], float]:
    return {(r["email"], r["path"], r["mission"]): r["progress_pct"] for r in rows}  # type: ignore[misc]


def test_learners_can_grow_at_runtime(sandbox: Sandbox) -> None:
    small = get(sandbox, "time_spent").json()
    sandbox.learners = 400
    large = get(sandbox, "time_spent").json()
    assert len(large) >= 9 * len(small)
    # the first people stay the same people
    assert {r["email"] for r in small} & {r["email"] for r in large}


# --- fault injection and the request log ------------------------------------------------


def test_injected_faults_answer_first_then_normal_service(sandbox: Sandbox) -> None:
    sandbox.inject(502, content_type="text/html", count=2, endpoint="course_progress")
    other = get(sandbox, "time_spent")
    assert other.status_code == 200  # a fault for another endpoint does not match
    for _ in range(2):
        page = get(sandbox, "course_progress")
        assert page.status_code == 502
        assert page.headers["Content-Type"] == "text/html"
        assert "<h1>502 Bad Gateway</h1>" in page.text
    assert get(sandbox, "course_progress").status_code == 200
    assert sandbox.statuses() == [200, 502, 502, 200]


def test_injected_body_retry_after_and_drop(sandbox: Sandbox) -> None:
    sandbox.inject(200, body='[{"email":"a@b.c"')
    assert get(sandbox, "time_spent").text == '[{"email":"a@b.c"'
    sandbox.inject(429, retry_after=38)
    throttled = get(sandbox, "time_spent")
    assert throttled.headers["Retry-After"] == "38"
    assert "Expected available in 38 seconds." in throttled.text
    sandbox.inject(drop=True)
    with pytest.raises(requests.ConnectionError):
        get(sandbox, "time_spent")
    assert sandbox.statuses()[-1] is None
    assert get(sandbox, "time_spent").status_code == 200


def test_delay_makes_a_client_time_out(sandbox: Sandbox) -> None:
    sandbox.inject(200, delay=0.5)
    with pytest.raises(requests.Timeout):
        get(sandbox, "time_spent", timeout=0.1)


def test_request_log_never_holds_the_key(sandbox: Sandbox) -> None:
    get(sandbox, "time_spent", params={"start_date": "14/02/2022"})
    get(sandbox, "time_spent", params={"api_key": sandbox.api_key})  # a careless caller
    get(sandbox, "time_spent", headers={"API-Key": "wrong"})
    record = sandbox.requests[0]
    assert record.path == f"/api/team-reports/{sandbox.team_id}/time_spent"
    assert record.params == {"start_date": "14/02/2022"} and record.status == 200
    assert sandbox.api_key not in repr(sandbox.requests)
    assert sandbox.api_key not in repr(sandbox)


# --- lifecycle and the foreground server -----------------------------------------------


def test_stop_closes_kept_alive_connections(sandbox_factory: Callable[..., Sandbox]) -> None:
    sandbox = sandbox_factory()
    with requests.Session() as session:
        url = f"{sandbox.url}{sandbox.team_id}/time_spent"
        assert session.get(url, headers={"API-Key": sandbox.api_key}, timeout=5).ok
        sandbox.stop()
        with pytest.raises(requests.ConnectionError):
            session.get(url, headers={"API-Key": sandbox.api_key}, timeout=5)


def test_random_key_unless_given() -> None:
    assert Sandbox().api_key != Sandbox().api_key
    assert Sandbox(api_key="k").api_key == "k"
    with pytest.raises(RuntimeError):
        _ = Sandbox().url  # no port before start


def test_serve_prints_how_to_use_it_and_stops_cleanly() -> None:
    out = io.StringIO()
    stop = threading.Event()
    thread = threading.Thread(
        target=serve, args=(0, 10, 3), kwargs={"out": out, "stop": stop, "api_key": "demo-key"}
    )
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while "Ctrl-C" not in out.getvalue() and time.monotonic() < deadline:
            time.sleep(0.01)
        text = out.getvalue()
        url = re.search(r"sandbox on (\S+)", text)
        assert url, text
        assert "team id:  12345" in text and "demo-key" in text
        reply = requests.get(
            f"{url.group(1)}12345/time_spent", headers={"API-Key": "demo-key"}, timeout=5
        )
        assert reply.status_code == 200 and len(reply.json()) == 10
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url.group(1)}12345/time_spent", timeout=5)


def test_serve_stops_cleanly_on_sigterm_in_a_process() -> None:
    code = "from sync.sandbox import serve; serve(0, 5, 1)"
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if "Ctrl-C" in line:
                break
        assert any("API key:" in line for line in lines), lines
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Sandbox stopped." in rest
    assert err == ""
