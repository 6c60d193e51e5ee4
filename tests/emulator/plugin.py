"""Pytest fixtures for the Sheets API emulator (filled in by the emulator work)."""
