"""The Teams API client against the sandbox: polite, bounded, clear, never leaking the key.

Client and sandbox share one fake clock whose sleep advances it: throttling,
backoff and Retry-After play out in fake time, so nothing here waits for real
(apart from two sub-second client timeouts).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import requests

from sync.dataquest import DataquestClient
from sync.errors import EX_CONFIG, AuthError, BadResponse, ConfigError, SourceError, Throttled
from sync.ratelimit import Backoff, RetryBudget, RollingWindowLimiter, identity, shared_limiter
from sync.sandbox import Sandbox
from tests.sandbox_plugin import FakeClock

ClientFactory = Callable[..., DataquestClient]


def raw_get(sandbox: Sandbox, endpoint: str) -> requests.Response:
    """Another program using the same key, without our limiter."""
    return requests.get(
        f"{sandbox.url}{sandbox.team_id}/{endpoint}",
        headers={"API-Key": sandbox.api_key},
        timeout=10,
    )


# --- normal use ---------------------------------------------------------------------------


def test_fetch_returns_the_records(sandbox: Sandbox, client_factory: ClientFactory) -> None:
    client = client_factory(sandbox)
    assert client.fetch("course_progress") == sandbox.records("course_progress")
    dated = client.fetch(
        "time_spent", params={"start_date": "14/02/2022", "end_date": "17/02/2022"}
    )
    assert dated == sandbox.records("time_spent")
    assert sandbox.requests[-1].params == {"start_date": "14/02/2022", "end_date": "17/02/2022"}


def test_fetch_all_returns_every_report(sandbox: Sandbox, client_factory: ClientFactory) -> None:
    everything = client_factory(sandbox).fetch_all()
    assert everything == sandbox.all_records()


def test_25_calls_never_see_a_429(
    sandbox: Sandbox, client_factory: ClientFactory, fake_clock: FakeClock
) -> None:
    client = client_factory(sandbox)
    for i in range(25):
        client.fetch(("course_progress", "mission_progress", "time_spent")[i % 3])
    assert sandbox.statuses() == [200] * 25
    # 25 requests at 10 per minute take two windows of waiting, and no more
    assert 120 <= fake_clock.slept < 121


def test_clients_of_one_key_share_the_limit(
    sandbox: Sandbox, client_factory: ClientFactory, fake_clock: FakeClock
) -> None:
    first, second = client_factory(sandbox), client_factory(sandbox)
    assert first.limiter is second.limiter
    for _ in range(10):
        first.fetch("time_spent")
    second.fetch("time_spent")
    assert sandbox.statuses() == [200] * 11
    assert fake_clock.slept == pytest.approx(60.0)


def test_waits_as_asked_when_someone_else_used_the_budget(
    sandbox: Sandbox,
    client_factory: ClientFactory,
    fake_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    for _ in range(10):
        assert raw_get(sandbox, "time_spent").status_code == 200
    fake_clock.advance(22)
    client = client_factory(sandbox)
    with caplog.at_level(logging.INFO, logger="sync.dataquest"):
        records = client.fetch("course_progress")
    assert records == sandbox.records("course_progress")
    assert sandbox.statuses()[10:] == [429, 200]
    assert "Dataquest throttled us; waiting 38 s as asked" in caplog.text
    assert 38 <= fake_clock.slept <= 39


def test_uses_the_drf_message_when_there_is_no_retry_after(
    sandbox: Sandbox, client_factory: ClientFactory, fake_clock: FakeClock
) -> None:
    sandbox.inject(429, body='{"detail":"Request was throttled. Expected available in 7 seconds."}')
    client_factory(sandbox).fetch("time_spent")
    assert sandbox.statuses() == [429, 200]
    assert 7 <= fake_clock.slept <= 7.7


# --- transient failures -----------------------------------------------------------------------


def test_a_502_html_page_then_success(
    sandbox: Sandbox, client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.inject(502, content_type="text/html")
    with caplog.at_level(logging.INFO, logger="sync.dataquest"):
        assert client_factory(sandbox).fetch("course_progress") == sandbox.records(
            "course_progress"
        )
    assert sandbox.statuses() == [502, 200]
    assert "Dataquest answered HTTP 502 for course_progress; retrying in" in caplog.text


def test_a_permanent_500_fails_within_its_bound(
    sandbox: Sandbox, client_factory: ClientFactory, fake_clock: FakeClock
) -> None:
    sandbox.inject(500, count=1000)
    client = client_factory(sandbox, max_total_wait=120.0, max_attempts=50)
    start = fake_clock()
    with pytest.raises(SourceError) as caught:
        client.fetch("mission_progress")
    error = caught.value
    assert not isinstance(error, Throttled | AuthError | BadResponse)
    assert error.transient and error.exit_code == 75
    assert fake_clock() - start <= 120.0
    assert fake_clock.slept <= 120.0
    text = str(error)
    assert "mission_progress" in text and "gave up after" in text
    assert "last error: HTTP 500: Internal Server Error" in text
    assert len(sandbox.requests) < 50  # the time budget stopped it, not the attempt count


def test_max_attempts_bounds_retries(sandbox: Sandbox, client_factory: ClientFactory) -> None:
    sandbox.inject(503, count=1000)
    with pytest.raises(SourceError, match=r"gave up after 3 attempts"):
        client_factory(sandbox, max_attempts=3).fetch("time_spent")
    assert sandbox.statuses() == [503, 503, 503]


def test_backoff_grows_and_is_capped(
    sandbox: Sandbox, client_factory: ClientFactory, fake_clock: FakeClock
) -> None:
    sandbox.inject(500, count=1000)
    client = client_factory(
        sandbox, max_attempts=8, max_total_wait=1000, backoff=Backoff(base=1, cap=8)
    )
    with pytest.raises(SourceError):
        client.fetch("time_spent")
    waits = fake_clock.sleeps
    assert len(waits) == 7
    ceilings = [1, 2, 4, 8, 8, 8, 8]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))


def test_persistent_throttling_gives_up_with_throttled(
    sandbox: Sandbox, client_factory: ClientFactory, fake_clock: FakeClock
) -> None:
    sandbox.inject(429, count=1000, retry_after=45)
    with pytest.raises(Throttled) as caught:
        client_factory(sandbox, max_total_wait=100).fetch("time_spent")
    assert caught.value.exit_code == 75
    assert "kept throttling time_spent" in str(caught.value)
    assert "Expected available in 45 seconds." in str(caught.value)
    assert fake_clock.slept <= 100
    assert sandbox.statuses() == [429, 429, 429]


def test_a_timeout_then_success(sandbox: Sandbox, client_factory: ClientFactory) -> None:
    sandbox.inject(200, delay=0.6)
    client = client_factory(sandbox, timeout_seconds=0.15)
    assert client.fetch("time_spent") == sandbox.records("time_spent")
    assert len(sandbox.requests) == 2


def test_a_dropped_connection_then_success(sandbox: Sandbox, client_factory: ClientFactory) -> None:
    sandbox.inject(drop=True)
    assert client_factory(sandbox).fetch("time_spent") == sandbox.records("time_spent")
    assert sandbox.statuses() == [None, 200]


def test_nobody_listening_is_a_source_error(
    sandbox_factory: Callable[..., Sandbox], client_factory: ClientFactory
) -> None:
    sandbox = sandbox_factory()
    sandbox.stop()
    with pytest.raises(SourceError, match="could not be reached"):
        client_factory(sandbox, max_attempts=2).fetch("time_spent")


# --- bad responses ----------------------------------------------------------------------------


def test_truncated_json_is_a_bad_response(sandbox: Sandbox, client_factory: ClientFactory) -> None:
    full = '[{"email":"ana@x.example","progress_pct":' + "1" * 500
    sandbox.inject(200, body=full)
    with pytest.raises(BadResponse) as caught:
        client_factory(sandbox).fetch("course_progress")
    text = str(caught.value)
    assert "course_progress" in text and "not JSON" in text
    assert '[{"email":"ana@x.example"' in text
    assert "1" * 200 not in text  # only the first 200 characters
    assert caught.value.exit_code == 1 and not caught.value.transient
    assert len(sandbox.requests) == 1  # not retried


def test_an_html_page_with_200_is_a_bad_response(
    sandbox: Sandbox, client_factory: ClientFactory
) -> None:
    sandbox.inject(200, body="<html><body>Maintenance</body></html>", content_type="text/html")
    with pytest.raises(BadResponse, match=r"time_spent.*text/html.*Maintenance"):
        client_factory(sandbox).fetch("time_spent")


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ('{"detail":"ok"}', "an object"),
        ('[{"email":"a@b.c"}, 3]', "item 1 is a number"),
        ("null", "null"),
        ('"text"', "a string"),
    ],
)
def test_a_wrong_shape_is_a_bad_response(
    sandbox: Sandbox, client_factory: ClientFactory, body: str, what: str
) -> None:
    sandbox.inject(200, body=body)
    with pytest.raises(BadResponse, match=what) as caught:
        client_factory(sandbox).fetch("mission_progress")
    assert "mission_progress" in str(caught.value)


@pytest.mark.parametrize(
    "body", ['[{"email":"a@b.c"}]', '{"course_progress":{"email":"a"}}', '{"x":[1]}']
)
def test_all_must_be_an_object_of_lists(
    sandbox: Sandbox, client_factory: ClientFactory, body: str
) -> None:
    sandbox.inject(200, body=body)
    with pytest.raises(BadResponse, match="all"):
        client_factory(sandbox).fetch_all()


def test_a_bad_date_is_reported_with_the_servers_detail(
    sandbox: Sandbox, client_factory: ClientFactory
) -> None:
    with pytest.raises(BadResponse, match=r"HTTP 400: Invalid start_date '2022-02-14'"):
        client_factory(sandbox).fetch("time_spent", params={"start_date": "2022-02-14"})


# --- credentials and the key --------------------------------------------------------------------


def test_a_refused_key_is_an_auth_error_without_the_key(
    sandbox: Sandbox, client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    wrong_key = "wrong-" + "f" * 34
    client = client_factory(sandbox, api_key=wrong_key)
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as caught:
        client.fetch("course_progress")
    assert str(caught.value) == (
        "Dataquest refused the API key (HTTP 401: Incorrect authentication credentials.). "
        "Check DATAQUEST_API_KEY; generating a new key deactivates the old one."
    )
    assert caught.value.exit_code == EX_CONFIG
    assert len(sandbox.requests) == 1  # not retried
    assert caplog.records, "the request was logged at DEBUG"
    for secret in (wrong_key, sandbox.api_key):
        assert secret not in str(caught.value)
        assert secret not in caplog.text
        assert secret not in repr(client)
        assert secret not in repr(client.limiter)


def test_the_key_never_appears_in_logs_at_debug(
    sandbox: Sandbox, client_factory: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.inject(502, content_type="text/html")
    sandbox.inject(429, retry_after=3)
    sandbox.inject(200, body=f"<p>echo {sandbox.api_key}</p>")  # a server echoing it back
    client = client_factory(sandbox)
    with caplog.at_level(logging.DEBUG), pytest.raises(BadResponse) as caught:
        client.fetch("time_spent")
    assert "GET http://127.0.0.1:" in caplog.text and "HTTP 502" in caplog.text
    assert sandbox.api_key not in caplog.text
    assert sandbox.api_key not in str(caught.value)
    assert "[API key]" in str(caught.value)


def test_an_unknown_team_is_an_auth_error_naming_it(
    sandbox: Sandbox, client_factory: ClientFactory
) -> None:
    with pytest.raises(AuthError, match="unknown team id 99999") as caught:
        client_factory(sandbox, team_id="99999").fetch("course_progress")
    assert caught.value.exit_code == EX_CONFIG


def test_from_config_reads_the_dataquest_section(sandbox: Sandbox, fake_clock: FakeClock) -> None:
    @dataclass(frozen=True)
    class Cfg:  # the shape of sync.config.DataquestConfig
        team_id: str
        api_key: str = field(repr=False)
        base_url: str = "https://app.dataquest.io/api/team-reports/"
        requests_per_minute: int = 10
        timeout_seconds: float = 60.0

    cfg = Cfg(sandbox.team_id, sandbox.api_key, sandbox.url, 5, 3.0)
    client = DataquestClient.from_config(cfg, clock=fake_clock, sleep=fake_clock.sleep)
    assert client.timeout_seconds == 3.0 and client.requests_per_minute == 5
    assert client.fetch("time_spent") == sandbox.records("time_spent")
    client.close()


def test_urls_follow_the_documented_pattern() -> None:
    client = DataquestClient(team_id="12345", api_key="k", base_url="https://h/api/team-reports")
    assert client.url("course_progress") == "https://h/api/team-reports/12345/course_progress"
    with pytest.raises(ValueError):
        client.url("../admin")
    client.close()


# --- the limiter and retry policy helpers ---------------------------------------------------------


def test_rolling_window_is_drf_sliding_window() -> None:
    clock = FakeClock(0.0)
    limiter = RollingWindowLimiter(3, 60.0, clock=clock)
    for t in (0.0, 10.0, 20.0):
        clock.advance(t - clock())
        assert limiter.try_acquire() is not None
    clock.advance(5.0)
    assert limiter.try_acquire() is None
    assert limiter.wait_time() == pytest.approx(35.0)  # until the first leaves at 60
    clock.advance(35.0)
    assert limiter.try_acquire() is not None
    assert limiter.in_window() == 3


def test_a_slot_counts_from_when_the_reply_came() -> None:
    clock = FakeClock(0.0)
    limiter = RollingWindowLimiter(1, 60.0, clock=clock)
    slot = limiter.acquire(clock.sleep)
    clock.advance(30.0)  # a slow reply: the server stamped it somewhere in these 30 s
    slot.done(clock())
    assert limiter.wait_time() == pytest.approx(60.0)


def test_hold_until_pauses_everyone() -> None:
    clock = FakeClock(0.0)
    limiter = RollingWindowLimiter(10, 60.0, clock=clock)
    limiter.hold_until(38.0)
    limiter.acquire(clock.sleep)
    assert clock() == pytest.approx(38.0)


def test_shared_limiters_are_per_identity_and_clock() -> None:
    clock_a, clock_b = FakeClock(), FakeClock()
    name = identity("https://x/", "1", "key")
    assert "key" not in name
    one = shared_limiter(name, 10, clock=clock_a)
    assert shared_limiter(name, 10, clock=clock_a) is one
    assert shared_limiter(name, 10, clock=clock_b) is not one
    assert shared_limiter(identity("https://x/", "1", "other"), 10, clock=clock_a) is not one
    assert shared_limiter(name, 4, clock=clock_a).limit == 4  # the strictest wins


def test_backoff_and_budget() -> None:
    rng = random.Random(1)
    backoff = Backoff(base=2, factor=2, cap=10)
    for attempt, ceiling in [(1, 2), (2, 4), (3, 8), (5, 10)]:
        assert ceiling / 2 <= backoff.delay(attempt, rng) <= ceiling
    assert all(5 <= backoff.delay(9, rng) <= 10 for _ in range(50))
    budget = RetryBudget(max_attempts=3, max_total_wait=10)
    budget.attempt()
    assert budget.allows(10) and not budget.allows(10.5)
    budget.spend(8)
    assert not budget.allows(3)
    budget.attempt()
    budget.attempt()
    assert not budget.allows(0)


def test_redirects_are_followed_only_within_the_same_site(
    sandbox: Sandbox, client_factory: ClientFactory
) -> None:
    path = f"/api/team-reports/{sandbox.team_id}/time_spent"
    sandbox.inject(301, body="", headers={"Location": f"{path}?start_date=14/02/2022"})
    assert client_factory(sandbox).fetch("time_spent") == sandbox.records("time_spent")
    assert sandbox.statuses() == [301, 200]
    assert sandbox.requests[-1].params == {"start_date": "14/02/2022"}
    sandbox.inject(302, body="", headers={"Location": "http://elsewhere.example/steal"})
    with pytest.raises(BadResponse, match=r"another site \(http://elsewhere.example\)"):
        client_factory(sandbox).fetch("time_spent")


@pytest.mark.parametrize("base_url", ["not a url", "ftp://h/api/", "localhost/api/"])
def test_an_unusable_base_url_is_a_config_error(base_url: str) -> None:
    client = DataquestClient(team_id="1", api_key="sekrit-key-123", base_url=base_url)
    with pytest.raises(ConfigError, match=r"dataquest\.base_url") as caught:
        client.fetch("time_spent")
    assert "sekrit-key-123" not in str(caught.value)
    client.close()
