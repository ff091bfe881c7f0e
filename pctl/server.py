"""A local Prefect server and worker run as background processes, managed from plain Python.

`up()` starts `prefect server start` and a process-type worker on the `pctl-local` work pool, each in its
own session (process group), and records them under $PCTL_HOME/server/:

    server.json            the API and UI addresses (pctl.prefect_env reads it to find the server)
    server.pid, worker.pid "<pid> <start-time>"; the start time guards against PID reuse
    server.log, worker.log their output

`down()` stops only processes whose PID file names a live process with the recorded start time AND a
command line that is the one pctl launched; anything else is reported as stale and its PID file removed.
No prefect import here: the server and worker are subprocesses.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pctl.errors import PctlError
from pctl.prefect_env import QUIET_DEFAULTS, healthy, pctl_home, server_state_file

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
WORK_POOL = "pctl-local"
ROLES = ("server", "worker")  # start order; stop in reverse


@dataclass(frozen=True)
class ProcessRecord:
    role: str
    pid: int
    start_time: str  # opaque token from the OS (clock ticks on Linux)
    marker: str  # a substring the command line must contain

    def line(self) -> str:
        return json.dumps(asdict(self))


@dataclass
class ServerStatus:
    api_url: str | None
    ui_url: str | None
    healthy: bool
    processes: dict[str, str] = field(default_factory=dict)  # role -> "running pid N" | "not running" | "stale"
    work_pool: str | None = None

    @property
    def running(self) -> bool:
        return self.healthy


# ---- locations --------------------------------------------------------------------------------------------

def server_dir() -> Path:
    d = pctl_home() / "server"
    d.mkdir(parents=True, exist_ok=True)
    return d


def prefect_home() -> Path:
    """The managed server's PREFECT_HOME (its SQLite DB lives here, apart from the user's ~/.prefect)."""
    return server_dir() / "prefect-home"


def pid_file(role: str) -> Path:
    return server_dir() / f"{role}.pid"


def log_file(role: str) -> Path:
    return server_dir() / f"{role}.log"


# ---- process identity -------------------------------------------------------------------------------------

def _start_time(pid: int) -> str | None:
    """The process start time, or None when there is no such process."""
    stat = Path(f"/proc/{pid}/stat")
    if stat.parent.parent.is_dir() and Path("/proc/self/stat").exists():
        try:
            # Field 22 (starttime); split after the ")" that ends the command name, which may hold spaces.
            return stat.read_text().rsplit(")", 1)[1].split()[19]
        except (OSError, IndexError):
            return None
    out = subprocess.run(["ps", "-o", "lstart=", "-p", str(pid)], capture_output=True, text=True, check=False)
    return out.stdout.strip() or None


def _same_process_running(rec: ProcessRecord) -> bool:
    """The recorded process still exists and is not a zombie."""
    if _start_time(rec.pid) != rec.start_time:
        return False
    try:
        return Path(f"/proc/{rec.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        out = subprocess.run(["ps", "-o", "stat=", "-p", str(rec.pid)], capture_output=True, text=True, check=False)
        return bool(out.stdout.strip()) and not out.stdout.strip().startswith("Z")


def _command_line(pid: int) -> str:
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False)
        return out.stdout.strip()


def read_record(role: str) -> ProcessRecord | None:
    try:
        return ProcessRecord(**json.loads(pid_file(role).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def is_ours(rec: ProcessRecord) -> bool:
    """The PID is alive, started when we recorded, and runs the command we launched."""
    return _start_time(rec.pid) == rec.start_time and rec.marker in _command_line(rec.pid)


def _alive(role: str) -> bool:
    rec = read_record(role)
    return rec is not None and is_ours(rec)


# ---- status -----------------------------------------------------------------------------------------------

def read_state() -> dict:
    try:
        data = json.loads(server_state_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def status() -> ServerStatus:
    state = read_state()
    api = state.get("api_url")
    procs: dict[str, str] = {}
    for role in ROLES:
        rec = read_record(role)
        if rec is None:
            procs[role] = "not running"
        elif is_ours(rec):
            procs[role] = f"running (pid {rec.pid})"
        else:
            procs[role] = "stale pid file (process gone)"
    return ServerStatus(
        api_url=api,
        ui_url=state.get("ui_url"),
        healthy=bool(api) and healthy(api, timeout=2.0),
        processes=procs,
        work_pool=state.get("work_pool"),
    )


# ---- start ------------------------------------------------------------------------------------------------

def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _wait_healthy(api_url: str, timeout: float) -> bool:
    rec = read_record("server")
    deadline = time.monotonic() + timeout
    while not healthy(api_url, timeout=2.0):
        # Exited, not is_ours(): just after fork the child still shows our own command line until it execs.
        if time.monotonic() > deadline or rec is None or not _same_process_running(rec):
            return False
        time.sleep(0.25)
    return True


def _spawn(role: str, argv: list[str], env: dict[str, str], marker: str) -> ProcessRecord:
    with open(log_file(role), "ab") as out:
        # A new session: the process and its children (the worker's flow runs) form one group that
        # down() can signal, and Ctrl-C in the user's terminal does not reach them.
        proc = subprocess.Popen(
            argv, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, cwd=str(server_dir()),
        )
    started = None
    for _ in range(50):  # /proc entry appears at once; ps may lag a moment
        started = _start_time(proc.pid)
        if started:
            break
        time.sleep(0.02)
    rec = ProcessRecord(role=role, pid=proc.pid, start_time=started or "", marker=marker)
    pid_file(role).write_text(rec.line(), encoding="utf-8")
    deadline = time.monotonic() + 5
    while not is_ours(rec) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)  # until the child has exec'd: before that it shows our own command line
    return rec


def base_env(api_url: str) -> dict[str, str]:
    env = dict(os.environ)
    for k, v in QUIET_DEFAULTS.items():
        env.setdefault(k, v)
    env["PREFECT_API_URL"] = api_url
    return env


def up(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    worker: bool = True,
    work_pool: str = WORK_POOL,
    timeout: float = 120.0,
    worker_poll_seconds: int = 2,
) -> ServerStatus:
    """Start the server (and a worker) unless ours is already up; wait until healthy. Idempotent."""
    if _alive("server"):
        # Ours is running (maybe still starting, or busy): wait for it rather than start another.
        api = read_state().get("api_url") or ""
        if not _wait_healthy(api, timeout):
            raise PctlError(
                "a pctl-started Prefect server is running but not healthy",
                f"see {log_file('server')}; `pctl server down` then `pctl server up`",
            )
        if worker and not _alive("worker"):
            _start_worker(api, work_pool, worker_poll_seconds)
        return status()

    if not _port_free(host, port):
        raise PctlError(
            f"port {port} on {host} is already in use (not by a server pctl started)",
            "choose another with `pctl server up --port N`, or point PREFECT_API_URL at that server",
        )
    api_url = f"http://{host}:{port}/api"
    ui_url = f"http://{host}:{port}"
    env = base_env(api_url)
    env["PREFECT_HOME"] = str(prefect_home())
    env["PREFECT_UI_ENABLED"] = "true"
    # The UI must call back to the same address the browser uses.
    env["PREFECT_UI_API_URL"] = api_url
    marker = f"server start --host {host} --port {port}"
    _spawn(
        "server",
        [sys.executable, "-m", "prefect", "server", "start", "--host", host, "--port", str(port)],
        env, marker,
    )
    server_state_file().write_text(
        json.dumps({"api_url": api_url, "ui_url": ui_url, "work_pool": work_pool if worker else None}),
        encoding="utf-8",
    )
    if not _wait_healthy(api_url, timeout):
        down()
        tail = log_file("server").read_text(errors="replace")[-1500:]
        raise PctlError(f"the Prefect server did not become healthy; its log ends:\n{tail}",
                        f"full log: {log_file('server')}")
    if worker:
        _start_worker(api_url, work_pool, worker_poll_seconds)
    return status()


def _start_worker(api_url: str, work_pool: str, poll_seconds: int) -> ProcessRecord:
    env = base_env(api_url)
    # Poll the local server often: a run starts within ~2 s instead of the default 10 s.
    env.setdefault("PREFECT_WORKER_QUERY_SECONDS", str(poll_seconds))
    marker = f"worker start --pool {work_pool}"
    return _spawn(
        "worker",
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", work_pool, "--type", "process"],
        env, marker,
    )


# ---- stop -------------------------------------------------------------------------------------------------

def _stop(rec: ProcessRecord, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(rec.pid, sig)  # its own session: pgid == pid
        except ProcessLookupError:
            return
        except PermissionError:
            os.kill(rec.pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):  # reap it when it is our child (tests, `up` failures)
                os.waitpid(rec.pid, os.WNOHANG)
            # Not is_ours(): an exiting process's command line reads empty before the process is gone.
            if not _same_process_running(rec):
                _reap(rec.pid)  # an exiting child turns zombie a moment later: wait (bounded) to reap it
                return
            time.sleep(0.1)


def _reap(pid: int, timeout: float = 3.0) -> None:
    """Collect `pid`'s exit status when it is our child, so no zombie is left; others' parents do that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            reaped, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return  # not our child, or already reaped
        if reaped == pid:
            return
        time.sleep(0.05)


def down(timeout: float = 15.0) -> dict[str, str]:
    """Stop what `up()` started (worker first). Returns role -> what happened."""
    done: dict[str, str] = {}
    for role in reversed(ROLES):
        rec = read_record(role)
        if rec is None:
            if pid_file(role).exists():
                done[role] = "unreadable pid file removed"
                pid_file(role).unlink()
            continue
        if is_ours(rec):
            _stop(rec, timeout)
            done[role] = f"stopped pid {rec.pid}"
        else:
            done[role] = f"not running (stale pid {rec.pid}; left alone)"
        pid_file(role).unlink(missing_ok=True)
    server_state_file().unlink(missing_ok=True)
    return done
