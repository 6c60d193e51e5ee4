"""Shared pytest wiring: fixture plugins owned by each part of the suite."""

pytest_plugins = [
    "tests.emulator.plugin",
    "tests.sandbox_plugin",
]
