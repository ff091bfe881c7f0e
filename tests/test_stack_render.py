"""The node software stack's decisions (issue 9/12), checked on what pctl renders and, where it runs
here, by running the rendered bash: the CPU target, the core compiler found on the node, Fortran, the
node knobs, boot registration, S3 prefixes, the Slurm version without slurm.conf, the AMI cleanup, and
`module` in non-login shells when the image's Tcl modules export BASH_ENV.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import warnings

import pytest
import yaml

from pctl import library
from pctl.render import ami_software_script, render
from pctl.targets import UnknownInstanceFamily, cluster_target, instance_target
from pctl.validation import validate_file, validate_text
from pctl.verify import module_check_script

BASE = {
    "cluster": {"name": "demo", "region": "us-east-1", "os": "ubuntu2204"},
    "compute": {"head_node": "t3.medium", "queues": [{"name": "q", "instance_types": ["c6i.xlarge"]}]},
}


def template(**changes):
    data = {**BASE, **changes}
    report, loaded = validate_text(yaml.safe_dump(data), "<test>")
    assert loaded.template is not None, report
    return loaded.template


# ---- the CPU target ------------------------------------------------------------------------------

@pytest.mark.parametrize(("types", "want"), [
    (["c6i.xlarge", "c6a.2xlarge"], "x86_64_v3"),  # Intel head + AMD queue: a target both run
    (["t3.medium", "c6i.xlarge"], "skylake_avx512"),  # t3 may be Skylake: the older wins
    (["c5n.18xlarge", "c7i.2xlarge"], "skylake_avx512"),
    (["c7i.2xlarge", "m7i.xlarge"], "sapphirerapids"),
    (["hpc7a.96xlarge", "c6a.2xlarge"], "zen3"),
    (["c7g.xlarge", "t4g.medium"], "neoverse_n1"),
    (["c7g.xlarge", "hpc7g.16xlarge"], "neoverse_v1"),
    (["c6in.xlarge", "m6idn.large", "x2idn.16xlarge"], "icelake"),
])
def test_cluster_target_is_the_newest_every_type_runs(types, want):
    import archspec.cpu

    got = cluster_target(types)
    assert got == want
    for t in types:  # every node's own microarchitecture runs the target
        assert archspec.cpu.TARGETS[instance_target(t)] >= archspec.cpu.TARGETS[got]


def test_unknown_family_falls_back_to_the_generic_level_with_a_warning():
    with pytest.warns(UnknownInstanceFamily, match="t2"):
        assert cluster_target(["t2.micro", "c6i.xlarge"]) == "x86_64_v2"
    with pytest.raises(ValueError, match="mix architectures"):
        cluster_target(["c7g.xlarge", "c6i.xlarge"])
    with pytest.raises(ValueError, match="not an EC2 instance type"):
        cluster_target(["nonsense"])


def test_target_is_pinned_for_head_and_every_queue():
    t = template(compute={"head_node": "c6i.xlarge", "queues": [
        {"name": "intel", "instance_types": ["c6i.2xlarge"]}, {"name": "amd", "instance_types": ["c6a.2xlarge"]}]})
    env = yaml.safe_load(render(t).files["spack/spack.yaml"])["spack"]
    assert env["packages"]["all"]["require"] == ["target=x86_64_v3"]
    baked = ami_software_script(t)
    assert "SPACK_TARGET=x86_64_v3" in baked


# ---- compilers -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(library.names()))
def test_no_compiler_version_is_assumed(name):
    r = render(validate_file(library.path_of(name))[1].template)
    env = yaml.safe_load(r.files["spack/spack.yaml"])["spack"]
    assert "core_compilers" not in env["modules"]["default"]["lmod"]
    assert "node-compilers.yaml" in env["include"]
    installer = r.files["scripts/spack-install.sh"]
    assert "compiler find" in installer and "core_compilers" in installer
    assert not re.search(r"gcc@\d", installer + r.files["spack/spack.yaml"])


@pytest.mark.parametrize(("os_name", "package"), [("ubuntu2204", "gfortran"), ("rhel9", "gcc-gfortran"),
                                                  ("alinux2023", "gcc-gfortran")])
def test_fortran_compiler_for_packages_that_need_it(os_name, package):
    mpi = render(template(cluster={**BASE["cluster"], "os": os_name},
                          software={"spack_packages": ["openmpi@4.1.6", "samtools"]})).files["scripts/spack-install.sh"]
    assert f"FORTRAN_PACKAGE={package}\n" in mpi
    assert re.search(r"^ensure_fortran 'requested openmpi build\(s\) with Fortran'$", mpi, re.M)
    plain = render(template(software={"spack_packages": ["samtools"]})).files["scripts/spack-install.sh"]
    assert not re.search(r"^ensure_fortran ", plain, re.M)
    # ... but a dependency that needs Fortran (gromacs -> openblas) is found after concretizing.
    assert "concrete_names | grep -xE '" in plain and "|openblas|" in plain
    variant = render(template(software={"spack_packages": ["hdf5 +fortran"]})).files["scripts/spack-install.sh"]
    assert re.search(r"^ensure_fortran 'requested hdf5 build", variant, re.M)


# ---- node knobs, boot registration, S3 -------------------------------------------------------------

def test_every_node_script_reads_the_node_knobs_and_registers_boot_work():
    t = template(software={"spack_packages": ["zlib"]},
                 data={"s3_mounts": [{"bucket": "ref-data", "mount_point": "/data/ref", "prefix": "genomes"}]})
    files = render(t).files
    for name in ("scripts/head-node.sh", "scripts/compute-node.sh", "scripts/spack-install.sh"):
        assert ". /etc/pctl/node.env" in files[name], name
    installer = files["scripts/spack-install.sh"]
    for knob in ("${PCTL_SPACK_GIT:-https://github.com/spack/spack.git}", "${PCTL_SPACK_REF:-v$SPACK_VERSION}",
                 "PCTL_SPACK_INSTALL_ARGS", "SPACK_PYTHON", "PCTL_SPACK_OFFLINE"):
        assert knob in installer
    assert "cannot be reached; building everything from source" in installer  # a warning, not a failure
    for name in ("scripts/head-node.sh", "scripts/compute-node.sh"):
        s = files[name]
        assert "cat > /etc/pctl/boot.d/40-s3-mounts" in s and "\n/etc/pctl/boot.d/40-s3-mounts\n" in s
        assert "--prefix genomes/" in s  # normalised: mount-s3 refuses a prefix without the slash
        assert "systemctl enable pctl-boot.service" in s and "[ -d /run/systemd/system ]" in s
    head = files["scripts/head-node.sh"]
    assert "cat > /etc/pctl/boot.d/50-spack-install" in head and "\n/etc/pctl/boot.d/50-spack-install\n" in head
    assert "50-spack-install" not in files["scripts/compute-node.sh"]


def _run_boot_runner(tmp_path, script: str) -> subprocess.CompletedProcess:
    """The rendered boot runner, relocated into tmp_path, with two entries (one failing)."""
    runner = script.split("cat > /etc/pctl/boot.sh <<'PCTL_BOOT_EOF'\n", 1)[1].split("PCTL_BOOT_EOF\n", 1)[0]
    boot = tmp_path / "boot.d"
    boot.mkdir()
    for name, body in (("50-second", "echo second"), ("10-first", "echo first; exit 4"), ("30-off", "echo no")):
        (boot / name).write_text(f"#!/bin/sh\n{body}\n")
        (boot / name).chmod(0o755 if name != "30-off" else 0o644)
    path = tmp_path / "boot.sh"
    path.write_text(runner.replace("/etc/pctl/boot.d", str(boot)))
    return subprocess.run(["bash", str(path)], capture_output=True, text=True, timeout=30)


def test_boot_runner_runs_entries_in_name_order_and_reports_failure(tmp_path):
    result = _run_boot_runner(tmp_path, render(template()).files["scripts/compute-node.sh"])
    lines = [ln for ln in result.stdout.splitlines() if not ln.startswith("pctl-boot:")]
    assert lines == ["first", "second"]  # name order; a failure does not stop the rest; not executable: skipped
    assert result.returncode == 1 and "10-first failed (4)" in result.stderr


# ---- Slurm version without slurm.conf ----------------------------------------------------------------

def _slurm_version_fn() -> str:
    installer = render(template(software={"spack_packages": ["zlib"]})).files["scripts/spack-install.sh"]
    start = installer.index("slurm_version_of() {")
    return installer[start: installer.index("\n}\n", start) + 3]


def test_slurm_version_is_read_without_sinfo_from_a_parallelcluster_prefix(tmp_path):
    rendered = "\n".join(render(template(software={"spack_packages": ["zlib"]})).files.values())
    assert not re.search(r"^[^#]*sinfo\" --version", rendered, re.M)  # only the comment names it
    prefix = tmp_path / "opt" / "slurm"
    (prefix / "include" / "slurm").mkdir(parents=True)
    # What Slurm's `make install` writes (ParallelCluster builds Slurm from source into /opt/slurm).
    (prefix / "include" / "slurm" / "slurm_version.h").write_text(
        '#define SLURM_VERSION_NUMBER 0x180b0a\n#define SLURM_VERSION_STRING "24.11.5"\n')
    (prefix / "bin").mkdir()
    (prefix / "bin" / "sinfo").write_text("#!/bin/sh\necho 'fatal: Unable to process configuration file' >&2\nexit 1\n")
    (prefix / "bin" / "sinfo").chmod(0o755)
    script = _slurm_version_fn() + f'slurm_version_of {prefix}\n'
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert (out.returncode, out.stdout) == (0, "24.11.5\n")
    out = subprocess.run(["bash", "-c", _slurm_version_fn() + f"slurm_version_of {tmp_path / 'none'}"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 1 and out.stdout == ""


@pytest.mark.skipif(not os.path.exists("/usr/bin/sinfo"), reason="Debian's slurm-client is not installed")
def test_slurm_version_of_a_distribution_slurm_with_no_slurm_conf(tmp_path):
    # Debian's Slurm in /usr, with no configuration reachable: sinfo itself would fail here.
    env = {"PATH": "/usr/bin:/bin", "SLURM_CONF": str(tmp_path / "no-slurm.conf")}
    version = subprocess.run(["bash", "-c", _slurm_version_fn() + "slurm_version_of /usr"],
                             capture_output=True, text=True, env=env, timeout=30)
    assert version.returncode == 0, version.stderr
    assert re.fullmatch(r"\d\d\.\d\d\.\d+\n", version.stdout)
    try:  # sinfo itself cannot answer here: Debian's retries for a minute, then "fatal: Unable to process..."
        sinfo = subprocess.run(["sinfo", "--version"], capture_output=True, text=True, env=env, timeout=3)
    except subprocess.TimeoutExpired:
        return
    assert sinfo.returncode != 0 or sinfo.stdout.split()[1] == version.stdout.strip()


# ---- AMI cleanup -------------------------------------------------------------------------------------

def test_bake_ends_with_parallelclusters_ami_cleanup():
    bake = ami_software_script(template(software={"spack_packages": ["zlib"], "install": "ami"}))
    cleanup = bake[bake.index("# ---- the cleanup ParallelCluster"):]
    assert "aws-parallelcluster-cookbook v3.11.1" in cleanup and "files/ami_cleanup.sh" in cleanup
    for step in ("cloud-init clean", "rm -f /etc/ssh/ssh_host_*", "/etc/udev/rules.d/70-persistent-net.rules",
                 "find /tmp /var/tmp -mindepth 1 -delete", "find /var/log -type f -delete", "touch /var/log/lastlog",
                 "/var/crash"):
        assert step in cleanup, step
    # The software must be there before the image is cleaned.
    assert bake.index("die \"the software install did not finish") < bake.index("cloud-init clean")


# ---- modules in every kind of shell ----------------------------------------------------------------

LMOD_INIT = "/usr/share/lmod/lmod/init"


@pytest.mark.skipif(not os.path.exists(f"{LMOD_INIT}/bash"), reason="Debian's lmod is not installed")
def test_profile_snippet_beats_tcl_modules_bash_env_in_child_shells(tmp_path):
    """An image's Tcl environment-modules exports BASH_ENV to its init and an exported `module`; after
    the snippet, a login shell, a `bash -c` child and a `#!/bin/bash` script (what sbatch runs) all get
    Lmod's `module`, and it loads a Lua modulefile from the Core directory."""
    snippet = render(template()).files["modules/pctl-modules.sh"]
    core = tmp_path / "core"
    (core / "hello").mkdir(parents=True)
    (core / "hello" / "1.0.lua").write_text('setenv("PCTL_HELLO", "lua-module-loaded")\n')
    snippet = snippet.replace("/shared/spack/share/spack/lmod/Core", str(core))
    (tmp_path / "pctl-modules.sh").write_text(snippet)
    tcl = tmp_path / "tcl-init.sh"  # stands in for /usr/share/modules/init/bash (not installed here)
    tcl.write_text("module() { echo 'Tcl module: cannot read Lua' >&2; return 1; }\nexport -f module\n")
    job = tmp_path / "job.sh"
    job.write_text("#!/bin/bash\nmodule load hello/1.0 && echo \"job: $PCTL_HELLO\"\n")
    job.chmod(0o755)
    login = (f". {tcl}; export BASH_ENV={tcl}; . {tmp_path}/pctl-modules.sh; "
             "module load hello/1.0 && echo \"login: $PCTL_HELLO\"; module purge; "
             "bash -c 'module load hello/1.0 && echo \"bash -c: $PCTL_HELLO\"'; "
             f"{job}")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    out = subprocess.run(["bash", "-c", login], capture_output=True, text=True, env=env, timeout=120)
    assert out.stdout.splitlines() == ["login: lua-module-loaded", "bash -c: lua-module-loaded",
                                       "job: lua-module-loaded"], out.stderr
    assert "Tcl module" not in out.stderr


