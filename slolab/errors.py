"""Errors every slolab command shares (a leaf module: it imports nothing of slolab)."""

from __future__ import annotations

__all__ = ["CLIError"]


class CLIError(Exception):
    """An error to show the user as one line, without a traceback (exit code 2)."""
