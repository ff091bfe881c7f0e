"""pctl.prefect_env: env defaults and the choice between a configured, local or ephemeral Prefect API.

The "local server" here is a real HTTP server on 127.0.0.1 that answers /api/health (no mock): what
configure() checks is exactly that endpoint.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from pctl import prefect_env


class _Health(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server API
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server():
    srv = HTTPServer(("127.0.0.1", 0), _Health)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/api"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path))
    return tmp_path


def _record(home, url: str) -> None:
    (home / "server").mkdir(exist_ok=True)
    (home / "server" / "server.json").write_text(json.dumps({"api_url": url}))


def test_explicit_api_url_wins_and_quiet_defaults_do_not_override_the_user(home, health_server):
    _record(home, health_server)
    env = {"PREFECT_API_URL": "https://api.example.org/api", "DO_NOT_TRACK": "0"}
    target = prefect_env.configure(env)
    assert target.mode == "configured"
    assert env["PREFECT_API_URL"] == "https://api.example.org/api"
    assert env["DO_NOT_TRACK"] == "0"  # setdefault: the user's choice stays
    assert env["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"


def test_healthy_local_server_is_used(home, health_server):
    _record(home, health_server)
    env: dict[str, str] = {}
    target = prefect_env.configure(env)
    assert target == prefect_env.PrefectTarget("local", health_server)
    assert env["PREFECT_API_URL"] == health_server
    assert env["DO_NOT_TRACK"] == "1"


def test_no_state_file_means_ephemeral(home):
    env: dict[str, str] = {}
    target = prefect_env.configure(env)
    assert target.mode == "ephemeral" and target.api_url is None
    assert "PREFECT_API_URL" not in env
    assert "pctl server up" in target.describe()


def test_dead_recorded_server_falls_back_to_ephemeral(home, health_server):
    # A port nothing listens on: the state file outlived its server.
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/api"
    _record(home, dead)
    env: dict[str, str] = {}
    assert prefect_env.configure(env, check_timeout=0.5).mode == "ephemeral"
    assert "PREFECT_API_URL" not in env


def test_corrupt_state_file_is_ignored(home):
    (home / "server").mkdir()
    (home / "server" / "server.json").write_text("{not json")
    assert prefect_env.configure({}).mode == "ephemeral"


def test_configure_does_not_import_prefect():
    import subprocess
    import sys

    code = "import sys, pctl.prefect_env as p; p.configure({}); print('prefect' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_run_settings_turns_the_flow_heartbeat_off_and_restores_it():
    from prefect.settings import get_current_settings

    before = get_current_settings().flows.heartbeat_frequency
    assert before is not None
    with prefect_env.run_settings():
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency == before
