"""Tier 3: an MPI stack on an Intel queue and an AMD queue, on real nodes (scripts/nodes).

Also the boot contract: a reboot of each node keeps users, mounts and modules, and an install killed
half-way finishes after the head node's reboot. S3 is a documented stand-in (see checks.check_s3_mounts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.tier3 import checks
from tests.tier3.cluster import up, work_dir

pytestmark = [pytest.mark.tier3, pytest.mark.slow, pytest.mark.timeout(2400)]
TEMPLATE = Path(__file__).with_name("mpi-two-makers.yaml")


@pytest.fixture(scope="module")
def cluster():
    yield from up(TEMPLATE, work_dir("mpi"))


@pytest.fixture(scope="module")
def template(cluster):
    return cluster.template()


def test_nodes_and_users(cluster, template):
    checks.check_list(cluster, template)
    checks.check_users(cluster, template)


def test_modules_in_login_shell_bash_c_and_slurm_job(cluster, template):
    checks.check_modules_everywhere(cluster, template, template.spack_root)


def test_mpi_dependent_package_needs_its_mpi(cluster, template):
    out = cluster.login("amd", template.users[0].name, "module load hdf5 >/dev/null 2>&1 && echo LOADED-ALONE; "
                        "module load openmpi && module load hdf5 && echo LOADED-AFTER-MPI").stdout
    assert "LOADED-AFTER-MPI" in out
    assert "LOADED-ALONE" not in out, "hdf5 +mpi loads without its MPI: the Lmod hierarchy is not in use"


def test_specs_carry_pinned_target_and_real_compiler(cluster, template):
    checks.check_specs(cluster, template, template.spack_root)


def test_s3_mounts_stand_in(cluster, template):
    checks.check_s3_mounts(cluster, template)


def test_pctl_verify(cluster, template, tmp_path):
    checks.check_verify(cluster, template, tmp_path)


def test_reboot_each_node_keeps_users_mounts_modules(cluster, template):
    for node in cluster.names():
        cluster.nodes("reboot", node, timeout=900)
    checks.check_users(cluster, template)
    checks.check_s3_mounts(cluster, template)
    script = checks.module_script(template)
    for q in template.compute.queues:
        out = cluster.login(q.name, template.users[0].name, script).stdout
        checks.assert_all_load(out, template, f"{q.name} after reboot", template.spack_root)
    checks.check_jobs(cluster, template, template.users[0].name, script, template.spack_root)


def test_install_killed_half_way_finishes_after_reboot(cluster, template):
    status = f"{template.spack_root}/.pctl"
    host_status = cluster.host_path(status)
    cluster.sh("head", f"rm -f {status}/install.done {status}/install.log; {'/etc/pctl/boot.d/50-spack-install'}")
    # Half-way: once Spack has started working on the environment, not before.
    assert checks.wait_for_text(host_status / "install.log", "concretiz", 300), "the install did not start"
    assert not (host_status / "install.done").exists()
    cluster.nodes("reboot", "head", timeout=900)
    assert checks.wait_file(host_status / "install.done", 900), (
        "install.done did not appear after the reboot:\n" + (host_status / "install.log").read_text()[-3000:])
    out = cluster.login(template.compute.queues[0].name, template.users[0].name, checks.module_script(template)).stdout
    checks.assert_all_load(out, template, "after the resumed install", template.spack_root)


def test_container_module_runs_inside_the_container_in_a_slurm_job(cluster, template):
    """software.containers on real nodes: the head pulled the image once onto /shared; on a compute node a
    plain batch job's `module load samtools/1.17; samtools --version` runs inside the container.
    BOUNDARY: Apptainer is a recording stand-in (scripts/nodes_lib/services.py, docs/nodes.md)."""
    user = template.users[0].name
    sif = "/shared/containers/bio.sif"
    assert "docker://docker.io/library/ubuntu:22.04" in cluster.sh("head", f"cat {sif}").stdout
    job = "#!/bin/bash\nmodule load samtools/1.17\nsamtools --version\n"
    path = f"/home/{user}/tier3-container.sh"
    cluster.sh("head", f"cat > {path}; chown {user} {path}; chmod 755 {path}", input=job, timeout=60)
    out_file = f"/home/{user}/tier3-container.out"
    queue = template.compute.queues[1].name
    proc = cluster.login("head", user, f"rm -f {out_file}; sbatch --wait -p {queue} -o {out_file} {path}",
                         check=False, timeout=300)
    out = cluster.sh("head", f"cat {out_file} 2>&1 || true").stdout
    assert proc.returncode == 0, f"{proc.stdout}{proc.stderr}\n{out}"
    assert "APPTAINER-EXEC samtools --version" in out, out  # the stand-in ran the wrapper's command
    log = cluster.sh(queue, "cat /var/log/pctl-nodes/apptainer.log").stdout
    assert f"exec --bind /home,/shared {sif} samtools --version" in log, log
