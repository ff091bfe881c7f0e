"""What a Ctrl-C during a create does: roll back what this run made, or keep it (a cluster keeps building).

The CLI installs an asker when stdin is a terminal (`set_asker`); anywhere else (a deployment, a pipe,
CI) the answer comes from PCTL_ON_INTERRUPT=rollback|keep, default `rollback`: nothing is left running
that nobody asked for. A second Ctrl-C while the question is open counts as `keep` (leave at once; the
state records what exists, `pctl delete NAME` removes it).

A Ctrl-C must never be lost. Python turns SIGINT into a KeyboardInterrupt wherever the main thread is, and
one raised inside a finalizer (`__del__`, a weakref callback, garbage collection of a botocore response) or
caught by a library's broad `except BaseException` vanishes: Python prints "Exception ignored" and the
create goes on waiting for its cluster for twenty minutes. So the CLI's handler (`install_handler`) also
leaves a mark, and the long waits sleep through `sleep()`, which raises KeyboardInterrupt while the mark is
set. Whoever handles the interrupt (the create's rollback, the delete) calls `handled()`, so the rollback's
own waits run; a second Ctrl-C during it sets the mark again.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

ROLLBACK, KEEP = "rollback", "keep"
DEFAULT = ROLLBACK
_asker: Callable[[str, str], str] | None = None


def set_asker(fn: Callable[[str, str], str] | None) -> None:
    """fn(cluster, step) -> 'rollback' or 'keep'; None: non-interactive (environment, then the default)."""
    global _asker
    _asker = fn


def choice(cluster: str, step: str) -> str:
    if _asker is not None:
        try:
            answer = _asker(cluster, step)
        except (KeyboardInterrupt, EOFError):
            return KEEP
        return KEEP if answer == KEEP else ROLLBACK
    env = os.environ.get("PCTL_ON_INTERRUPT", DEFAULT).strip().lower()
    return KEEP if env == KEEP else ROLLBACK


_pending = threading.Event()


def _on_sigint(signum: int, frame: object) -> None:
    _pending.set()
    raise KeyboardInterrupt


def install_handler() -> bool:
    """Ctrl-C raises KeyboardInterrupt as before, and leaves the mark `sleep()` checks. Main thread only,
    and only over Python's default handler: an inherited SIG_IGN (a job started in the background by a
    script) is the caller's choice and stays. True when installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) not in (signal.default_int_handler, _on_sigint):
        return False
    _pending.clear()
    signal.signal(signal.SIGINT, _on_sigint)
    return True


def pending() -> bool:
    """A Ctrl-C came and nobody has handled it yet."""
    return _pending.is_set()


def handled() -> None:
    """The interrupt was acted on (rollback, recorded failure): later waits may run again."""
    _pending.clear()


def sleep(seconds: float) -> None:
    """time.sleep for poll loops; raises KeyboardInterrupt when a Ctrl-C is pending (before and after)."""
    if _pending.is_set():
        raise KeyboardInterrupt
    time.sleep(seconds)
    if _pending.is_set():
        raise KeyboardInterrupt
