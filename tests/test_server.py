"""pctl.server: start a real local Prefect server + worker in the background, report, stop only ours."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pctl import prefect_env, server
from pctl.errors import PctlError


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    return tmp_path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_down_leaves_a_process_it_did_not_start_alone(home):
    """A PID file naming someone else's process (PID reuse, or a hand edit) must not get it killed."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        rec = server.ProcessRecord("server", other.pid, server._start_time(other.pid) or "", "server start --host")
        server.pid_file("server").write_text(rec.line())
        assert server.status().processes["server"].startswith("stale")
        done = server.down()
        assert "left alone" in done["server"]
        assert other.poll() is None and _alive(other.pid)
        assert not server.pid_file("server").exists()
    finally:
        other.kill()
        other.wait()


def test_down_with_nothing_started_is_a_no_op(home):
    assert server.down() == {}
    st = server.status()
    assert not st.healthy and set(st.processes.values()) == {"not running"}


def test_up_refuses_a_port_someone_else_holds(home):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(PctlError, match="already in use"):
            server.up(port=port, worker=False)
    assert not server.pid_file("server").exists()


@pytest.mark.slow
@pytest.mark.prefect
def test_up_status_down_round_trip(home):
    port = _free_port()
    st = server.up(port=port, worker=True, work_pool="pctl-test-pool")
    try:
        assert st.healthy
        assert st.ui_url == f"http://127.0.0.1:{port}"
        assert st.processes["server"].startswith("running") and st.processes["worker"].startswith("running")
        # The state file is what pctl.prefect_env finds: flows run by the CLI now use this server.
        assert json.loads(prefect_env.server_state_file().read_text())["api_url"] == st.api_url
        env: dict[str, str] = {}
        assert prefect_env.configure(env).mode == "local" and env["PREFECT_API_URL"] == st.api_url
        # Idempotent: a second up reuses what runs.
        pids = {r: server.read_record(r).pid for r in server.ROLES}
        again = server.up(port=port, worker=True, work_pool="pctl-test-pool")
        assert again.healthy and {r: server.read_record(r).pid for r in server.ROLES} == pids
    finally:
        done = server.down()
    assert set(done) == {"server", "worker"} and all(v.startswith("stopped") for v in done.values())
    still = {r: Path(f"/proc/{p}/stat").read_text()[:60] for r, p in pids.items() if _alive(p)}
    assert not still, still
    assert not prefect_env.server_state_file().exists()
    assert prefect_env.configure({}).mode == "ephemeral"


def test_cli_status_reports_nothing_running(home):
    from click.testing import CliRunner

    from pctl.cli.commands.server import cli

    res = CliRunner().invoke(cli, ["status", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["healthy"] is False and data["processes"] == {"server": "not running", "worker": "not running"}
