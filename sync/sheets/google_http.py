"""Talking to Google: credentials, a bounded retrying HTTP client, error mapping.

``connect`` turns a ``GoogleConfig`` into a ``gspread.Client`` whose HTTP
client (``RetryingHTTPClient``) rewrites the Sheets API host to ``api_url``
(the emulator in tests), retries 429, 5xx and connection errors with capped
exponential backoff, full jitter and ``Retry-After``, within a total time
bound, and turns Google's errors into our ``SheetError``s.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import google.auth
import google.auth.exceptions
import gspread
import requests
from google.oauth2 import service_account
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient

from sync import logs
from sync.errors import (
    ConfigError,
    GridLimit,
    NotShared,
    QuotaExceeded,
    SheetError,
    SheetNotFound,
    SyncError,
)
from sync.ratelimit import Backoff, RetryBudget

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/spreadsheets"
GOOGLE_SHEETS = "https://sheets.googleapis.com"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How long one Sheets request may keep trying: capped exponential backoff
    with jitter (the same ``Backoff`` as the Teams API client), ``Retry-After``
    winning when Google sends it, within ``max_attempts`` and ``max_total`` s."""

    backoff: Backoff = field(default_factory=lambda: Backoff(base=1.0, cap=32.0))
    max_total: float = 120.0
    max_attempts: int = 12

    def budget(self) -> RetryBudget:
        """The counters of one call (never shared between calls)."""
        return RetryBudget(max_attempts=self.max_attempts, max_total_wait=self.max_total)


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class RetryingHTTPClient(HTTPClient):
    """gspread's HTTP client, pointed at ``api_url``, with one bounded retry policy.

    Structural ``:batchUpdate`` calls are not idempotent (an insert applied
    twice inserts twice), so they are retried only when Google says it did not
    process them (429, 503) or the connection never got through; every other
    call is retried on any transient failure.
    """

    api_url = GOOGLE_SHEETS
    policy = RetryPolicy()
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    clock: Callable[[], float] = staticmethod(time.monotonic)
    rng = random.Random()
    spreadsheet_label = "the spreadsheet"
    client_email: str | None = None

    def request(
        self,
        method: str,
        endpoint: str,
        params: Any = None,
        data: bytes | None = None,
        json: Mapping[str, Any] | None = None,
        files: Any = None,
        headers: MutableMapping[str, str] | None = None,
    ) -> requests.Response:
        if endpoint.startswith(GOOGLE_SHEETS):
            endpoint = self.api_url + endpoint[len(GOOGLE_SHEETS) :]
        structural = (
            method.lower() == "post"
            and endpoint.endswith(":batchUpdate")
            and ("/values:" not in endpoint)
        )
        started = self.clock()
        budget = self.policy.budget()
        while True:
            response: requests.Response | None = None
            failure: str
            try:
                response = self.session.request(
                    method=method,
                    url=endpoint,
                    json=json,
                    params=params,
                    data=data,
                    files=files,
                    headers=headers,
                    timeout=self.timeout,
                )
                self._remember_token()
                if response.ok:
                    log.debug("%s %s -> %s", method.upper(), _path(endpoint), response.status_code)
                    return response
                transient = response.status_code in RETRY_STATUSES
                if transient and structural and response.status_code not in (429, 503):
                    # Maybe applied, maybe not: never repeat it blindly; the next
                    # run reads the sheet and finishes the job.
                    raise QuotaExceeded(
                        f"Google answered HTTP {response.status_code} to a structural change "
                        f"of {self.spreadsheet_label}; the next run checks the sheet and "
                        "finishes the job"
                    )
                if not transient:
                    raise self.error(APIError(response))
                failure = f"HTTP {response.status_code}"
            except google.auth.exceptions.RefreshError as exc:
                raise ConfigError(
                    "Google refused the service account's credentials when asked for an "
                    f"access token ({_first_line(exc)}); check [google] credentials_file, "
                    "or create a new key for the service account"
                ) from None
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError,
            ) as exc:
                sent = not isinstance(exc, requests.ConnectTimeout) and not _refused(exc)
                if structural and sent:
                    raise QuotaExceeded(
                        f"the connection to Google broke during a structural change of "
                        f"{self.spreadsheet_label} ({type(exc).__name__}); the next run checks "
                        "the sheet and finishes the job"
                    ) from None
                failure = type(exc).__name__
            except google.auth.exceptions.TransportError as exc:
                failure = f"token request failed ({type(exc).__name__})"
            attempt = budget.attempt()
            retry_after = _retry_after(response)
            delay = (
                retry_after
                if retry_after is not None
                else self.policy.backoff.delay(attempt, self.rng)
            )
            if not budget.allows(delay):
                spent = self.clock() - started
                raise QuotaExceeded(
                    f"Google Sheets kept failing ({failure}) for {spent:.0f} s over {attempt} "
                    f"attempts on {self.spreadsheet_label}; quota or service trouble, try again "
                    "later"
                )
            log.info("Google Sheets answered %s; retrying in %.1f s.", failure, delay)
            self.sleep(delay)
            budget.spend(delay)

    def _remember_token(self) -> None:
        token = getattr(getattr(self, "auth", None), "token", None)
        if token:
            logs.redact(token)

    def error(self, exc: APIError) -> SyncError:
        """Our error for Google's answer."""
        code = exc.code
        message = str(exc.error.get("message", "")) if isinstance(exc.error, Mapping) else ""
        if code == 403 and ("has not been used" in message or "is disabled" in message):
            return ConfigError(
                f"the Google Sheets API is not enabled for the service account's project "
                f"(Google: {message[:300]}); enable it under APIs & Services > Library"
            )
        if code == 403:
            who = self.client_email or "the service account"
            return NotShared(
                f"{self.spreadsheet_label} is not shared with {who} (Google: {message}). "
                f"Open the spreadsheet, click Share, and add {who} as an Editor."
            )
        if code == 404:
            return SheetNotFound(
                f"{self.spreadsheet_label} was not found (Google: {message}); check "
                "[google] spreadsheet: the id or the URL of the spreadsheet"
            )
        if code == 429:
            return QuotaExceeded(f"Google Sheets quota exceeded: {message}")
        if "exceeds grid limits" in message or "above the limit of" in message:
            return GridLimit(f"Google Sheets refused the write: {message}")
        return SheetError(f"Google Sheets answered HTTP {code}: {' '.join(message.split())[:300]}")


