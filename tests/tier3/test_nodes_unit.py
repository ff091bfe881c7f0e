"""scripts/nodes without booting anything: its generated shell passes shellcheck, its Slurm layout,
its argument rules and its refusals. Fast; runs everywhere (the tier-3 modules need root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.tier3.cluster import NODES, REPO

sys.path.insert(0, str(REPO / "scripts"))
from nodes_lib import image, rootfs, services, spack_source  # noqa: E402
from nodes_lib.proc import NodesError  # noqa: E402

sys.path.remove(str(REPO / "scripts"))


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="needs shellcheck (scripts/setup --system)")
@pytest.mark.parametrize("name", ["mount-s3", "services-head", "services-compute", "rootfs-build"])
def test_generated_shell_passes_shellcheck(name, tmp_path):
    text = {
        "mount-s3": services.MOUNT_S3,
        "services-head": services.services_script("head"),
        "services-compute": services.services_script("compute"),
        "rootfs-build": "#!/bin/sh\n" + rootfs._BUILD_SCRIPT,
    }[name]
    path = tmp_path / f"{name}.sh"
    path.write_text(text)
    proc = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_slurm_conf_one_slurmd_per_compute_node_with_its_own_port():
    conf = services.slurm_conf([("intel", ["intel"]), ("amd", ["amd"])], cpus=2)
    assert f"NodeName=intel NodeAddr=127.0.0.1 Port={services.SLURMD_PORT} " in conf
    assert f"NodeName=amd NodeAddr=127.0.0.1 Port={services.SLURMD_PORT + 1} " in conf
    assert "PartitionName=intel Nodes=intel Default=YES" in conf
    assert "PartitionName=amd Nodes=amd Default=NO" in conf
    # never scripts/headnode's ports: both can run at once
    assert {services.SSH_PORT, services.SLURMCTLD_PORT, services.SLURMD_PORT}.isdisjoint({2222, 6817, 6818})


def test_node_env_is_plain_quoted_shell():
    text = services.node_env({"PCTL_SPACK_INSTALL_ARGS": "--fake", "PCTL_SPACK_GIT": "file:///x y"})
    out = subprocess.run(["bash", "-c", f"{text}\necho \"$PCTL_SPACK_INSTALL_ARGS|$PCTL_SPACK_GIT\""],
                         capture_output=True, text=True, check=True).stdout
    assert out == "--fake|file:///x y\n"


def test_vendored_version_from_the_tarball_name():
    assert spack_source.version_of(Path("spack-0.23.0.dev0-e8f8cf8543.tar.gz")) == "0.23.0.dev0"
    assert spack_source.version_of(Path("spack-0.23.1.tar.gz")) == "0.23.1"
    with pytest.raises(NodesError, match="cannot read a Spack version"):
        spack_source.version_of(Path("spack-latest.tar.gz"))


def test_every_template_os_has_one_image_and_the_cache_key_follows_the_package_list():
    from pctl.model.template import Template

    oses = Template.model_json_schema()["$defs"]
    assert image.image_for("alinux2023").render_os == "ubuntu2204"
    base = rootfs.key(image.UBUNTU2204, None)
    more = image.Image(render_os="ubuntu2204", packages=(*image.UBUNTU2204.packages, "gfortran"),
                       module_system="environment-modules", bash_env=True, files=image.UBUNTU2204.files)
    assert rootfs.key(more, None) != base
    assert rootfs.key(image.UBUNTU2204, None) == base
    assert "gfortran" not in image.all_packages(image.UBUNTU2204), "official images do not promise gfortran"
    assert oses  # the schema loads


def _nodes(*args, **kw):
    return subprocess.run([str(NODES), *args], capture_output=True, text=True, timeout=60, **kw)


def test_exec_needs_the_command_after_a_double_dash(tmp_path):
    proc = _nodes("exec", "--dir", str(tmp_path), "head")
    assert proc.returncode == 2
    assert "give the command after --" in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="scripts/nodes runs as root")
def test_verbs_on_an_empty_dir_say_what_to_do(tmp_path):
    assert _nodes("list", "--dir", str(tmp_path)).stdout == ""
    proc = _nodes("exec", "--dir", str(tmp_path), "head", "--", "true")
    assert proc.returncode == 1
    assert "no node 'head'" in proc.stderr and "scripts/nodes up" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _nodes("up", "--dir", str(tmp_path), str(tmp_path / "missing.yaml"))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="scripts/nodes runs as root")
def test_up_refuses_an_invalid_template_naming_the_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: {name: x, region: us-east-1}\ncompute:\n  head_node: t3.medium\n  queues: []\n")
    proc = _nodes("up", "--dir", str(tmp_path / "d"), str(bad))
    assert proc.returncode == 1
    assert "not a valid template" in proc.stderr and "queues" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(os.geteuid() != 0, reason="scripts/nodes runs as root")
def test_down_never_removes_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "thesis.tex").write_text("precious")
    proc = _nodes("down", "--dir", str(tmp_path))
    assert proc.returncode == 1 and "not removing" in proc.stderr
    assert (tmp_path / "thesis.tex").read_text() == "precious"
    proc = _nodes("up", "--dir", str(tmp_path), "minimal")
    assert (tmp_path / "thesis.tex").read_text() == "precious"
