"""State files an attacker or a crash left behind (issue 14): renamed, deeply nested, leftover temporaries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pctl import state
from pctl.errors import StateError
from tests.conftest import REPO


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def saved(name: str, region: str = "us-east-1") -> Path:
    return state.save(state.ClusterState(name=name, region=region))


def test_a_state_whose_name_differs_from_its_file_is_refused_and_listed(home: Path):
    saved("alpha")
    beta = saved("beta")
    data = json.loads(beta.read_text())
    data["name"] = "alpha"  # beta.json now claims to be alpha: saving it would overwrite alpha.json
    beta.write_text(json.dumps(data))
    with pytest.raises(StateError, match="is for a cluster named 'alpha', not 'beta'"):
        state.load("beta")
    entries = {e.name: e for e in state.list_all()}
    assert entries["alpha"].state is not None
    assert entries["beta"].state is None and "named 'alpha'" in entries["beta"].error
    assert json.loads((state.state_dir() / "alpha.json").read_text())["name"] == "alpha"  # untouched


@pytest.mark.parametrize("content", [
    "[" * 200_000 + "]" * 200_000,
    '{"a":' * 100_000 + "1" + "}" * 100_000,
    '{"schema_version": 1, "name": "x", "region": ' + "9" * 5000 + "}",
    "\x00\xff",
    "",
    "[]",
])
def test_every_unreadable_file_is_listed_and_pctl_list_exits_0(home: Path, content: str):
    saved("good")
    (state.state_dir() / "bad.json").write_bytes(content.encode("utf-8", "surrogateescape")
                                                  if isinstance(content, str) else content)
    entries = {e.name: e for e in state.list_all()}
    assert entries["good"].state is not None
    assert entries["bad"].state is None and "state file" in entries["bad"].error
    proc = subprocess.run([sys.executable, "-m", "pctl", "list"], capture_output=True, text=True, timeout=60,
                          cwd=REPO, env={**os.environ, "PCTL_HOME": str(home)})
    assert proc.returncode == 0, proc.stderr
    assert "good" in proc.stdout and "bad" in proc.stderr and "internal error" not in proc.stderr.lower()


_WRITER = """
import sys, time
from pctl import state
st = state.ClusterState(name="busy", region="us-east-1", template_text="x" * 200_000)
print("ready", flush=True)
while True:
    state.save(st)
"""


def test_temporary_files_of_killed_writes_are_cleaned_on_the_next_write(home: Path):
    """kill -9 during writes leaves .busy.json.*.tmp files; the next save removes them all."""
    for _ in range(15):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER], stdout=subprocess.PIPE, text=True, cwd=REPO,
                                env={**os.environ, "PCTL_HOME": str(home)})
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.05 + 0.01 * (_ % 5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    leftovers = list(state.state_dir().glob(".busy.json.*.tmp"))
    (state.state_dir() / ".busy.json.planted.tmp").write_text("a leftover, planted for sure")
    st = state.load("busy")  # every kill left a whole file: the old or the new one
    assert st is not None and st.name == "busy"
    state.save(st)
    assert list(state.state_dir().glob(".busy.json.*.tmp")) == [], leftovers
    state.remove("busy")
    assert not any(p.name.startswith(".busy.json.") and p.name.endswith(".tmp") for p in state.state_dir().iterdir())


def test_owner_id_is_stable_per_home_and_differs_between_homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "a"))
    first = state.owner_id()
    assert state.OWNER_ID_RE.fullmatch(first) and state.owner_id() == first
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "b"))
    assert state.owner_id() != first
    (tmp_path / "b" / "owner-id").write_text("garbage\n")
    replaced = state.owner_id()
    assert state.OWNER_ID_RE.fullmatch(replaced)
