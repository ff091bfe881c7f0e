"""What the tier-3 tests check inside the nodes; shared by every template's test module.

Each check runs one batch of shell per node (the nodes are real: a round trip costs ~0.3 s), parses
its lines and asserts on them, so a failure names the node, the user, the package and the context.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import time
from pathlib import Path

from pctl.validation.rules import spack_package_name
from tests.tier3.cluster import Cluster

MPI_PROVIDERS = ("openmpi", "mpich", "mvapich2", "intel-oneapi-mpi")


def packages(template) -> list[tuple[str, str | None]]:
    """(package, the MPI module to load first or None) for each requested spec, MPIs excluded."""
    names = [spack_package_name(s) for s in template.software.spack_packages]
    mpi = next((n for n in names if n in MPI_PROVIDERS), None)
    out = []
    for spec, name in zip(template.software.spack_packages, names, strict=True):
        needs_mpi = mpi is not None and name not in MPI_PROVIDERS and ("+mpi" in spec.replace(" ", "") or name == "hdf5")
        out.append((name, mpi if needs_mpi else None))
    return out


def module_script(template) -> str:
    """Bash that loads every package (its MPI first where the hierarchy needs it) and prints one
    `RESULT name ok|fail detail` line each, plus which `module` this shell has."""
    lines = [
        'echo "MODULE-CMD $(module --version 2>&1 | grep -m1 -o "Modules based on Lua\\|Modules Release [0-9.]*\\|Lmod" || echo none)"',
        "check() {",
        '  module purge >/dev/null 2>&1',
        '  if [ -n "$2" ]; then module load "$2" >/dev/null 2>&1 || { echo "RESULT $1 fail cannot load MPI $2"; return; }; fi',
        '  if [ -n "$2" ]; then module -t avail 2>&1 | grep -q "^$1/" || { echo "RESULT $1 fail not in module avail after $2"; return; }',
        '  else module -t avail 2>&1 | grep -q "^$1/" || { echo "RESULT $1 fail not in module avail"; return; }; fi',
        '  if module load "$1" >/dev/null 2>&1; then',
        '    p=$(printf %s "$PATH" | tr : "\\n" | grep -m1 -E "/$1-[0-9][^/]*/bin\\$" || true)',
        '    if [ -n "$p" ]; then echo "RESULT $1 ok $p"; else echo "RESULT $1 fail loaded but no $1 prefix on PATH"; fi',
        '  else echo "RESULT $1 fail $(module load "$1" 2>&1 | tr "\\n" " " | cut -c1-200)"; fi',
        "}",
    ]
    for name, mpi in packages(template):
        lines.append(f"check {shlex.quote(name)} {shlex.quote(mpi or '')}")
    return "\n".join(lines) + "\n"


def parse_results(text: str) -> dict[str, str]:
    return {m.group(1): m.group(2) for m in re.finditer(r"^RESULT (\S+) (.*)$", text, re.M)}


def assert_all_load(text: str, template, where: str, spack_root: str) -> None:
    results = parse_results(text)
    for name, _ in packages(template):
        assert name in results, f"{where}: no result for {name}:\n{text[-3000:]}"
        assert results[name].startswith("ok "), f"{where}: module load {name}: {results[name]}\n{text[-2000:]}"
        assert results[name].split()[1].startswith(spack_root + "/"), f"{where}: {name} not from {spack_root}: {results[name]}"


def check_list(c: Cluster, template) -> None:
    assert c.names() == ["head", *[q.name for q in template.compute.queues]]


def check_users(c: Cluster, template) -> None:
    names = [u.name for u in template.users]
    script = "; ".join(f"getent passwd {shlex.quote(n)}; echo GROUPS {shlex.quote(n)} $(id -G {shlex.quote(n)})" for n in names)
    for node in c.names():
        out = c.sh(node, script).stdout
        for u in template.users:
            m = re.search(rf"^{re.escape(u.name)}:[^:]*:(\d+):(\d+):", out, re.M)
            assert m, f"{node}: no user {u.name}:\n{out}"
            assert (int(m.group(1)), int(m.group(2))) == (u.uid, u.gid), f"{node}: {u.name} has uid:gid {m.groups()}"
            gids = set(re.search(rf"^GROUPS {re.escape(u.name)} (.*)$", out, re.M).group(1).split())
            for g in u.groups:
                want = next(x.gid for x in template.groups if x.name == g) if any(x.name == g for x in template.groups) \
                    else next(x.gid for x in template.users if x.name == g)
                assert str(want) in gids, f"{node}: {u.name} not in group {g} ({want}): {gids}"


def check_modules_everywhere(c: Cluster, template, spack_root: str) -> None:
    """On every compute node: login shell, `bash -c` started from it; then a Slurm job per queue."""
    user = template.users[0].name
    script = module_script(template)
    for q in template.compute.queues:
        out = c.login(q.name, user, script).stdout
        assert "MODULE-CMD none" not in out, f"{q.name}: no module command in a login shell:\n{out}"
        assert_all_load(out, template, f"{q.name} login shell", spack_root)
        out = c.login(q.name, user, f"bash -c {shlex.quote(script)}").stdout
        assert_all_load(out, template, f"{q.name} bash -c from a login shell", spack_root)
    check_jobs(c, template, user, script, spack_root)


def check_jobs(c: Cluster, template, user: str, script: str, spack_root: str) -> None:
    """One plain `#!/bin/bash` batch job per queue, submitted from the user's login shell on head."""
    home = f"/home/{user}"
    job = "#!/bin/bash\necho \"JOB-HOST $(hostname)\"\n" + script
    for q in template.compute.queues:
        path = f"{home}/tier3-{q.name}.sh"
        c.sh("head", f"cat > {path}; chown {user} {path}; chmod 755 {path}", input=job, timeout=60)
        out_file = f"{home}/tier3-{q.name}.out"
        proc = c.login("head", user, f"rm -f {out_file}; sbatch --wait -p {q.name} -o {out_file} {path}",
                       check=False, timeout=300)
        out = c.sh("head", f"cat {out_file} 2>&1 || true").stdout
        assert proc.returncode == 0, f"sbatch on {q.name} failed: {proc.stdout}{proc.stderr}\n{out}"
        assert f"JOB-HOST {q.name}" in out, f"the job of queue {q.name} ran elsewhere:\n{out}"
        assert_all_load(out, template, f"Slurm job on {q.name}", spack_root)


