"""The pinned-clone plumbing both registries share (pctl.registry.pinned): the template registry and the
AMI registry clone, check, swap and pin through one PinnedStore, so the AMI registry gets the template
registry's defences too (a URL git could read as an option is refused before git runs).

git runs for real against local repositories (file://); nothing is stood in for. About 1 s.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pctl.ami_registry import store as ami_store
from pctl.registry import store as template_store
from pctl.registry.git import GitError
from pctl.registry.pinned import PinnedStore


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def repo(tmp_path):
    """A repository with one commit and no index of either kind (a source nobody published to yet)."""
    path = tmp_path / "src"
    path.mkdir()
    _git("init", "--quiet", "--initial-branch=main", cwd=path)
    (path / "README").write_text("nothing published yet\n")
    _git("add", "README", cwd=path)
    _git("commit", "--quiet", "-m", "start", cwd=path)
    return path


def test_both_registries_use_the_shared_store(home):
    assert isinstance(template_store.STORE, PinnedStore) and isinstance(ami_store.STORE, PinnedStore)
    # each keeps its own clones and pins, side by side under $PCTL_HOME/registry
    assert template_store.cache_dir("lab") == home / "registry" / "cache" / "lab"
    assert ami_store.cache_dir("lab") == home / "registry" / "ami-cache" / "lab"
    assert template_store.STORE.state_path().name == "state.json"
    assert ami_store.STORE.state_path().name == "ami-state.json"


def test_the_ami_store_refuses_an_option_like_url_before_git_runs(home, tmp_path, monkeypatch):
    """The config refuses such a URL when it is written; the store refuses it again (defence in depth),
    as the template store always did. Before the shared store, the AMI store passed it to `git clone`."""
    marker = tmp_path / "pwned"
    monkeypatch.setattr(ami_store, "source_url", lambda source: f"--upload-pack=touch {marker}")
    result = ami_store.update_source("evil", {})
    assert result.status == "failed" and "starts with '-'" in result.message
    assert not marker.exists()


def test_an_ami_source_with_no_index_is_cloned_with_no_images_then_kept_when_offline(home, repo, monkeypatch):
    monkeypatch.setattr(ami_store, "source_url", lambda source: repo.as_uri())
    state: dict = {}
    first = ami_store.update_source("lab", state)
    assert first.status == "cloned" and first.message.endswith("(0 images)") and first.commit
    assert (ami_store.cache_dir("lab") / "README").exists()
    repo.rename(repo.with_name("gone"))  # the source disappears: the last good clone and pin stay
    again = ami_store.update_source("lab", state)
    assert again.status == "offline" and again.commit == first.commit
    assert (ami_store.cache_dir("lab") / "README").exists()


def test_a_refused_check_leaves_the_old_clone_and_pin(home, repo):
    store = PinnedStore(cache="test-cache", state_file="test-state.json")
    commit, count = store.fresh_clone("lab", repo.as_uri(), lambda path, rev: 3)
    assert count == 3 and store.cache_dir("lab").joinpath("README").exists()
    store.save_state({"lab": {"commit": commit}})
    (repo / "README").write_text("changed\n")
    _git("commit", "--quiet", "-am", "second", cwd=repo)

    def refuse(path: Path, rev: str) -> int:
        raise GitError("index does not parse")

    with pytest.raises(GitError):
        store.fresh_clone("lab", repo.as_uri(), refuse)
    assert store.cache_dir("lab").joinpath("README").read_text() == "nothing published yet\n"
    assert store.pinned_commit("lab", store.load_state()) == commit
    assert [p.name for p in store.cache_dir("lab").parent.iterdir()] == ["lab"]  # no temporary clone left
    store.forget("lab")
    assert not store.cache_dir("lab").exists() and store.load_state() == {}
