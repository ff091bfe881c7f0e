"""One node: an overlay root filesystem in its own mount, PID and UTS namespaces (unshare + chroot).

A node directory holds upper/ and work/ (the overlay's writable layer: the node's "disk", kept across
reboots), root/ (the mount point), and init.pid (host PID and start time of the namespace's PID 1,
tini). Every mount a node makes lives in its private mount namespace (`mount --make-rprivate /` first),
so killing PID 1 (the kernel then kills the whole PID namespace) drops all of them: nothing is ever
mounted or unmounted in the host's namespace.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from nodes_lib.proc import NodesError, is_ours, kill_recorded, start_time

NODE_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/root",
            "LANG": "C.UTF-8", "TERM": "dumb"}
# Device nodes a node gets (bind-mounted from the host one by one, never the whole /dev).
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")


@dataclass
class Node:
    name: str                  # "head" or a queue name; also the node's hostname
    dir: Path                  # D/nodes/<name>
    lower: Path                # the cached root filesystem (read-only lower layer)
    binds: dict[str, Path] = field(default_factory=dict)        # node path -> host dir (read-write)
    ro_binds: dict[str, Path] = field(default_factory=dict)     # node path -> host dir (read-only)

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def root(self) -> Path:
        return self.dir / "root"

    def _setup_script(self) -> str:
        r = shlex.quote(str(self.root))
        lines = [
            "set -eu",
            "mount --make-rprivate /",
            f"mount -t overlay overlay -o lowerdir={self.lower},upperdir={self.upper},workdir={self.dir / 'work'} {r}",
            f"mount -t proc proc {r}/proc",
            f"mount -t tmpfs -o mode=755,nosuid tmpfs {r}/dev",
        ]
        for d in DEVICES:
            lines += [f"touch {r}/dev/{d}", f"mount --bind /dev/{d} {r}/dev/{d}"]
        lines += [
            f"mkdir -p {r}/dev/pts {r}/dev/shm",
            f"mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts {r}/dev/pts",
            f"ln -s pts/ptmx {r}/dev/ptmx", f"ln -s /proc/self/fd {r}/dev/fd",
            f"ln -s /proc/self/fd/0 {r}/dev/stdin", f"ln -s /proc/self/fd/1 {r}/dev/stdout",
            f"ln -s /proc/self/fd/2 {r}/dev/stderr",
            f"mount -t tmpfs tmpfs {r}/dev/shm",
            f"mount --rbind /sys {r}/sys", f"mount --make-rslave {r}/sys",
            f"mount -t tmpfs -o mode=755,nosuid tmpfs {r}/run",
        ]
        for dest, src in self.binds.items():
            lines += [f"mkdir -p {r}{shlex.quote(dest)}", f"mount --bind {shlex.quote(str(src))} {r}{shlex.quote(dest)}"]
        for dest, src in self.ro_binds.items():
            q = f"{r}{shlex.quote(dest)}"
            lines += [f"mkdir -p {q}", f"mount --bind {shlex.quote(str(src))} {q}", f"mount -o remount,bind,ro {q}"]
        lines += [f"hostname {shlex.quote(self.name)}",
                  f"exec chroot {r} /usr/bin/tini -s -- /bin/sh -c 'exec sleep infinity'"]
        return "\n".join(lines)

    # ---- life cycle --------------------------------------------------------------------------------
    def pid(self) -> int | None:
        """Host PID of the node's PID 1 when it runs (and is the process we started), else None."""
        try:
            pid_s, started = (self.dir / "init.pid").read_text().split()
        except (OSError, ValueError):
            return None
        return int(pid_s) if is_ours(int(pid_s), started) else None

    def start(self, timeout: float = 30) -> int:
        if self.pid():
            raise NodesError(f"node {self.name} is already running")
        for sub in ("upper", "work", "root", "log"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        with open(self.dir / "log" / "namespace.log", "a") as logf:
            proc = subprocess.Popen(["unshare", "--mount", "--uts", "--pid", "--fork", "--", "/bin/sh", "-c",
                                     self._setup_script()], stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                    start_new_session=True)
        deadline = time.monotonic() + timeout
        child = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise NodesError(f"node {self.name} did not start: see {self.dir / 'log' / 'namespace.log'}")
            try:
                kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            except OSError:
                kids = []
            if kids:
                child = int(kids[0])
                try:
                    # PID 1 has exec'd tini inside the chroot (the setup shell's text mentions tini too)
                    if Path(f"/proc/{child}/cmdline").read_text().split("\0")[0] == "/usr/bin/tini":
                        break
                except OSError:
                    pass
            time.sleep(0.05)
        else:
            raise NodesError(f"node {self.name} did not start within {timeout:.0f}s")
        started = start_time(child)
        (self.dir / "init.pid").write_text(f"{child} {started}\n")
        return child

    def stop(self) -> None:
        """Kill the node: SIGKILL to its PID 1 ends every process of the namespace and drops its mounts."""
        try:
            pid_s, started = (self.dir / "init.pid").read_text().split()
        except (OSError, ValueError):
            return
        kill_recorded(int(pid_s), started)
        (self.dir / "init.pid").unlink(missing_ok=True)

    # ---- commands inside ---------------------------------------------------------------------------
    def argv(self, cmd: list[str], env: dict[str, str] | None = None) -> list[str]:
        pid = self.pid()
        if pid is None:
            raise NodesError(f"node {self.name} is not running (scripts/nodes up first)")
        environ = [f"{k}={v}" for k, v in {**NODE_ENV, **(env or {})}.items()]
        return ["nsenter", "-t", str(pid), "--mount", "--uts", "--pid", "--root", "--wd",
                "--", "/usr/bin/env", "-i", *environ, *cmd]

    def run(self, cmd: list[str], *, timeout: float | None = None, input: str | None = None,
            check: bool = True) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.argv(cmd), capture_output=True, text=True, timeout=timeout, input=input)
        if check and proc.returncode != 0:
            raise NodesError(f"{self.name}: {' '.join(cmd)[:200]} failed (exit {proc.returncode}):\n"
                             f"{(proc.stdout + proc.stderr).strip()[-3000:]}")
        return proc

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        return self.run(["/bin/bash", "-c", script], **kw)
