"""Containers: recipes from a template, ECR under moto, and the node wrappers through a real Lmod.

Boundaries that cannot run here, said where they are used: no container engine runs on this machine
(no Docker daemon, no podman), so `pctl container build` is tested for what it writes and says; the
engine's `login` is a stand-in that records what it was given; Apptainer is not packaged for Debian,
so the wrappers run a stand-in `apptainer` that records its arguments.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from pctl.containers import engine as eng
from pctl.containers.recipe import find, render_recipe
from pctl.model.template import Template

REPO = Path(__file__).resolve().parents[1]
DATA = {
    "cluster": {"name": "my-cluster", "region": "us-east-1", "platform": "pcs"},
    "compute": {"head_node": "t3.xlarge", "queues": [{"name": "compute", "instance_types": ["c5.4xlarge"], "max_count": 4}]},
    "software": {
        "containers": [{"name": "bioinformatics", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/bio:v1",
                        "packages": ["samtools@1.17", "bwa@0.7.17", "gatk@4.3.0"]},
                       {"name": "tools", "image": "docker.io/library/ubuntu:22.04"}],
        "spack_packages": ["samtools@1.17", "bwa@0.7.17", "gatk@4.3.0"],
    },
}


def template() -> Template:
    return Template.model_validate(json.loads(json.dumps(DATA)))


def test_dockerfile_is_two_stages_that_buildkits_parser_reads():
    import dockerfile  # BuildKit's parser (PyPI `dockerfile`): a syntax error raises

    t = template()
    files = render_recipe(t, find(t, "bioinformatics")[0])
    commands = dockerfile.parse_string(files["Dockerfile"])
    froms = [c.value for c in commands if c.cmd == "FROM"]
    assert froms == [("docker.io/spack/ubuntu-jammy:v0.23.1", "AS", "builder"), ("docker.io/library/ubuntu:22.04",)]
    copies = [c for c in commands if c.cmd == "COPY" and "--from=builder" in c.flags]
    assert {c.value[0] for c in copies} == {"/opt/spack-environment", "/opt/software", "/opt/view"}
    assert [c.value for c in commands if c.cmd == "ENTRYPOINT"] == [("/entrypoint.sh",)]


def test_spack_env_and_apptainer_definition_hold_the_packages():
    import yaml

    t = template()
    files = render_recipe(t, find(t, "bioinformatics")[0])
    env = yaml.safe_load(files["spack.yaml"])["spack"]
    assert env["specs"] == ["samtools@1.17", "bwa@0.7.17", "gatk@4.3.0"] and env["view"] == "/opt/view"
    # Apptainer is not packaged for Debian: check the definition's structure as its parser sees it.
    definition = files["apptainer.def"]
    headers = [line for line in definition.splitlines() if line.split(":")[0] in ("Bootstrap", "From", "Stage")]
    assert headers == ["Bootstrap: docker", "From: docker.io/spack/ubuntu-jammy:v0.23.1", "Stage: build",
                       "Bootstrap: docker", "From: docker.io/library/ubuntu:22.04", "Stage: final"]
    assert "%files from build" in definition and "spack install --fail-fast" in definition


def test_an_image_only_container_is_not_built_and_a_missing_name_is_named():
    from pctl.errors import PctlError

    t = template()
    assert [c.name for c in find(t, None)] == ["bioinformatics"]
    with pytest.raises(PctlError, match="no container named 'nope'"):
        find(t, "nope")
    with pytest.raises(PctlError, match="built from its `packages`"):
        find(t, "tools")


def test_ecr_repository_is_scanned_encrypted_and_reused():
    with mock_aws():
        ecr = boto3.client("ecr", region_name="us-east-1")
        uri = eng.ensure_repository(ecr, eng.repository_name("my-cluster", "bioinformatics"), "my-cluster")
        assert uri.endswith("/pctl/my-cluster/bioinformatics")
        repo = ecr.describe_repositories()["repositories"][0]
        assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
        assert repo["encryptionConfiguration"]["encryptionType"] == "AES256"
        assert eng.ensure_repository(ecr, repo["repositoryName"], "my-cluster") == uri
        assert len(ecr.describe_repositories()["repositories"]) == 1
        manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                               "config": {"digest": "sha256:" + "a" * 64, "size": 1, "mediaType": "x"}, "layers": []})
        ecr.put_image(repositoryName=repo["repositoryName"], imageManifest=manifest, imageTag="0.23.1-abc")
        assert eng.pushed_digest(ecr, repo["repositoryName"], "0.23.1-abc").startswith("sha256:")
        assert eng.pushed_digest(ecr, repo["repositoryName"], "nope") is None


def test_registry_login_passes_the_token_on_stdin_never_on_the_command_line(tmp_path):
    # No engine runs here: a stand-in records its arguments and standard input.
    record = tmp_path / "record"
    stand_in = tmp_path / "podman"
    stand_in.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$*\" > {record}\ncat >> {record}\n")
    stand_in.chmod(0o755)
    with mock_aws():
        ecr = boto3.client("ecr", region_name="us-east-1")
        token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
        host = eng.registry_login(ecr, eng.Engine("podman", str(stand_in)))
    args, password = record.read_text().split("\n", 1)
    user, _, secret = base64.b64decode(token).decode().partition(":")
    assert args == f"login --username {user} --password-stdin {host}"
    assert password == secret and secret not in args


def test_container_build_without_an_engine_writes_the_recipe_and_says_so(tmp_path):
    t = tmp_path / "t.yaml"
    t.write_text(json.dumps(DATA))
    env = {**os.environ, "PCTL_HOME": str(tmp_path / "home"), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    if shutil.which("podman") or subprocess.run(["docker", "info"], capture_output=True).returncode == 0:
        pytest.skip("a container engine runs on this machine: this test is for one without")
    out = subprocess.run([sys.executable, "-m", "pctl", "container", "build", str(t), "-o", str(tmp_path / "rec"),
                          "--json"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    (entry,) = doc["containers"]
    assert entry["name"] == "bioinformatics" and entry["built"] is False and "not built" in entry["note"]
    assert sorted(p.name for p in (tmp_path / "rec" / "bioinformatics").iterdir()) == [
        "Dockerfile", "apptainer.def", "spack.yaml"]
    pushed = subprocess.run([sys.executable, "-m", "pctl", "container", "build", str(t), "--push"],
                            capture_output=True, text=True, env=env, timeout=120)
    assert pushed.returncode == 1 and "--push needs a container engine" in pushed.stderr
    assert "Traceback" not in pushed.stderr


def test_module_wrappers_run_inside_the_container_through_lmod(tmp_path):
    """The head node's containers block, run for real under Debian's Lmod with a stand-in apptainer."""
    if not Path("/usr/share/lmod/lmod/init/bash").exists():
        pytest.skip("Debian's lmod is not installed (scripts/setup --system installs it)")
    from pctl.render import render

    script = render(template()).files["scripts/head-node.sh"]
    start = script.index("# ---- containers:")
    block = script[start:script.index("\n# ----", start + 10)]
    shared = tmp_path / "shared"
    block = block.replace("/shared/containers", str(shared / "containers"))
    block = block.replace("/etc/profile.d/pctl-zz-containers.sh", str(tmp_path / "profile.sh"))
    bindir = tmp_path / "bin"
    bindir.mkdir()
    calls = tmp_path / "apptainer.calls"
    (bindir / "apptainer").write_text(
        f"#!/bin/sh\nprintf '%s\\n' \"$*\" >> {calls}\n"
        "if [ \"$1\" = pull ]; then printf 'SIF' > \"$3\"; fi\n")
    (bindir / "apptainer").chmod(0o755)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    run = subprocess.run(["bash", "-c", "set -euo pipefail\nlog() { echo \"$*\"; }\n" + block],
                         capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stderr
    assert (shared / "containers" / "bioinformatics.sha256").read_text().strip()
    job = ("source /usr/share/lmod/lmod/init/bash; . " + str(tmp_path / "profile.sh") +
           "; module load samtools/1.17 tools; samtools view x.bam; bash -c 'tools cat /etc/os-release'")
    used = subprocess.run(["bash", "-c", job], capture_output=True, text=True, env=env, timeout=60)
    assert used.returncode == 0, used.stderr + used.stdout
    lines = calls.read_text().splitlines()
    sif = shared / "containers" / "bioinformatics.sif"
    assert f"exec --bind /home,/shared {sif} samtools view x.bam" in lines
    assert f"exec --bind /home,/shared {shared / 'containers' / 'tools.sif'} cat /etc/os-release" in lines  # bash -c
    assert any(line.startswith("pull --force") and "docker://123456789012.dkr.ecr" in line for line in lines)


def _put(ecr, repository: str, tag: str) -> str:
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": "sha256:" + "b" * 64, "size": 1, "mediaType": "x"}, "layers": []})
    return ecr.put_image(repositoryName=repository, imageManifest=manifest, imageTag=tag)["image"]["imageId"]["imageDigest"]


def test_ecr_tags_are_pinned_to_digests_others_are_kept_and_named():
    from pctl.containers.pin import pin_images, pinned
    from pctl.errors import PctlError

    with mock_aws():
        ecr = boto3.client("ecr", region_name="us-east-1")
        ecr.create_repository(repositoryName="bio")
        account = boto3.client("sts", region_name="us-east-1").get_caller_identity()["Account"]
        digest = _put(ecr, "bio", "v1")
        data = json.loads(json.dumps(DATA))
        data["software"]["containers"][0]["image"] = f"{account}.dkr.ecr.us-east-1.amazonaws.com/bio:v1"
        pinned_t, refs = pin_images(Template.model_validate(data), lambda region: boto3.client("ecr", region_name=region))
        assert refs["bioinformatics"] == f"{account}.dkr.ecr.us-east-1.amazonaws.com/bio@{digest}"
        assert pinned_t.software.containers[0].image == refs["bioinformatics"] and pinned(refs["bioinformatics"])
        assert refs["tools"] == "docker.io/library/ubuntu:22.04" and not pinned(refs["tools"])
        data["software"]["containers"][0]["image"] = f"{account}.dkr.ecr.us-east-1.amazonaws.com/bio:v2"
        with pytest.raises(PctlError, match="not in ECR"):
            pin_images(Template.model_validate(data), lambda region: boto3.client("ecr", region_name=region))


class LocalShell:
    """verify's SSH transport replaced by a local login-like shell with Debian's Lmod (the SSH side itself is
    tested against the loopback head node in tests/test_verify.py)."""

    def __init__(self, profile: Path, env: dict[str, str], shared: Path) -> None:
        self.profile, self.env, self.shared = profile, env, shared

    def run(self, cmd: str, timeout: float = 60):
        from pctl.ssh import Result

        cmd = cmd.replace("/shared/", f"{self.shared}/")  # the node's /shared is this test's directory
        full = f"source /usr/share/lmod/lmod/init/bash; . {self.profile}; {cmd}"
        p = subprocess.run(["bash", "-c", full], capture_output=True, text=True, env=self.env, timeout=timeout)
        return Result(p.returncode, p.stdout, p.stderr)


def test_verify_checks_the_pulled_image_and_each_module(tmp_path):
    if not Path("/usr/share/lmod/lmod/init/bash").exists():
        pytest.skip("Debian's lmod is not installed (scripts/setup --system installs it)")
    from pctl.containers.verify import container_checks
    from pctl.render import render

    shared = tmp_path / "shared"
    data = json.loads(json.dumps(DATA))
    t = Template.model_validate(data)
    script = render(t).files["scripts/head-node.sh"]
    start = script.index("# ---- containers:")
    block = script[start:script.index("\n# ----", start + 10)].replace(
        "/etc/profile.d/pctl-zz-containers.sh", str(tmp_path / "profile.sh")).replace("/shared/", f"{shared}/")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "apptainer").write_text("#!/bin/sh\nif [ \"$1\" = pull ]; then printf 'SIF' > \"$3\"; fi\n")
    (bindir / "apptainer").chmod(0o755)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    assert subprocess.run(["bash", "-c", "set -euo pipefail\nlog() { :; }\n" + block], env=env).returncode == 0
    shell = LocalShell(tmp_path / "profile.sh", env, shared)
    checks = container_checks(shell, t)
    assert all(ok for _, ok, _ in checks), checks
    assert len(checks) == 2 + 3 + 1  # two images, three package modules, one image-only module
    (shared / "containers" / "bin" / "bioinformatics" / "bwa").unlink()
    data["software"]["containers"][1]["image"] = "docker.io/library/ubuntu:24.04"  # the cluster pins another
    failed = {name: detail for name, ok, detail in container_checks(shell, Template.model_validate(data)) if not ok}
    assert set(failed) == {"container bioinformatics: module bwa/0.7.17", "container tools: image"}
    assert "pins docker.io/library/ubuntu:24.04" in failed["container tools: image"]
