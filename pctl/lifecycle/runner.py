"""Run a lifecycle flow in this process for the CLI: Prefect env first, progress lines to the terminal.

Plain lines go to stderr prefixed with the elapsed seconds. Live lines (the cluster stack's progress)
replace each other in place on a terminal (rich, imported only then); elsewhere each distinct one is
printed once as a plain line. Prefect's own console output is off unless --verbose: the run's lines are
pctl's, once each, and a failure is one message (the UI keeps Prefect's full log).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import click


def prepare(verbose: bool = False) -> str:
    """Choose the Prefect API (running server, else ephemeral) and quiet Prefect's own console lines.

    Call before the first `import prefect` (it also fixes up an earlier import). Returns a one-line
    description of the choice.
    """
    from pctl.prefect_env import configure, quiet_console

    target = configure()
    quiet_console(verbose)
    return target.describe()


class _Display:
    """Receives (message, live) from pctl.lifecycle.progress."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.start = time.monotonic()
        self.tty = sys.stderr.isatty()
        self.live: Any = None
        self.last_plain_live: str | None = None

    def _stamp(self, message: str) -> str:
        return f"[{time.monotonic() - self.start:6.1f}s] {message}"

    def __call__(self, message: str, live: bool = False) -> None:
        if not self.show:
            return
        if live and self.tty:
            from rich.text import Text

            self._live().update(Text(self._stamp(message)))  # Text: no markup, no highlighting
            return
        if live:  # not a terminal: one plain line per change (the elapsed part alone does not count)
            key = message.rsplit(" | ", 1)[0]
            if key == self.last_plain_live:
                return
            self.last_plain_live = key
        if self.live is not None:
            self.live.console.print(self._stamp(message), markup=False, highlight=False)
        else:
            click.echo(self._stamp(message), err=True)

    def _live(self) -> Any:
        if self.live is None:
            from rich.console import Console
            from rich.live import Live

            self.live = Live("", console=Console(stderr=True), transient=True, auto_refresh=True,
                             refresh_per_second=4)
            self.live.start()
        return self.live

    def stop(self) -> None:
        if self.live is not None:
            live, self.live = self.live, None
            last = live.renderable
            live.stop()
            if last:
                click.echo(getattr(last, "plain", str(last)), err=True)  # the last live line stays on screen, as a plain line

    def ask_on_interrupt(self, cluster: str, step: str) -> str:
        """Ctrl-C during a create, on a terminal: roll back, or keep what exists (a cluster keeps building)."""
        self.stop()
        click.echo(f"\nInterrupted during {step}.", err=True)
        answer = click.prompt(
            f"Roll back (delete what this run created for {cluster}) or keep it (a cluster keeps building; "
            "re-run the create to resume)?", type=click.Choice(["rollback", "keep"]), default="rollback", err=True)
        return answer


def run_flow(fn: Callable[..., Any], *args: Any, show: bool = True, **kwargs: Any) -> Any:
    """Call a flow in-process with progress lines on stderr; Ctrl-C asks before rolling back (terminal)."""
    from pctl.lifecycle import interrupt, progress
    from pctl.prefect_env import run_settings

    display = _Display(show)
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if interactive:
        interrupt.set_asker(display.ask_on_interrupt)
    try:
        with progress.listening(display), run_settings():
            return fn(*args, **kwargs)
    finally:
        display.stop()
        interrupt.set_asker(None)