def check_specs(c: Cluster, template, spack_root: str) -> None:
    """The concretized specs carry the pinned cluster target and the node's real compiler."""
    from pctl.targets import cluster_target

    want_target = cluster_target([template.compute.head_node, *[t for q in template.compute.queues for t in q.instance_types]])
    gcc = c.sh("head", "gcc -dumpfullversion").stdout.strip()
    out = c.sh("head", f"set -a; . /etc/pctl/node.env; set +a; export SPACK_DISABLE_LOCAL_CONFIG=1; "
                       f"{spack_root}/bin/spack -e {spack_root}/.pctl/env find --format "
                       "'SPEC {name} {arch.target} {compiler.name}@{compiler.version}'", timeout=300).stdout
    specs = {m.group(1): (m.group(2), m.group(3).replace("@=", "@")) for m in re.finditer(r"^SPEC (\S+) (\S+) (\S+)$", out, re.M)}
    for name, _ in packages(template):
        assert name in specs, f"{name} not installed in the environment:\n{out}"
        target, compiler = specs[name]
        assert target == want_target, f"{name} built for {target}, not the pinned {want_target}"
        assert compiler == f"gcc@{gcc}", f"{name} built with {compiler}, not the node's gcc@{gcc}"


def check_s3_mounts(c: Cluster, template) -> None:
    """BOUNDARY: S3 is out of reach; each node's mount-s3 is a stand-in that checks and records its
    arguments and bind-mounts a local directory (docs/nodes.md). What is real: the node script's calls."""
    for node in c.names():
        for m in template.data.s3_mounts:
            mp = shlex.quote(m.mount_point)
            out = c.sh(node, f"mountpoint -q {mp} && echo MOUNTED; touch {mp}/.tier3-w 2>/dev/null && echo WRITABLE; "
                             f"rm -f {mp}/.tier3-w; grep -F -- {shlex.quote(m.bucket)} /var/log/pctl-nodes/mount-s3.log | tail -1",
                       check=False).stdout
            assert "MOUNTED" in out, f"{node}: {m.mount_point} is not mounted:\n{out}"
            assert ("WRITABLE" in out) != m.read_only, f"{node}: {m.mount_point} read_only={m.read_only} but:\n{out}"
            if m.read_only:
                assert "--read-only" in out, f"{node}: mount-s3 for {m.bucket} ran without --read-only: {out}"
            if m.prefix:
                assert f"--prefix {m.prefix}" in out, f"{node}: mount-s3 for {m.bucket} ran without --prefix {m.prefix}: {out}"


def check_verify(c: Cluster, template, tmp: Path) -> None:
    """pctl verify (SSH with host key verification) passes; with one module removed it fails naming it."""
    from pctl.ssh import SshClient
    from pctl.verify import verify_cluster_node

    fp = subprocess.run(["ssh-keygen", "-lf", str(c.dir / "ssh/host_ed25519_key.pub")], capture_output=True,
                        text=True, check=True).stdout.split()[1]

    def verify():
        with SshClient("127.0.0.1", "ubuntu", port=2322, key_path=c.dir / "ssh/id_ed25519",
                       known_hosts=tmp / "known_hosts", expected_fingerprint=fp) as ssh:
            return verify_cluster_node(ssh, template, wait_timeout_s=60, poll_s=2, job_timeout_s=300)

    report = verify()
    assert report.ok, "pctl verify failed:\n" + "\n".join(f"{x.name}: {x.detail}" for x in report.missing())
    # Remove one package's module files (the last requested package): verify must name it.
    victim = packages(template)[-1][0]
    lmod = c.host_path(f"{template.spack_root}/share/spack/lmod")
    moved = list(lmod.rglob(f"{victim}/*.lua"))
    assert moved, f"no module file of {victim} under {lmod}"
    for p in moved:
        p.rename(p.with_suffix(".tier3-removed"))
    try:
        c.sh("head", "rm -rf /home/ubuntu/.cache/lmod /home/ubuntu/.lmod.d/.cache", check=False)
        report = verify()
        failed = " ".join(f"{x.name} {x.detail}" for x in report.missing())
        assert not report.ok and victim in failed, f"verify did not name {victim}: {failed or 'it passed'}"
    finally:
        for p in moved:
            p.with_suffix(".tier3-removed").rename(p)


def wait_file(path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            return True
        time.sleep(1)
    return False


def wait_for_text(path: Path, text: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and text in path.read_text(errors="replace"):
            return True
        time.sleep(0.5)
    return False