def _refused(exc: Exception) -> bool:
    text = str(exc)
    return "Connection refused" in text or "NewConnectionError" in text


def _first_line(exc: Exception) -> str:
    text = str(exc.args[0]) if exc.args else str(exc)
    return logs.scrub(text.splitlines()[0] if text else type(exc).__name__)[:200]


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def load_credentials(credentials_file: Path | None) -> tuple[Any, str | None]:
    """Service-account credentials (or ADC) for the spreadsheets scope, and the e-mail."""
    if credentials_file is None:
        try:
            creds, _ = google.auth.default(scopes=[SCOPE])
        except google.auth.exceptions.DefaultCredentialsError as exc:
            raise ConfigError(
                "google.credentials_file is not set and no Application Default Credentials "
                f"were found ({_first_line(exc)}); set credentials_file to the service "
                "account's JSON key"
            ) from None
        email = getattr(creds, "service_account_email", None)
        return creds, email if isinstance(email, str) and "@" in email else None
    try:
        info = json.loads(credentials_file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"google.credentials_file: cannot read {credentials_file} ({exc.strerror})"
        ) from None
    except ValueError:
        raise ConfigError(
            f"google.credentials_file: {credentials_file} is not JSON; download the service "
            "account's key again (IAM > Service accounts > Keys > Add key > JSON)"
        ) from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        raise ConfigError(
            f"google.credentials_file: {credentials_file} is not a service-account key "
            '(its "type" must be "service_account")'
        )
    logs.redact(str(info.get("private_key", "")))
    try:
        creds = service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    except (ValueError, KeyError) as exc:
        raise ConfigError(
            f"google.credentials_file: {credentials_file} is not a usable service-account key "
            f"({logs.scrub(str(exc))[:200]})"
        ) from None
    return creds, str(info.get("client_email") or "") or None


def connect(
    credentials_file: Path | None,
    *,
    api_url: str = GOOGLE_SHEETS,
    spreadsheet_label: str = "the spreadsheet",
    policy: RetryPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] | None = None,
    timeout: float = 60.0,
) -> tuple[gspread.Client, str | None]:
    """A gspread client with our HTTP client, and the service account's e-mail."""
    creds, email = load_credentials(credentials_file)
    client = gspread.Client(creds, http_client=RetryingHTTPClient)
    http = client.http_client
    assert isinstance(http, RetryingHTTPClient)
    http.api_url = api_url.rstrip("/")
    http.spreadsheet_label = spreadsheet_label
    http.client_email = email
    http.rng = random.Random()
    if policy is not None:
        http.policy = policy
    if sleep is not None:
        http.sleep = sleep
    if clock is not None:
        http.clock = clock
    http.set_timeout(timeout)
    return client, email
