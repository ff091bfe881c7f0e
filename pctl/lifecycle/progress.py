"""Progress lines from long steps, fanned out to listeners (the CLI prints them as they come).

Tasks log to Prefect too; this is how a CLI running the flow in-process shows the same lines live.

Two kinds of line: `emit(message)` is a plain line (printed once); `emit(message, live=True)` is a status
line that replaces the previous live line in a terminal (the stack's "12/40 resources, current event,
elapsed"), and is printed as a plain line elsewhere. Listeners take `(message, live)`; a one-argument
listener gets only the message.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Iterator
from typing import Any

_listeners: list[Callable[..., None]] = []


def _arity(fn: Callable[..., Any]) -> int:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return 1
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return 2
    return len([p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)])


def emit(message: str, live: bool = False) -> None:
    for fn in list(_listeners):
        with contextlib.suppress(Exception):  # a broken terminal must not fail a create
            if _arity(fn) >= 2:
                fn(message, live)
            else:
                fn(message)


@contextlib.contextmanager
def listening(fn: Callable[..., None]) -> Iterator[None]:
    _listeners.append(fn)
    try:
        yield
    finally:
        _listeners.remove(fn)
