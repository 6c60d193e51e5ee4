"""Pytest fixtures for the Teams API sandbox (filled in by the sandbox work)."""
