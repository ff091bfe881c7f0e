"""pctl verify against the real loopback head node (scripts/headnode): sshd, Lmod, munge, Slurm, and the
template's packages installed by pctl's rendered Spack installer (real modules and hierarchy; programs are
stand-ins because `spack install --fake` builds nothing)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest
import yaml

from pctl import state
from pctl.cli import main
from pctl.validation import validate_text
from pctl.verify import VerifyFailed, resolve_target, smoke_job_script, verify_cluster_node

pytestmark = pytest.mark.headnode


def _template(path: str, change=None):
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if change:
        change(data)
    report, loaded = validate_text(yaml.safe_dump(data, sort_keys=False), "<test>")
    assert loaded.template is not None, report
    return loaded.template


def _expected_names(t) -> list[str]:
    names = ["software install", "module avail"]
    names += [f"module {m}" for m in ("python/3.11", "openmpi/4.1.6", "hdf5/1.14", "zlib")]
    names += [f"user {u.name} (head node)" for u in t.users]
    names += ["mount /pctl-hn/shared", "mount /pctl-hn/datasets", "mount /pctl-hn/projects"]
    for q in ("batch", "debug"):
        names += [f"job on queue {q}"] + [f"user {u.name} (queue {q})" for u in t.users]
    return names


def test_passing_verify_checks_everything_the_template_promises(headnode, tmp_path):
    t = headnode.template()
    with headnode.client(tmp_path / "kh") as ssh:
        report = verify_cluster_node(ssh, t, wait_timeout_s=10, poll_s=0.2)
    assert report.ok, report.table()
    assert [c.name for c in report.checks] == _expected_names(t)
    details = {c.name: c.detail for c in report.checks}
    assert "3.11" in details["module python/3.11"]  # the probe ran the module's own program
    assert "stand-in" in details["module python/3.11"]  # ... the one in the module's prefix, not the OS's
    # hdf5 +mpi sits under openmpi in the Lmod hierarchy: verify loads it after its MPI.
    assert details["module hdf5/1.14"].startswith("loads after openmpi/4.1.6")
    assert details["module openmpi/4.1.6"].startswith("loads;")
    assert "COMPLETED" in details["job on queue debug"]
    assert "uid=2002 gid=2002 inside job" in details["user bob (queue batch)"]
    assert report.missing() == []
    assert "| job on queue batch | ok |" in report.markdown()


def test_failing_verify_lists_exactly_what_is_missing(headnode, tmp_path):
    def change(d):
        d["software"]["spack_packages"].append("fftw@3.3.10")  # no such module on the node
        d["users"][0]["uid"] = 2999  # alice is 2001 there
        d["users"][1]["groups"] = ["lab", "wetlab"]  # bob is not in wetlab

    t = _template(headnode.template_path, change)
    with headnode.client(tmp_path / "kh") as ssh:
        report = verify_cluster_node(ssh, t, wait_timeout_s=10, poll_s=0.2)
    assert not report.ok
    missing = {c.name: c.detail for c in report.missing()}
    assert set(missing) == {
        "module fftw/3.3.10", "user alice (head node)", "user bob (head node)",
        "user alice (queue batch)", "user alice (queue debug)",
    }
    assert missing["module fftw/3.3.10"].startswith("module load failed")
    assert missing["user alice (head node)"] == "UID 2001, expected 2999"
    assert missing["user alice (queue batch)"] == "UID 2001, expected 2999"
    assert missing["user bob (head node)"] == "not in group(s) wetlab"
    assert "**FAIL**" in report.markdown()


def test_install_failure_and_timeout_are_reported_and_other_checks_still_run(headnode, tmp_path):
    root = f"/pctl-hn/shared/t-{uuid.uuid4().hex[:8]}"
    with headnode.client(tmp_path / "kh") as ssh:
        try:
            ssh.run(f"mkdir -p {root}/failed/.pctl && echo 'spack: gcc@12.3.0 failed to build' "
                    f"> {root}/failed/.pctl/install.failed", timeout=20)
            failed = _template(headnode.template_path,
                               lambda d: d["software"].__setitem__("spack_root", f"{root}/failed"))
            report = verify_cluster_node(ssh, failed, wait_timeout_s=5, poll_s=0.2)
            pending = _template(headnode.template_path,
                                lambda d: d["software"].__setitem__("spack_root", f"{root}/pending"))
            slow = verify_cluster_node(ssh, pending, wait_timeout_s=1, poll_s=0.3)
        finally:
            ssh.run(f"rm -rf {root}", timeout=20)
    assert [c.name for c in report.missing()] == ["software install"]
    assert "gcc@12.3.0 failed to build" in report.missing()[0].detail
    assert not any(c.name.startswith("module ") for c in report.checks)  # not checked: not installed
    assert any(c.name == "job on queue batch" and c.ok for c in report.checks)
    assert [c.name for c in slow.missing()] == ["software install"]
    assert slow.missing()[0].detail.startswith("not finished after 1s")


def test_cli_local_passes_and_fails_with_the_list(headnode, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PCTL_POLL_SECONDS", "0.2")
    args = ["verify", "--local", "--host", headnode.host, "--port", str(headnode.port), "--user", headnode.user,
            "--key", headnode.key_path, "--fingerprint", headnode.fingerprint]
    main([*args, "--template", headnode.template_path])  # returns (exit 0) on success
    out = capsys.readouterr()
    assert "verify passed: 17 checks" in out.out

    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(Path(headnode.template_path).read_text())
    data["software"]["spack_packages"].append("fftw@3.3.10")
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(SystemExit) as failed:
        main([*args, "--template", str(bad)])
    out = capsys.readouterr()
    assert failed.value.code == 1
    assert "verify of pctlhn@127.0.0.1:2222 failed: 1 of 18 checks" in out.err
    assert "  - module fftw/3.3.10: module load failed" in out.err
    assert "Traceback" not in out.err


def test_target_comes_from_the_cluster_state(headnode, tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    st = state.ClusterState(name="hn", region="us-east-1", template_source=headnode.template_path)
    state.save(st)
    with pytest.raises(VerifyFailed, match="no head node address recorded"):
        resolve_target("hn")
    st.head_node_public_ip = "127.0.0.1"
    state.save(st)
    # No host key fingerprint recorded (moto's console output has none) and none known: refuse, saying how.
    with pytest.raises(VerifyFailed, match="no SSH host key fingerprint") as err:
        resolve_target("hn", port=headnode.port, key_path=headnode.key_path)
    assert "--fingerprint" in err.value.hint and "--accept-new-host-key" in err.value.hint
    target = resolve_target("hn", port=headnode.port, key_path=headnode.key_path, accept_new_host_key=True)
    assert (target.host, target.user, target.template_label) == ("127.0.0.1", "ubuntu", headnode.template_path)
    assert target.expected_fingerprint is None
    with pytest.raises(Exception, match="no cluster named 'nope'"):
        resolve_target("nope")


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck is not installed")
def test_smoke_job_script_is_quoted_and_passes_shellcheck(tmp_path):
    script = smoke_job_script("batch", ["alice", "o'brien"])
    assert "getent passwd 'o'\"'\"'brien'" in script
    path = tmp_path / "job.sh"
    path.write_text(script)
    subprocess.run(["shellcheck", str(path)], check=True)


@pytest.mark.prefect
def test_flow_publishes_the_table_as_an_artifact(headnode, prefect_server, tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PCTL_POLL_SECONDS", "0.2")
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    from flows.verify import verify_cluster
    from pctl.requests import TemplateSource, VerifyRequest

    request = VerifyRequest(name="headnode", host=headnode.host, port=headnode.port, user=headnode.user,
                            key_path=headnode.key_path, expected_fingerprint=headnode.fingerprint,
                            template=TemplateSource(path=headnode.template_path), timeout_minutes=1)
    result = verify_cluster(request)
    assert result["ok"] and len(result["checks"]) == 17
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["verify-headnode"])))
    assert artifacts and "| module openmpi/4.1.6 | ok |" in artifacts[0].data


def test_verify_fails_naming_the_package_whose_module_was_removed(headnode, tmp_path):
    # The real hierarchy: hdf5's modulefile lives under openmpi's directory. Move it away (and back).
    [modulefile] = headnode.spack_root.glob("share/spack/lmod/openmpi/*/*/hdf5/*.lua")
    aside = modulefile.with_suffix(".lua.aside")
    modulefile.rename(aside)
    try:
        with headnode.client(tmp_path / "kh") as ssh:
            report = verify_cluster_node(ssh, headnode.template(), wait_timeout_s=10, poll_s=0.2)
    finally:
        aside.rename(modulefile)
    assert [c.name for c in report.missing()] == ["module hdf5/1.14"]
    assert report.missing()[0].detail.startswith("module load failed")


@pytest.mark.parametrize("program", ["missing", "empty"])
def test_fake_install_skips_a_probe_whose_program_was_never_built(headnode, tmp_path, program):
    # install.done records `install args: --fake`; a probe program that does not exist (exit 127), or is
    # the empty executable a fake install leaves (it prints nothing), is then skipped, not failed - the
    # module must still load (hdf5: after openmpi).
    assert "--fake" in (headnode.spack_root / ".pctl" / "install.done").read_text()
    [stand_in] = headnode.spack_root.glob("opt/spack/*/*/hdf5-1.14*/bin/h5dump")
    aside = stand_in.with_name("h5dump.aside")
    stand_in.rename(aside)
    if program == "empty":
        stand_in.touch(mode=0o755)
    try:
        with headnode.client(tmp_path / "kh") as ssh:
            report = verify_cluster_node(ssh, headnode.template(), wait_timeout_s=10, poll_s=0.2)
    finally:
        aside.replace(stand_in)
    assert report.ok, report.table()
    details = {c.name: c.detail for c in report.checks}
    assert details["module hdf5/1.14"].startswith("loads after openmpi/4.1.6; probe `h5dump --version` skipped: "
                                                  "fake install (nothing built)")
    assert "spack install --fake" in details["software install"]
