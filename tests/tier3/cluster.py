"""Drive a local cluster of real nodes (scripts/nodes) from the tier-3 tests."""

from __future__ import annotations

import fcntl
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODES = REPO / "scripts" / "nodes"
UP_TIMEOUT = int(os.environ.get("PCTL_TIER3_UP_TIMEOUT", 1800))
LOCK = "/run/lock/pctl-nodes-tier3.lock" if os.path.isdir("/run/lock") else "/tmp/pctl-nodes-tier3.lock"


def skip_reason() -> str | None:
    """Why tier 3 cannot run here, or None."""
    if os.geteuid() != 0:
        return "tier 3 needs root (namespaces, chroot, mounts)"
    for tool in ("debootstrap", "unshare", "nsenter"):
        if not shutil.which(tool):
            return f"tier 3 needs {tool} (scripts/setup --system)"
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from nodes_lib import spack_source
    finally:
        sys.path.pop(0)
    if spack_source.tarball() is None:
        # A user's fresh clone: without the vendored tree the nodes would clone upstream Spack, and
        # this machine reaches no GitHub. (With network, set PCTL_NODES_SPACK_TARBALL or run up by hand.)
        return "no vendored Spack tree (../shared/vendor/spack-*.tar.gz) and no network to clone upstream Spack"
    return None


@dataclass
class Cluster:
    dir: Path
    template_path: Path
    up_output: str

    def nodes(self, *args: str, timeout: float = 600, check: bool = True,
              input: str | None = None) -> subprocess.CompletedProcess:
        verb, rest = args[0], args[1:]
        proc = subprocess.run([str(NODES), verb, "--dir", str(self.dir), *rest], capture_output=True, text=True,
                              timeout=timeout, input=input)
        if check:
            assert proc.returncode == 0, f"scripts/nodes {' '.join(args)} exit {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        return proc

    def exec(self, node: str, *cmd: str, check: bool = True, timeout: float = 300,
             input: str | None = None) -> subprocess.CompletedProcess:
        return self.nodes("exec", node, "--", *cmd, check=check, timeout=timeout, input=input)

    def sh(self, node: str, script: str, **kw) -> subprocess.CompletedProcess:
        return self.exec(node, "/bin/bash", "-c", script, **kw)

    def login(self, node: str, user: str, script: str, **kw) -> subprocess.CompletedProcess:
        """SCRIPT in USER's login shell on NODE (what an ssh session gets)."""
        return self.exec(node, "su", "-", user, "-c", script, **kw)

    def names(self) -> list[str]:
        return self.nodes("list").stdout.split()

    def template(self):
        from pctl.validation import validate_file

        _, loaded = validate_file(self.template_path)
        assert loaded.template is not None
        return loaded.template

    def host_path(self, node_path: str) -> Path:
        import json

        binds = json.loads((self.dir / "cluster.json").read_text())["binds"]
        for dest, src in sorted(binds.items(), key=lambda kv: -len(kv[0])):
            if node_path == dest or node_path.startswith(dest.rstrip("/") + "/"):
                return Path(src) / os.path.relpath(node_path, dest)
        raise AssertionError(f"{node_path} is on no shared volume")


def work_dir(name: str) -> Path:
    """A fixed state directory per test module. Not pytest's tmp_path: pytest prunes old tmp
    directories, and other test runs on the machine must never delete a running cluster's disks."""
    return Path(os.environ.get("PCTL_TIER3_DIR", _default_base())) / name


def _default_base() -> str:
    """/dev/shm (a tmpfs the host already has) when there is one: a cluster's ~40,000 files (the Spack
    checkout, the overlays) are written and removed in seconds there, where a disk mounted with
    `discard` takes minutes to delete them. Nothing is mounted for it."""
    try:
        mounts = Path("/proc/mounts").read_text().split("\n")
    except OSError:
        mounts = []
    if any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in mounts if len(line.split()) > 2):
        return "/dev/shm/pctl-tier3"
    return "/var/tmp/pctl-tier3"


def up(template: Path, work: Path):
    """Generator for a module-scoped fixture: `scripts/nodes up`, yield the Cluster, then `down`."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    # One local cluster per machine (fixed ports): concurrent test runs take turns.
    lock = open(LOCK, "a")  # noqa: SIM115 - held until the module's cluster is down
    deadline = time.monotonic() + UP_TIMEOUT
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() > deadline:
                lock.close()
                pytest.fail(f"another tier-3 cluster held {LOCK} for {UP_TIMEOUT} s")
            time.sleep(2)
    # Holding the lock, anything left in WORK is a leftover of a killed run: take it down first.
    subprocess.run([str(NODES), "down", "--dir", str(work)], capture_output=True, text=True, timeout=600)
    proc = subprocess.run([str(NODES), "up", "--dir", str(work), str(template)], capture_output=True, text=True,
                          timeout=UP_TIMEOUT)
    cluster = Cluster(work, template, proc.stdout + proc.stderr)
    try:
        assert proc.returncode == 0, f"scripts/nodes up {template.name} failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-4000:]}"
        yield cluster
    finally:
        try:
            if not os.environ.get("PCTL_TIER3_KEEP"):
                subprocess.run([str(NODES), "down", "--dir", str(work)], capture_output=True, text=True, timeout=600)
        finally:
            lock.close()


def quote(s: str) -> str:
    return shlex.quote(s)
