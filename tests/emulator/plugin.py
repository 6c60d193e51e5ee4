"""Pytest fixtures for the Sheets API emulator.

- ``emulator``: a started ``Emulator`` on a free 127.0.0.1 port, stopped after the test.
- ``service_account_file``: a throw-away service-account JSON the emulator trusts.
- ``gspread_client``: a real ``gspread.Client`` authenticated through google-auth's
  service-account flow against the emulator's token endpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gspread
import pytest

from .client import gspread_client_for
from .server import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    emu = Emulator().start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
def service_account_file(emulator: Emulator, tmp_path: Path) -> Path:
    return emulator.service_account(tmp_path / "credentials")


@pytest.fixture
def gspread_client(emulator: Emulator, service_account_file: Path) -> gspread.Client:
    return gspread_client_for(emulator, service_account_file)
