"""A local Google Sheets API v4 emulator (a test double, not product code).

``Emulator`` serves the Sheets API v4 (and enough Drive v3) on 127.0.0.1 for
gspread and google-auth to talk to unchanged; ``gspread_client_for`` builds a
real gspread client pointed at it. See ``server.py`` for the controls.
"""

from __future__ import annotations

from .auth import TokenRequest
from .client import gspread_client_for, http_client_for
from .controls import LoggedRequest
from .person import Person
from .server import Emulator

__all__ = [
    "Emulator",
    "LoggedRequest",
    "Person",
    "TokenRequest",
    "gspread_client_for",
    "http_client_for",
]
