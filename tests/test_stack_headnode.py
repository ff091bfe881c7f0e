"""The real software stack on the loopback head node (scripts/headnode): pctl's rendered installer ran
with the vendored Spack (real concretization, `install --fake`, real Lmod modules and hierarchy), and
pctl's rendered /etc/profile.d snippet is installed. Checked over SSH as a user would."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.headnode


def test_concretized_specs_carry_the_pinned_target_and_the_nodes_compiler(headnode):
    root = headnode.spack_root
    gcc = subprocess.run(["gcc", "-dumpfullversion"], capture_output=True, text=True, check=True).stdout.strip()
    # The core compiler is the node's own, found at install time; nothing pctl rendered named it.
    node = yaml.safe_load((root / ".pctl" / "env" / "node-compilers.yaml").read_text())
    assert node["modules"]["default"]["lmod"]["core_compilers"] == [f"gcc@{gcc}"]
    lock = json.loads((root / ".pctl" / "env" / "spack.lock").read_text())
    specs = list(lock["concrete_specs"].values())
    assert {s["name"] for s in specs} >= {"python", "openmpi", "hdf5", "zlib", "lmod"}
    # t3 (Skylake) head, c6a (Zen 3) and t3 queues: the newest target all run is x86_64_v3.
    assert {s["arch"]["target"] if isinstance(s["arch"]["target"], str) else s["arch"]["target"]["name"]
            for s in specs} == {"x86_64_v3"}
    assert {f"{s['compiler']['name']}@{s['compiler']['version']}" for s in specs if "compiler" in s} == {f"gcc@{gcc}"}
    # So the modules land in Core, and hdf5 +mpi under openmpi in the hierarchy.
    lmod = root / "share" / "spack" / "lmod"
    assert list((lmod / "Core" / "openmpi").glob("4.1.6-*.lua"))
    assert list(lmod.glob("openmpi/4.1.6-*/Core/hdf5/1.14.*.lua"))
    assert not list((lmod / "Core").glob("hdf5/*.lua"))
    assert (root / ".pctl" / "install.done").is_file()


def _ssh(headnode, tmp_path, cmd: str, timeout: float = 60):
    with headnode.client(tmp_path / "kh") as ssh:
        return ssh.run(cmd, timeout=timeout)


LOAD = "module load openmpi/4.1.6 hdf5/1.14 && command -v h5dump && echo \"MPI=$(command -v mpirun)\""


def test_module_load_in_a_login_shell_and_in_bash_c_from_it(headnode, tmp_path):
    login = _ssh(headnode, tmp_path, LOAD)  # SshClient runs `bash -lc`: a login shell
    assert login.ok, login.output
    assert "/hdf5-1.14" in login.stdout and "/openmpi-4.1.6" in login.stdout
    child = _ssh(headnode, tmp_path, f"bash -c {shlex.quote(LOAD)}")  # what sbatch passes the environment to
    assert child.ok, child.output
    assert "/hdf5-1.14" in child.stdout
    assert "lmod" in _ssh(headnode, tmp_path, "bash -c 'echo $BASH_ENV'").stdout


def test_module_load_in_a_slurm_batch_job(headnode, tmp_path):
    out = f"/tmp/pctl-stack-job-{time.time_ns()}.out"
    script = f"#!/bin/bash\n{LOAD}\n"
    with headnode.client(tmp_path / "kh") as ssh:
        # A plain `#!/bin/bash` job script: non-login, it inherits the login shell's environment.
        submitted = ssh.run(f"sbatch --parsable -p batch -o {out}", stdin=script, timeout=60)
        job = submitted.stdout.strip().splitlines()[-1].split(";")[0]
        assert job.isdigit(), submitted.output
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            state = ssh.run(f"scontrol show job -o {job}", timeout=30).stdout
            if "JobState=COMPLETED" in state or "JobState=FAILED" in state:
                break
            time.sleep(0.5)
        text = ssh.run(f"cat {out}; rm -f {out}", timeout=30).stdout
    assert "JobState=COMPLETED" in state, state + text
    assert "/hdf5-1.14" in text and "MPI=" in text and "/openmpi-4.1.6" in text, text


@pytest.mark.parametrize(("target", "compiler", "used"), [
    ("sapphirerapids", "gcc@12.2.0", "sapphirerapids"),
    ("sapphirerapids", "gcc@8.5.0", "icelake"),  # RHEL 8's gcc does not know Sapphire Rapids
    ("zen4", "gcc@9.4.0", "zen2"),
])
def test_installer_falls_back_to_a_target_the_nodes_compiler_knows(headnode, target, compiler, used):
    # The installer's own check (rendered, kept in <spack_root>/.pctl), run by the installed Spack.
    root = headnode.spack_root
    python = root.parents[2] / "venv" / "bin" / "python"  # the clingo venv beside the cached roots
    out = subprocess.run([str(root / "bin" / "spack"), "python", str(root / ".pctl" / "target-check.py"), target,
                          compiler], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "SPACK_DISABLE_LOCAL_CONFIG": "1", "SPACK_PYTHON": str(python)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == used


def test_install_done_needs_every_module_to_load(headnode):
    """The check the installer runs before it writes install.done, on the real tree: a package with no
    module makes it fail (so the installer writes install.failed naming it), MPI ones load after MPI."""
    from pctl.render.context import node_context
    from pctl.render.environment import render_template
    from pctl.validation import validate_text

    data = yaml.safe_load(Path(headnode.template_path).read_text(encoding="utf-8"))
    data["software"]["spack_packages"] += ["fftw@3.3.10"]
    t = validate_text(yaml.safe_dump(data), "<test>")[1].template
    installer = render_template("scripts/spack-install.sh.j2", node_context(t))
    check = installer.split("<<'PCTL_CHECK_EOF'\n", 1)[1].split("PCTL_CHECK_EOF\n", 1)[0]
    core = headnode.spack_root / "share" / "spack" / "lmod" / "Core"
    out = subprocess.run(["bash", "-c", check], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": "/root", "MODULEPATH": str(core)})
    lines = {ln.split("\t")[1]: ln.split("\t")[2:] for ln in out.stdout.splitlines() if ln.startswith("PCTL-MODULE\t")}
    assert out.returncode == 1
    assert lines["fftw@3.3.10"][0] == "fail"
    assert lines["hdf5@1.14 +mpi"][:2] == ["ok", "openmpi/4.1.6"]
    assert lines["zlib"][:2] == ["ok", ""]
    assert "if ! result=$(env MODULEPATH=\"$MODULES_CORE\" bash \"$STATUS_DIR/check-modules.sh\"" in installer
    assert installer.index("check-modules.sh\" 2>&1); then") < installer.index('> "$INSTALL_DONE"')
