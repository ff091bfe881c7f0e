"""Bounded polling: every wait in pctl/aws has a timeout and a poll interval the caller controls."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from pctl.errors import AwsError

T = TypeVar("T")

# Real AWS: seconds between describes. Tests under moto pass tiny values.
DEFAULT_POLL_S = 5.0


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout_s: float,
    poll_s: float = DEFAULT_POLL_S,
    what: str,
    hint: str | None = None,
) -> T:
    """Call ``check`` until it returns something other than None/False; raise AwsError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            raise AwsError(f"Timed out after {timeout_s:.0f} s waiting for {what}.", hint)
        time.sleep(max(0.0, min(poll_s, deadline - time.monotonic())))
