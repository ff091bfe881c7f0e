"""Run a lifecycle flow in this process for the CLI: Prefect env first, progress lines to the terminal."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import click


def prepare(verbose: bool = False) -> str:
    """Choose the Prefect API (running server, else ephemeral) and quiet Prefect's own console lines.

    Must run before the first `import prefect`. Returns a one-line description of the choice.
    """
    from pctl.prefect_env import configure

    if not verbose:
        # Our progress lines say what happens; Prefect's per-task INFO lines would drown them.
        # Only the console handler is quieted: the Prefect UI still gets every log line.
        os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    return configure().describe()


def run_flow(fn: Callable[..., Any], *args: Any, show: bool = True, **kwargs: Any) -> Any:
    """Call a flow in-process with progress lines on stderr (prefixed with elapsed seconds)."""
    from pctl.lifecycle import progress
    from pctl.prefect_env import run_settings

    start = time.monotonic()

    def echo(message: str) -> None:
        if show:
            click.echo(f"[{time.monotonic() - start:6.1f}s] {message}", err=True)

    with progress.listening(echo), run_settings():
        return fn(*args, **kwargs)
