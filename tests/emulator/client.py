"""A real gspread client pointed at the emulator: the only change is the base
URL, rewritten in an ``HTTPClient`` subclass (gspread copies its URL constants
at import, so patching them would do nothing)."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import gspread
from google.oauth2.service_account import Credentials
from gspread.http_client import HTTPClient
from requests import Response

SCOPES = (
    "https://www.googleapis.com/auth/spreadsheets",
    "https://www.googleapis.com/auth/drive",
)
GOOGLE_PREFIXES = ("https://sheets.googleapis.com", "https://www.googleapis.com")


def rewrite(url: str, base: str) -> str:
    """Swap Google's API hosts for ``base`` (e.g. ``http://127.0.0.1:PORT``)."""
    for prefix in GOOGLE_PREFIXES:
        if url.startswith(prefix):
            return base + url[len(prefix) :]
    return url


def http_client_for(base_url: str) -> type[HTTPClient]:
    """An ``HTTPClient`` subclass whose requests go to ``base_url``."""

    class EmulatorHTTPClient(HTTPClient):
        def request(
            self,
            method: str,
            endpoint: str,
            params: Any = None,
            data: bytes | None = None,
            json: Mapping[str, Any] | None = None,
            files: Any = None,
            headers: MutableMapping[str, str] | None = None,
        ) -> Response:
            return super().request(
                method,
                rewrite(endpoint, base_url),
                params=params,
                data=data,
                json=json,
                files=files,
                headers=headers,
            )

    return EmulatorHTTPClient


def gspread_client_for(
    emulator: Any, service_account_json: Path, scopes: tuple[str, ...] = SCOPES
) -> gspread.Client:
    """A ``gspread.Client`` using the real service-account flow against ``emulator``."""
    credentials = Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
        str(service_account_json), scopes=list(scopes)
    )
    return gspread.Client(credentials, http_client=http_client_for(emulator.url))