# ---- the module check verify and the installer share -------------------------------------------------

def test_module_check_script_is_shellcheck_clean(tmp_path, shellcheck_bin):
    t = template(software={"spack_packages": ["openmpi@4.1.6", "hdf5 +mpi ^openmpi", "samtools@1.19"]})
    script = module_check_script(t)
    assert "echo openmpi/4.1.6" in script  # the template's MPI is tried first
    assert "pctl_check samtools/1.19 samtools/1.19 'samtools --version'" in script
    path = tmp_path / "check.sh"
    path.write_text("#!/bin/bash\n" + script)
    check = subprocess.run([shellcheck_bin, "--severity=style", str(path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_shellcheck_binary_present():
    assert shutil.which("bash")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cluster_target(["c6i.xlarge"])  # a known family warns nothing


def _resume_entry(tmp_path) -> tuple[str, object]:
    head = render(template(software={"spack_packages": ["zlib"]})).files["scripts/head-node.sh"]
    entry = head.split("cat > /etc/pctl/boot.d/50-spack-install <<'PCTL_RESUME_EOF'\n", 1)[1]
    entry = entry.split("PCTL_RESUME_EOF\n", 1)[0]
    status = tmp_path / ".pctl"
    status.mkdir()
    (status / "install.sh").write_text("#!/bin/bash\ntouch \"$(dirname \"$0\")/started\"\n")
    (status / "install.sh").chmod(0o755)
    path = tmp_path / "50-spack-install"
    path.write_text(entry.replace("/shared/spack/.pctl", str(status)))
    return str(path), status


def test_install_resumes_at_boot_even_when_its_old_pid_is_reused(tmp_path):
    entry, status = _resume_entry(tmp_path)
    (status / "install.pid").write_text(f"{os.getpid()}\n")  # a live process, as after a reboot
    subprocess.run(["bash", entry], check=True, capture_output=True, timeout=30)
    for _ in range(100):
        if (status / "started").exists():
            break
        time.sleep(0.05)
    assert (status / "started").exists()


def test_install_is_not_started_twice_nor_after_it_finished(tmp_path):
    entry, status = _resume_entry(tmp_path)
    holder = subprocess.Popen(["flock", str(status / "install.lock"), "sleep", "30"])  # a running installer
    try:
        time.sleep(0.3)
        out = subprocess.run(["bash", entry], check=True, capture_output=True, text=True, timeout=30)
        assert "already running" in out.stdout
    finally:
        holder.kill()
        holder.wait()
    (status / "install.done").write_text("done\n")
    out = subprocess.run(["bash", entry], check=True, capture_output=True, text=True, timeout=30)
    assert "already installed" in out.stdout
    time.sleep(0.3)
    assert not (status / "started").exists()
