"""The Dataquest Teams API client: one GET per report, polite and bounded.

``DataquestClient.fetch(endpoint)`` returns the endpoint's records (a list of
flat JSON objects); ``fetch_all()`` returns the ``all`` endpoint's object of
lists. What the client owns:

- the URL (``{base_url}{team_id}/{endpoint}``), the ``API-Key`` header and the
  optional ``start_date``/``end_date`` parameters (already DD/MM/YYYY);
- a client-side limit of ``requests_per_minute`` requests in any rolling
  minute, shared by every client of the same (base URL, team, key) in the
  process (``sync.ratelimit.shared_limiter``), so normal use never sees a 429;
- retries: a 429 waits ``Retry-After`` (or the N of DRF's "Expected available
  in N seconds."); 5xx, timeouts and connection errors back off exponentially
  with jitter; all bounded by ``max_attempts`` and ``max_total_wait`` seconds
  of waiting, after which ``Throttled`` or ``SourceError`` says how long it
  tried and what failed last;
- errors a user can act on: 401/403 ``AuthError`` (the key), 404
  ``AuthError`` (the team id), ``BadResponse`` for HTML or a wrong JSON shape,
  naming the endpoint and showing the start of the body.

The API key is never logged, never part of an exception text and never in a
repr. Clocks, sleep, the random source and the HTTP session are injectable.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn
from urllib.parse import urljoin, urlsplit

import requests

from sync.errors import AuthError, BadResponse, ConfigError, Problem, SourceError, Throttled
from sync.ratelimit import Backoff, RetryBudget, identity, shared_limiter

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://app.dataquest.io/api/team-reports/"
#: The report endpoints (``all`` returns these four under their names).
ENDPOINTS = ("course_progress", "mission_progress", "invitations_status", "time_spent")
ALL = "all"

MAX_REDIRECTS = 3
#: How much of an unexpected body an error message shows.
SNIPPET_CHARS = 200

_ENDPOINT_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_DRF_WAIT_RE = re.compile(r"Expected available in (\d+(?:\.\d+)?) seconds?")
_RETRY_STATUSES = frozenset({408, 425, 429})

KEY_HINT = "Check DATAQUEST_API_KEY; generating a new key deactivates the old one."


@dataclass(frozen=True)
class _Retry:
    """Why an attempt failed and how long to wait before the next."""

    wait: float
    message: str  # for the INFO line
    error: str  # for the final error
    throttled: bool = False
    as_asked: bool = False  # the wait is the server's Retry-After


class DataquestClient:
    """A client of one team's reports. See the module docstring."""

    def __init__(
        self,
        *,
        team_id: str,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        requests_per_minute: int = 10,
        timeout_seconds: float = 60.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        max_total_wait: float = 300.0,
        max_attempts: int = 8,
        backoff: Backoff | None = None,
    ) -> None:
        if not team_id:
            raise ValueError("team_id is empty")
        if not api_key:
            raise ValueError("api_key is empty")
        if requests_per_minute < 1:
            raise ValueError("requests_per_minute must be at least 1")
        self.team_id = str(team_id)
        self._api_key = api_key
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.requests_per_minute = requests_per_minute
        self.timeout_seconds = timeout_seconds
        self._own_session = session is None
        self.session = session if session is not None else requests.Session()
        self.clock = clock
        self.sleep = sleep
        self.rng = rng if rng is not None else random.Random()
        self.max_total_wait = max_total_wait
        self.max_attempts = max_attempts
        self.backoff = backoff if backoff is not None else Backoff(base=1.0, cap=60.0)
        self.limiter = shared_limiter(
            identity(self.base_url, self.team_id, api_key),
            requests_per_minute,
            clock=clock,
        )

    @classmethod
    def from_config(cls, cfg: Any, **kwargs: Any) -> DataquestClient:
        """A client from a ``DataquestConfig`` (read duck-typed); ``kwargs`` as ``__init__``."""
        return cls(
            team_id=cfg.team_id,
            api_key=cfg.api_key,
            base_url=getattr(cfg, "base_url", DEFAULT_BASE_URL),
            requests_per_minute=getattr(cfg, "requests_per_minute", 10),
            timeout_seconds=getattr(cfg, "timeout_seconds", 60.0),
            **kwargs,
        )

    def __repr__(self) -> str:
        return f"DataquestClient(base_url={self.base_url!r}, team_id={self.team_id!r})"

    def close(self) -> None:
        if self._own_session:
            self.session.close()

    def __enter__(self) -> DataquestClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- public calls ----------------------------------------------------------

    def url(self, endpoint: str) -> str:
        """The URL of ``endpoint`` (no key in it: the key travels in a header)."""
        if not _ENDPOINT_RE.match(endpoint):
            raise ValueError(f"not an endpoint name: {endpoint!r}")
        return f"{self.base_url}{self.team_id}/{endpoint}"

    def fetch(
        self, endpoint: str, *, params: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """The records of ``endpoint``: a list of JSON objects."""
        body, data = self._get(endpoint, params)
        return _records(endpoint, data, body)

    def fetch_all(
        self, *, params: Mapping[str, str] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """The ``all`` endpoint: every report's records, by endpoint name."""
        body, data = self._get(ALL, params)
        if not isinstance(data, dict):
            raise BadResponse(
                f"Dataquest's '{ALL}' endpoint returned {_kind(data)}, expected an object "
                f"of lists: {_snippet(body)}"
            )
        out: dict[str, list[dict[str, Any]]] = {}
        for name, value in data.items():
            out[str(name)] = _records(f"{ALL}.{name}", value, body)
        return out

    # --- the request loop --------------------------------------------------------

    def _get(self, endpoint: str, params: Mapping[str, str] | None) -> tuple[str, Any]:
        """The body (text, key redacted) and parsed JSON of a 2xx reply, retrying as allowed."""
        url = self.url(endpoint)
        query = dict(params or {})
        budget = RetryBudget(max_attempts=self.max_attempts, max_total_wait=self.max_total_wait)
        started = self.clock()
        while True:
            attempt = budget.attempt()
            t0 = self.clock()
            try:
                response = self._send(endpoint, url, query)
            except (
                requests.Timeout,
                requests.ConnectionError,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                retry = self._network_retry(endpoint, attempt, exc)
                log.debug("GET %s failed after %.2f s: %s", url, self.clock() - t0, retry.error)
            else:
                body = self._redact(response.content.decode("utf-8", "replace"))
                log.debug(
                    "GET %s -> HTTP %s in %.2f s (%d bytes)",
                    _display_url(url, query),
                    response.status_code,
                    self.clock() - t0,
                    len(response.content),
                )
                if 200 <= response.status_code < 300:
                    return body, _parse_json(endpoint, response, body)
                retry = self._status_retry(endpoint, attempt, response, body)
            if not budget.allows(retry.wait):
                self._give_up(endpoint, budget, started, retry)
            if retry.as_asked:
                log.info(
                    "%s (%s, attempt %d of %d)",
                    retry.message,
                    endpoint,
                    attempt,
                    budget.max_attempts,
                )
            else:
                log.info(
                    "%s; retrying in %.1f s (attempt %d of %d)",
                    retry.message,
                    retry.wait,
                    attempt,
                    budget.max_attempts,
                )
            budget.spend(retry.wait)
            self.sleep(retry.wait)

    def _network_retry(self, endpoint: str, attempt: int, exc: requests.RequestException) -> _Retry:
        """No reply at all: back off and try again."""
        detail = self._redact(_network_detail(exc))
        if isinstance(exc, requests.Timeout):
            reason = f"did not answer within {self.timeout_seconds:g} s"
        else:
            reason = "could not be reached"
        return _Retry(
            wait=self.backoff.delay(attempt, self.rng),
            message=f"Dataquest {reason} for {endpoint}",
            error=f"{reason} ({detail})",
        )

    def _status_retry(
        self, endpoint: str, attempt: int, response: requests.Response, body: str
    ) -> _Retry:
        """A non-2xx reply: raise when retrying cannot help, else how long to wait."""
        status = response.status_code
        error = f"HTTP {status}: {_detail(body)}"
        if status in (401, 403):
            # the key is wrong, revoked (a new one was generated) or lacks rights
            raise AuthError(f"Dataquest refused the API key ({error}). {KEY_HINT}")
        if status == 404:
            # DRF's "Not found." for a team the key does not belong to
            raise AuthError(
                f"Dataquest: unknown team id {self.team_id} (HTTP 404 for {endpoint}: "
                f"{_detail(body)}). Check DATAQUEST_TEAM_ID or the [dataquest] team_id setting."
            )
        if status == 429:
            # someone else spent this key's budget: wait as long as the server says
            asked = _asked_wait(response, body)
            if asked is None:
                return _Retry(
                    wait=self.backoff.delay(attempt, self.rng),
                    message=f"Dataquest throttled us on {endpoint} without saying for how long",
                    error=error,
                    throttled=True,
                )
            self.limiter.hold_until(self.clock() + asked)  # other clients of the key wait too
            return _Retry(
                wait=asked + self.rng.uniform(0, min(1.0, asked * 0.1)),
                message=f"Dataquest throttled us; waiting {asked:g} s as asked",
                error=error,
                throttled=True,
                as_asked=True,
            )
        if status >= 500 or status in _RETRY_STATUSES:
            # a server or proxy in trouble: back off
            return _Retry(
                wait=self.backoff.delay(attempt, self.rng),
                message=f"Dataquest answered HTTP {status} for {endpoint}",
                error=error,
            )
        # any other 4xx (a bad date, an unexpected 3xx): asking again gives the same answer
        raise BadResponse(f"Dataquest refused the request for {endpoint} ({error})")

    def _send(self, endpoint: str, url: str, query: Mapping[str, str]) -> requests.Response:
        """One GET through the limiter, following redirects only within the same site.

        ``requests`` would carry the ``API-Key`` header to any host a redirect
        names; we refuse to send the key anywhere but the configured origin.
        """
        for _ in range(MAX_REDIRECTS + 1):
            slot = self.limiter.acquire(self.sleep, on_wait=self._log_limiter_wait)
            try:
                response = self.session.get(
                    url,
                    headers={"API-Key": self._api_key, "Accept": "application/json"},
                    params=query,
                    timeout=self.timeout_seconds,
                    allow_redirects=False,
                )
            except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema) as exc:
                raise ConfigError(
                    Problem("dataquest.base_url", f"not a usable URL ({exc})")
                ) from None
            except requests.exceptions.InvalidSchema as exc:
                raise ConfigError(
                    Problem("dataquest.base_url", f"not an http(s) URL ({exc})")
                ) from None
            finally:
                slot.done(self.clock())
            if not response.is_redirect:
                return response
            target = urljoin(url, response.headers.get("Location", ""))
            if _origin(target) != _origin(url):
                raise BadResponse(
                    f"Dataquest redirected {endpoint} to another site ({_origin(target)}); "
                    f"not sending the API key there. Check the [dataquest] base_url setting."
                )
            log.debug("GET %s -> HTTP %s, redirected to %s", url, response.status_code, target)
            url, query = target, {}  # the Location carries its own query
        raise BadResponse(f"Dataquest redirected {endpoint} more than {MAX_REDIRECTS} times")

    def _log_limiter_wait(self, seconds: float) -> None:
        log.info(
            "Waiting %.1f s to stay under %d Dataquest requests per minute",
            seconds,
            self.requests_per_minute,
        )

    def _give_up(
        self, endpoint: str, budget: RetryBudget, started: float, last: _Retry
    ) -> NoReturn:
        elapsed = self.clock() - started
        plural = "s" if budget.attempts != 1 else ""
        tried = (
            f"gave up after {budget.attempts} attempt{plural} over {elapsed:.0f} s "
            f"({budget.waited:.0f} s of waiting"
        )
        if budget.attempts < budget.max_attempts:
            tried += (
                f"; the next wait of {last.wait:.0f} s would pass the "
                f"{budget.max_total_wait:g} s budget"
            )
        tried += ")"
        if last.throttled:
            raise Throttled(
                f"Dataquest kept throttling {endpoint}: {tried}; last answer: {last.error}. "
                "Another program may be using the same API key; try again later."
            )
        raise SourceError(f"Dataquest failed for {endpoint}: {tried}; last error: {last.error}")

    def _redact(self, text: str) -> str:
        """Remove the key from text that came from elsewhere (bodies, exception texts)."""
        return text.replace(self._api_key, "[API key]") if self._api_key in text else text


# --- response helpers -----------------------------------------------------------


def _parse_json(endpoint: str, response: requests.Response, body: str) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        ctype = response.headers.get("Content-Type", "no content type")
        raise BadResponse(
            f"Dataquest returned something that is not JSON for {endpoint} "
            f"(HTTP {response.status_code}, {ctype}): {_snippet(body)}"
        ) from None


def _records(endpoint: str, data: Any, body: str) -> list[dict[str, Any]]:
    if not isinstance(data, list):
        raise BadResponse(
            f"Dataquest's '{endpoint}' returned {_kind(data)}, expected a list of objects: "
            f"{_snippet(body)}"
        )
    for index, item in enumerate(data):
        if not isinstance(item, dict):
            raise BadResponse(
                f"Dataquest's '{endpoint}' returned a list whose item {index} is "
                f"{_kind(item)}, expected objects: {_snippet(body)}"
            )
    return data


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)


def _snippet(body: str) -> str:
    text = body[:SNIPPET_CHARS]
    return repr(text) + ("..." if len(body) > SNIPPET_CHARS else "")


def _detail(body: str) -> str:
    """DRF's ``detail`` message when the body has one, else the start of the body."""
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("detail"), str):
        return str(data["detail"])
    text = " ".join(body.split())
    if not text:
        return "empty body"
    return text[:SNIPPET_CHARS] + ("..." if len(text) > SNIPPET_CHARS else "")


def _asked_wait(response: requests.Response, body: str) -> float | None:
    """Seconds the server asked us to wait: Retry-After, else DRF's message."""
    header = response.headers.get("Retry-After", "").strip()
    if header:
        try:
            value = float(header)
        except ValueError:
            value = math.nan  # an HTTP date: fall back to the body
        if math.isfinite(value) and value >= 0:
            return value
    match = _DRF_WAIT_RE.search(body)
    if match:
        return float(match.group(1))
    return None


_ERRNO_RE = re.compile(r"\[Errno -?\d+\] [^'\")]+")


def _network_detail(exc: requests.RequestException) -> str:
    """The useful part of a network error, e.g. '[Errno 111] Connection refused'."""
    text = str(exc)
    match = _ERRNO_RE.search(text)
    if match:
        return match.group(0).strip()
    for marker in ("Read timed out", "Connection aborted", "RemoteDisconnected", "timed out"):
        if marker in text:
            return marker
    return f"{type(exc).__name__}: {text[:SNIPPET_CHARS]}"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _display_url(url: str, params: Mapping[str, str]) -> str:
    if not params:
        return url
    return url + "?" + "&".join(f"{k}={v}" for k, v in params.items())
