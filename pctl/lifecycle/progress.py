"""Progress lines from long steps, fanned out to listeners (the CLI prints them as they come).

Tasks log to Prefect too; this is how a CLI running the flow in-process shows the same lines live.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

_listeners: list[Callable[[str], None]] = []


def emit(message: str) -> None:
    for fn in list(_listeners):
        with contextlib.suppress(Exception):  # a broken terminal must not fail a create
            fn(message)


@contextlib.contextmanager
def listening(fn: Callable[[str], None]) -> Iterator[None]:
    _listeners.append(fn)
    try:
        yield
    finally:
        _listeners.remove(fn)
