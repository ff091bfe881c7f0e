"""`pctl list`, `status` and `delete`'s confirmation: state only, no Prefect, no AWS."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from pctl import state
from pctl.cli import cli


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path))
    return tmp_path


def _active(name="alpha") -> state.ClusterState:
    st = state.ClusterState(name=name, region="eu-west-1", template_source="templates/starter.yaml",
                            template_hash="f" * 64, head_node_public_ip="198.51.100.4")
    st.set_status(state.Status.ACTIVE)
    st.add_resource("vpc", "vpc-123", "eu-west-1")
    st.user_supplied["subnet_id"] = "subnet-mine"
    state.save(st)
    return st


def test_list_shows_clusters_and_reports_a_corrupt_file(home):
    _active()
    (home / "clusters" / "broken.json").write_text("{")
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 0, result.output
    assert "alpha" in result.output and "active" in result.output and "198.51.100.4" in result.output
    assert "just now" in result.output
    assert "broken" in result.output and "unreadable" in result.output


def test_list_json():
    _active()
    data = json.loads(CliRunner().invoke(cli, ["list", "--json"]).output)["clusters"]
    assert data[0]["name"] == "alpha" and data[0]["head_node_ip"] == "198.51.100.4"


def test_status_shows_details_and_the_next_step():
    _active()
    result = CliRunner().invoke(cli, ["status", "alpha", "--no-refresh"])
    assert result.exit_code == 0, result.output
    assert "vpc-123" in result.output
    assert "subnet_id subnet-mine" in result.output
    assert "Next: ready: ssh to the head node (198.51.100.4)" in result.output


def test_status_of_a_rolled_back_create_says_how_to_go_on():
    st = _active("beta")
    st.set_status(state.Status.ROLLED_BACK, "network failed")
    st.resources = []
    st.last_error = "network failed: quota"
    state.save(st)
    out = CliRunner().invoke(cli, ["status", "beta", "--no-refresh"]).output
    assert "rolled back (nothing is left in AWS)" in out


def test_delete_refuses_when_the_typed_name_differs():
    _active()
    runner = CliRunner()
    result = runner.invoke(cli, ["delete", "alpha"], input="alhpa\n")
    assert result.exit_code != 0
    assert "did not match" in str(result.exception)
    assert state.get("alpha").status == state.Status.ACTIVE  # nothing happened


def test_unknown_cluster_is_a_clear_error():
    result = CliRunner().invoke(cli, ["status", "ghost"])
    assert result.exit_code != 0
    assert "no cluster named 'ghost'" in str(result.exception)


# ---- pcluster version tracking (issue 5) ----------------------------------------------------------

def _made_with(version: str, ami_version: str | None = None) -> None:
    st = _active()
    st.pcluster_version = version
    if ami_version:
        st.ami_id, st.ami_pcluster_version = "ami-0123456789abcdef0", ami_version
    state.save(st)


def test_status_warns_when_the_cluster_was_made_by_another_pcluster():
    from pctl.pcluster_manager import installed_version

    _made_with("3.15.0", ami_version="3.14.2")
    out = CliRunner().invoke(cli, ["status", "alpha", "--no-refresh"]).output
    assert f"WARNING: cluster alpha was made with pcluster 3.15.0, but pcluster {installed_version()}" in out
    assert "WARNING: AMI ami-0123456789abcdef0 was made with pcluster 3.14.2" in out
    data = json.loads(CliRunner().invoke(cli, ["status", "alpha", "--no-refresh", "--json"]).stdout)
    assert len(data["warnings"]) == 2


def test_status_says_nothing_when_versions_match():
    from pctl.pcluster_manager import installed_version

    _made_with(installed_version(), ami_version=installed_version())
    out = CliRunner().invoke(cli, ["status", "alpha", "--no-refresh"]).output
    assert "WARNING" not in out


def test_delete_warns_about_another_pcluster_before_asking():
    _made_with("3.15.0")
    result = CliRunner().invoke(cli, ["delete", "alpha"], input="no\n")
    assert "WARNING: cluster alpha was made with pcluster 3.15.0" in result.output
    assert result.output.index("WARNING") < result.output.index("Type the cluster name")
    assert state.get("alpha").status == state.Status.ACTIVE


# ---- issue 11: status reads only state; an entry with nothing in AWS goes without AWS -----------------

def test_status_reads_only_the_state_file_by_default(monkeypatch):
    import pctl.lifecycle.pcluster_view as view

    def no_aws(*_a, **_k):
        raise AssertionError("status called AWS without --live")

    monkeypatch.setattr(view, "describe", no_aws)
    _active()
    result = CliRunner().invoke(cli, ["status", "alpha"])
    assert result.exit_code == 0, result.output
    assert "as last recorded; --live asks AWS" in result.output


def test_delete_of_an_entry_that_never_made_anything_needs_no_aws_or_prefect(monkeypatch):
    import pctl.lifecycle.runner as runner

    monkeypatch.setattr(runner, "prepare", lambda *_a, **_k: (_ for _ in ()).throw(AssertionError("Prefect")))
    st = state.ClusterState(name="stuck", region="eu-west-1")
    st.set_status(state.Status.CREATE_FAILED, "network: NoCredentialsError")
    state.save(st)
    result = CliRunner().invoke(cli, ["delete", "stuck"], input="stuck\n")
    assert result.exit_code == 0, result.output
    assert "nothing had been created in AWS" in result.output
    assert state.load("stuck") is None


def test_a_create_that_reached_the_cluster_step_is_not_forgotten_blindly():
    from pctl.lifecycle.forget import reached_pcluster

    st = state.ClusterState(name="x", region="eu-west-1")
    st.set_status(state.Status.CREATING)
    assert reached_pcluster(st)  # died without a word: it may have got there
    st.set_status(state.Status.ROLLED_BACK, "network: quota")
    assert not reached_pcluster(st)
    st.set_status(state.Status.CREATE_FAILED, "cluster wait: CREATE_FAILED")
    assert reached_pcluster(st)
