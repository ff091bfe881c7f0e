"""Small process helpers shared by the nodes modules: logging, running, and our own PIDs."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


class NodesError(Exception):
    """A failure to report as one line (exit 1), never as a traceback."""


def log(msg: str) -> None:
    print(f"nodes: {msg}", file=sys.stderr, flush=True)


def run(argv: list[str], *, quiet: bool = False, timeout: float | None = None, **kw) -> subprocess.CompletedProcess:
    """Run ARGV; on failure raise NodesError with the tail of its output."""
    proc = subprocess.run(argv, capture_output=quiet, text=True, timeout=timeout, **kw)
    if proc.returncode != 0:
        tail = ((proc.stdout or "") + (proc.stderr or "")).strip()[-2000:]
        raise NodesError(f"{' '.join(argv[:4])}... failed (exit {proc.returncode}){': ' + tail if tail else ''}")
    return proc


def start_time(pid: int) -> str | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot): with the PID, names one process for ever."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[19]


def is_ours(pid: int, started: str) -> bool:
    """PID still runs and is the process we recorded (not a reused PID, not a zombie)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z" and start_time(pid) == started


def kill_recorded(pid: int, started: str, timeout: float = 10) -> None:
    """SIGKILL a recorded PID (only if it is still ours) and wait, bounded, until it is gone."""
    if not is_ours(pid, started):
        return
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while is_ours(pid, started) and time.monotonic() < deadline:
        time.sleep(0.05)
    if is_ours(pid, started):
        raise NodesError(f"process {pid} did not die")
