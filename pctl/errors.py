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


class ValidationFailed(PctlError):
    """The template (or the rendered config) does not pass the checks; the message lists every problem."""


class Interrupted(PctlError):
    """The user pressed Ctrl-C; the message says what was kept or cleaned up."""

    exit_code = 130
