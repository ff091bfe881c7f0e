"""pctl.state: atomic writes, schema version, per-cluster lock, corrupt files reported not raised."""

from __future__ import annotations

import json
import multiprocessing
import os
import threading

import pytest

from pctl import state
from pctl.errors import NotFound, StateError


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path))
    return tmp_path


def _new(name="demo") -> state.ClusterState:
    st = state.ClusterState(name=name, region="us-east-1", template_hash="abc")
    st.set_status(state.Status.CREATING, "test")
    state.save(st)
    return st


def test_round_trip_keeps_everything(home):
    st = _new()
    st.add_resource("vpc", "vpc-1", "us-east-1")
    st.ami_id, st.head_node_public_ip, st.pcluster_version = "ami-1", "198.51.100.7", "3.16.1"
    state.save(st)
    back = state.get("demo")
    assert back.resources[0].id == "vpc-1"
    assert (back.ami_id, back.head_node_public_ip, back.pcluster_version) == ("ami-1", "198.51.100.7", "3.16.1")
    assert [h.status for h in back.history] == ["creating"]
    data = json.loads((home / "clusters" / "demo.json").read_text())
    assert data["schema_version"] == state.SCHEMA_VERSION


def test_add_resource_is_idempotent():
    st = _new()
    assert st.add_resource("subnet", "subnet-1", "us-east-1") is True
    assert st.add_resource("subnet", "subnet-1", "us-east-1") is False
    assert len(st.resources) == 1


def test_update_records_at_once():
    _new()
    state.update("demo", lambda s: s.add_resource("igw", "igw-1", "us-east-1"))
    assert [r.id for r in state.get("demo").resources] == ["igw-1"]


def test_missing_cluster_is_not_found():
    assert state.load("nope") is None
    with pytest.raises(NotFound):
        state.get("nope")


def test_bad_names_are_refused():
    with pytest.raises(StateError):
        state.path_for("../etc/passwd")


def test_crash_mid_write_leaves_old_state(monkeypatch):
    _new()
    st = state.get("demo")
    st.add_resource("vpc", "vpc-new", "us-east-1")

    def boom(fd):
        raise OSError("disk gone")

    with monkeypatch.context() as m:
        m.setattr(os, "fsync", boom)
        with pytest.raises(OSError, match="disk gone"):
            state.save(st)
    assert state.get("demo").resources == []  # the old content, intact
    leftovers = [p.name for p in state.state_dir().iterdir() if p.suffix == ".tmp"]
    assert leftovers == []


def test_corrupt_and_foreign_files_are_listed_with_errors(home):
    _new("good")
    (home / "clusters" / "broken.json").write_text("{not json")
    (home / "clusters" / "future.json").write_text(json.dumps({"schema_version": 99, "name": "future"}))
    entries = {e.name: e for e in state.list_all()}
    assert entries["good"].state is not None
    assert "unreadable" in entries["broken"].error
    assert "schema version 99" in entries["future"].error
    with pytest.raises(StateError):
        state.load("broken")


def test_lock_refuses_a_second_holder_in_process():
    with state.lock("demo"), pytest.raises(StateError, match="locked by pid"), state.lock("demo"):
        pass
    with state.lock("demo"):  # released: free again
        pass


def _hold_lock(home: str, ready, release) -> None:
    os.environ["PCTL_HOME"] = home
    with state.lock("demo"):
        ready.set()
        release.wait(10)


def test_lock_refuses_another_process(home):
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    proc = ctx.Process(target=_hold_lock, args=(str(home), ready, release))
    proc.start()
    try:
        assert ready.wait(10)
        with pytest.raises(StateError) as err, state.lock("demo"):
            pass
        assert str(proc.pid) in str(err.value)
    finally:
        release.set()
        proc.join(10)
    with state.lock("demo"):  # the holder exited: the kernel released the lock
        pass


def test_concurrent_threads_one_wins():
    results: list[str] = []
    barrier = threading.Barrier(2)
    hold = threading.Event()

    def attempt():
        barrier.wait()
        try:
            with state.lock("demo"):
                results.append("won")
                hold.wait(2)
        except StateError:
            results.append("refused")
            hold.set()

    threads = [threading.Thread(target=attempt) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(results) == ["refused", "won"]
