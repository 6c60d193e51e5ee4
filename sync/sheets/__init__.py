"""Sheet backends: one per destination, behind the ``Backend`` protocol."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sync.config import Config
    from sync.sheets.base import Backend


def open_backend(config: Config) -> Backend:
    """The backend the config selects: ``[google]`` or ``[workbook]``."""
    if config.google is not None:
        from sync.sheets.google import GoogleBackend

        return GoogleBackend.from_config(config.google)
    assert config.workbook is not None
    from sync.sheets.workbook import WorkbookBackend

    return WorkbookBackend(config.workbook.path)
