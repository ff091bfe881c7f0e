"""Errors that reach the user: a message, an optional hint, and an exit code. Never a traceback."""

from __future__ import annotations


class PctlError(Exception):
    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class NotFound(PctlError):
    pass


class ConfigError(PctlError):
    pass


class StateError(PctlError):
    pass


class AwsError(PctlError):
    pass
