"""Prefect environment defaults for pctl: call `configure()` BEFORE the first `import prefect`.

Prefect reads its settings from the environment when it is imported, so this module is plain Python
(no prefect import) and only sets environment variables:

* what costs time for no value here is turned off: telemetry and server analytics (offline they also
  log errors, once "database is locked");
* which API to use: an explicit PREFECT_API_URL (user's choice, e.g. Prefect Cloud) wins; else the local
  server that `pctl server up` started, when it answers its health check; else nothing, and Prefect
  falls back to its ephemeral mode (a temporary server per run: ~14 s instead of ~3 s, see the notes).

The per-run flow heartbeat cannot be turned off through the environment (the setting is an int >= 30;
only None disables it), so in-process runs wrap the flow call in `run_settings()`, which does it through
Prefect's own settings context.
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Mode = Literal["configured", "local", "ephemeral"]

# Environment defaults: applied with setdefault, so a user's explicit value always wins.
QUIET_DEFAULTS: dict[str, str] = {
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_UI_SHOW_PROMOTIONAL_CONTENT": "false",
}


@dataclass(frozen=True)
class PrefectTarget:
    mode: Mode
    api_url: str | None  # None in ephemeral mode

    def describe(self) -> str:
        if self.mode == "ephemeral":
            return "Prefect: no local server (`pctl server up` makes runs ~4x faster); using a temporary one"
        return f"Prefect: {self.mode} server at {self.api_url}"


def pctl_home() -> Path:
    # Same rule as pctl.state.home(); duplicated so this module stays import-free and instant.
    return Path(os.environ.get("PCTL_HOME") or Path.home() / ".pctl")


def server_state_file() -> Path:
    """Where `pctl server up` records the server it started (pctl.server writes it)."""
    return pctl_home() / "server" / "server.json"


def healthy(api_url: str, timeout: float = 1.0) -> bool:
    """True when `<api_url>/health` answers 200. Bypasses proxies: the server is local."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{api_url.rstrip('/')}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (OSError, ValueError):
        return False


def local_server_url() -> str | None:
    """The API URL of the server `pctl server up` started, if its state file names one."""
    try:
        data = json.loads(server_state_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url = data.get("api_url") if isinstance(data, dict) else None
    return url if isinstance(url, str) and url else None


def configure(env: dict[str, str] | None = None, *, check_timeout: float = 1.0) -> PrefectTarget:
    """Set Prefect env defaults and choose the API. Call before importing prefect.

    `env` defaults to os.environ (tests pass a dict). Returns what was chosen; idempotent.
    """
    env = os.environ if env is None else env
    for key, value in QUIET_DEFAULTS.items():
        env.setdefault(key, value)
    explicit = env.get("PREFECT_API_URL")
    if explicit:
        return PrefectTarget("configured", explicit)
    url = local_server_url()
    if url and healthy(url, timeout=check_timeout):
        env["PREFECT_API_URL"] = url
        return PrefectTarget("local", url)
    return PrefectTarget("ephemeral", None)


def ephemeral() -> bool:
    """True when no Prefect API is set: runs go to a temporary server that is gone afterwards."""
    return not os.environ.get("PREFECT_API_URL")


def quiet_console(verbose: bool = False) -> None:
    """Prefect's own console lines off (they would repeat pctl's progress lines, and print a failed run's
    traceback several times); with `verbose`, its INFO lines on. The Prefect UI still gets every line.

    Works whether or not prefect was imported already (the env var for later imports, the live handlers
    of every logger for an earlier one).
    """
    import logging
    import sys

    level = "INFO" if verbose else "CRITICAL"
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = level
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_FLOW_RUNS_LEVEL"] = level
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_TASK_RUNS_LEVEL"] = level
    if "prefect" not in sys.modules:
        return
    loggers = [logging.getLogger(), *(logging.getLogger(n) for n in list(logging.root.manager.loggerDict))]
    for logger in loggers:
        for handler in getattr(logger, "handlers", []):
            if type(handler).__module__.startswith("prefect") and isinstance(handler, logging.StreamHandler):
                handler.setLevel(logging.INFO if verbose else logging.CRITICAL + 1)


@contextlib.contextmanager
def run_settings() -> Iterator[None]:
    """Wrap an in-process flow call: turns the flow-run heartbeat off.

    Why safe here: the heartbeat lets a server mark a run Crashed when its process dies silently; a run in
    the user's own terminal reports its own failure, and the heartbeat thread costs ~0.9 s at exit.
    Worker-launched runs (deployments) keep heartbeats. Imports prefect (call after configure()).
    """
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if ephemeral():
        detach_temporary_server()
    with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield


def detach_temporary_server() -> None:
    """Start Prefect's temporary server in its own session.

    Ctrl-C in a terminal signals the whole foreground process group. The temporary server is a child of
    the pctl process, so it would die with the Ctrl-C, and the rollback the Ctrl-C starts (Prefect tasks)
    could no longer report to it. Prefect gives no option for this; its server module gets a subprocess
    namespace whose Popen sets start_new_session. Prefect still stops the server at exit.
    """
    import subprocess
    import types

    import prefect.server.api.server as srv

    if getattr(srv.subprocess, "_pctl_detached", False):
        return

    class _Popen(subprocess.Popen):  # type: ignore[type-arg]
        def __init__(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            kwargs.setdefault("start_new_session", True)
            super().__init__(*args, **kwargs)

    shim = types.ModuleType("subprocess")
    shim.__dict__.update({k: v for k, v in vars(subprocess).items() if not k.startswith("__")})
    shim.Popen = _Popen  # type: ignore[attr-defined]
    shim._pctl_detached = True  # type: ignore[attr-defined]
    srv.subprocess = shim
