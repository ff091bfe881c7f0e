"""The local cluster: up, list, exec, reboot, down over the nodes of one state directory.

State directory D (default /tmp/pctl-nodes, `--dir`):
  cluster.json        what up made: template, nodes (name, role, queues), host paths, ports
  rendered/           `pctl render` of the template for the image's OS (read-only in every node)
  fs/home, fs/<vol>   /home and every shared volume, bind-mounted into every node (ParallelCluster's NFS)
  s3/<bucket>/        local stand-ins for the template's S3 buckets (see the mount-s3 stand-in)
  nodes/<name>/       one node (node.py); its log/ holds the action's output
  ssh/                the client key and known_hosts for the head node's sshd
Nothing outside D and the root filesystem cache is written; nothing in the host's mount namespace is
mounted; only the PIDs recorded in nodes/*/init.pid are ever killed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

from nodes_lib import image as img
from nodes_lib import rootfs, services, spack_source
from nodes_lib.node import Node
from nodes_lib.proc import NodesError, log

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DIR = Path("/tmp/pctl-nodes")
OURS = {"cluster.json", "rendered", "fs", "s3", "nodes", "ssh"}  # all that D may hold
ACTION_TIMEOUT = 2100  # s: ParallelCluster 3.16's wait for a node's bootstrap (DevSettings.Timeouts)


def _timeout(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


class Cluster:
    def __init__(self, d: Path):
        self.dir = d
        self.state_file = d / "cluster.json"
        self.state: dict = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    # ---- the nodes ----------------------------------------------------------------------------------
    def nodes(self) -> list[Node]:
        return [self.node(n["name"]) for n in self.state.get("nodes", [])]

    def node(self, name: str) -> Node:
        for n in self.state.get("nodes", []):
            if n["name"] == name:
                return Node(name, self.dir / "nodes" / name, Path(self.state["rootfs"]),
                            binds={k: Path(v) for k, v in self.state["binds"].items()},
                            ro_binds={k: Path(v) for k, v in self.state["ro_binds"].items()})
        names = ", ".join(n["name"] for n in self.state.get("nodes", [])) or "none: run scripts/nodes up first"
        raise NodesError(f"no node {name!r} in {self.dir} (nodes: {names})")

    def role(self, name: str) -> str:
        return next(n["role"] for n in self.state["nodes"] if n["name"] == name)

    def host_path(self, node_path: str) -> Path | None:
        """Where a path on a shared volume of the nodes lives on this machine."""
        for dest, src in sorted(self.state["binds"].items(), key=lambda kv: -len(kv[0])):
            if node_path == dest or node_path.startswith(dest.rstrip("/") + "/"):
                return Path(src) / os.path.relpath(node_path, dest)
        return None

    # ---- up -----------------------------------------------------------------------------------------
    def up(self, template_ref: str) -> int:
        t0 = time.monotonic()
        if any(n.pid() for n in self.nodes()):
            raise NodesError(f"a cluster is already up in {self.dir}; run scripts/nodes down --dir {self.dir} first")
        if self.dir.exists() and any(self.dir.iterdir()):
            self.down(quiet=True)
        from nodes_lib.render import render_for_nodes

        template, image, source = render_for_nodes(template_ref, self.dir / "rendered")
        for port in (services.SSH_PORT, services.SLURMCTLD_PORT, services.SLURMD_PORT):
            if _port_busy(port):
                raise NodesError(f"port {port} on 127.0.0.1 is in use (another scripts/nodes cluster?)")
        timings: dict[str, float] = {"render": time.monotonic() - t0}

        t = time.monotonic()
        cache = rootfs.cache_dir()
        lower = rootfs.rootfs(image)
        timings["rootfs"] = time.monotonic() - t
        t = time.monotonic()
        spack = spack_source.bare_repo(cache)
        timings["spack-repo"] = time.monotonic() - t

        self._layout(template, image, lower, spack, source)
        t = time.monotonic()
        for node in self.nodes():
            node.start()
        for node in self.nodes():
            self._boot_services(node)
        timings["boot"] = time.monotonic() - t

        results = {}
        t = time.monotonic()
        for node in self.nodes():  # head first, as ParallelCluster: compute nodes join a configured head
            results[node.name] = self._action(node)
        timings["actions"] = time.monotonic() - t
        t = time.monotonic()
        software = self.wait_software()
        timings["software"] = time.monotonic() - t
        slurm = self._slurm_states()
        timings["total"] = time.monotonic() - t0
        self.state["timings"] = timings
        self._save()
        ok = all(rc == 0 for rc, _ in results.values()) and software == "installed"
        self._summary(results, software, slurm, ok)
        return 0 if ok else 1

    def _layout(self, template, image: img.Image, lower: Path, spack, source: Path) -> None:
        d = self.dir
        queues = [q.name for q in template.compute.queues]
        nodes = [{"name": "head", "role": "head", "queues": []}]
        nodes += [{"name": q, "role": "compute", "queues": [q]} for q in queues]
        if "head" in queues:
            raise NodesError("a queue named 'head' would share the head node's hostname; rename it")
        mounts = ["/home"] + [s.mount_point for s in template.shared_storage]
        mounts += [m.mount_point for m in (*template.data.efs, *template.data.fsx_lustre)]
        binds = {}
        for m in dict.fromkeys(mounts):
            host = d / "fs" / m.strip("/").replace("/", "__")
            host.mkdir(parents=True, exist_ok=True)
            host.chmod(0o755 if m == "/home" else 0o1777)
            binds[m] = str(host)
        for b in {m.bucket for m in template.data.s3_mounts}:
            (d / "s3" / b).mkdir(parents=True, exist_ok=True)
            (d / "s3" / b / "README").write_text(f"local stand-in for s3://{b} (scripts/nodes)\n")
        (d / "s3").mkdir(parents=True, exist_ok=True)
        binds["/var/lib/pctl-nodes/s3"] = str(d / "s3")
        ro_binds = {"/opt/pctl-nodes/rendered": str(d / "rendered")}
        knobs = {"PCTL_SPACK_INSTALL_ARGS": os.environ.get("PCTL_NODES_INSTALL_ARGS", "--fake")}
        if spack:
            ro_binds[spack_source.NODE_PATH] = str(spack[0])
            knobs |= {"PCTL_SPACK_GIT": f"file://{spack_source.NODE_PATH}", "PCTL_SPACK_REF": spack[1],
                      "PCTL_SPACK_OFFLINE": "1"}
        else:
            log("no vendored Spack tree (../shared/vendor/spack-*.tar.gz): the nodes fetch upstream Spack")
        if (lower / rootfs.SPACK_PYTHON.lstrip("/") / "bin/python").exists():
            knobs["SPACK_PYTHON"] = f"{rootfs.SPACK_PYTHON}/bin/python"
        self.state = {
            "template": str(source), "render_os": image.render_os,
            "rootfs": str(lower), "nodes": nodes, "binds": binds, "ro_binds": ro_binds, "knobs": knobs,
            "spack_root": template.spack_root, "ssh_port": services.SSH_PORT,
            "spack_tag": spack[1] if spack else None,
        }
        self._save()

        (d / "ssh").mkdir(mode=0o700, exist_ok=True)
        for k in ("id_ed25519", "host_ed25519_key"):
            if not (d / "ssh" / k).exists():
                subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"pctl-nodes-{k}",
                                "-f", str(d / "ssh" / k)], check=True)
        munge_key = os.urandom(1024)
        compute = [(n["name"], n["queues"]) for n in nodes if n["role"] == "compute"]
        conf = services.slurm_conf(compute, os.cpu_count() or 1)
        names = [n["name"] for n in nodes]
        for n in nodes:
            up = d / "nodes" / n["name"] / "upper"
            services.write(up / "etc/hostname", n["name"] + "\n")
            services.write(up / "etc/hosts", services.hosts(names))
            up.joinpath("etc/munge").mkdir(parents=True, exist_ok=True)
            (up / "etc/munge/munge.key").write_bytes(munge_key)
            services.write(up / "opt/slurm/etc/slurm.conf", conf)
            services.write(up / "etc/pctl/node.env", services.node_env(knobs))
            services.write(up / "usr/local/bin/mount-s3", services.MOUNT_S3, 0o755)
            services.write(up / "usr/local/bin/apptainer", services.APPTAINER, 0o755)
            # Jobs run the container wrappers as the template's users: its log is writable by all.
            services.write(up / "var/log/pctl-nodes/apptainer.log", "", 0o666)
            services.write(up / "usr/local/sbin/pctl-node-services", services.services_script(n["role"]), 0o755)
            if n["role"] == "head":
                services.write(up / "etc/ssh/pctl-nodes_sshd_config", services.sshd_config())
                shutil.copy(d / "ssh/host_ed25519_key", up / "etc/ssh/pctl-nodes_host_ed25519_key")
                os.chmod(up / "etc/ssh/pctl-nodes_host_ed25519_key", 0o600)
            # The image's default user (uid 1000 on Ubuntu): its home is on the shared /home.
            user, uid = img.DEFAULT_USER
            home = "-m" if n["role"] == "head" else "-M"
            services.write(up / "usr/local/sbin/pctl-node-firstboot", f"""#!/bin/bash
set -euo pipefail
id -u {user} >/dev/null 2>&1 || useradd -u {uid} -U {home} -s /bin/bash {user}
usermod -p '*' {user}
""", 0o755)

    def _boot_services(self, node: Node) -> None:
        node.run(["/usr/local/sbin/pctl-node-firstboot"], timeout=60)
        if self.role(node.name) == "head":
            user = img.DEFAULT_USER[0]
            pub = (self.dir / "ssh/id_ed25519.pub").read_text()
            node.sh(f"install -d -m 700 -o {user} -g {user} /home/{user}/.ssh && "
                    f"install -m 600 -o {user} -g {user} /dev/stdin /home/{user}/.ssh/authorized_keys",
                    input=pub, timeout=30)
        node.run(["/usr/local/sbin/pctl-node-services"], timeout=120)

    def _action(self, node: Node) -> tuple[int, float]:
        """Run the node's OnNodeConfigured script as ParallelCluster does: root, no arguments, bounded.

        Like ParallelCluster, wait for the script's stdout and stderr to close: a background process
        that keeps them open holds the action until the timeout.
        """
        script = "head-node.sh" if self.role(node.name) == "head" else "compute-node.sh"
        path = f"/opt/pctl-nodes/rendered/scripts/{script}"
        limit = _timeout("PCTL_NODES_ACTION_TIMEOUT", ACTION_TIMEOUT)
        logf = node.dir / "log" / "action.log"
        t = time.monotonic()
        with open(logf, "a") as out:
            out.write(f"==== {time.strftime('%FT%TZ', time.gmtime())} {path}\n")
            out.flush()
            proc = subprocess.Popen(node.argv([path]), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            try:
                data, _ = proc.communicate(timeout=limit)
                rc = proc.returncode
            except subprocess.TimeoutExpired:
                proc.kill()
                data, _ = proc.communicate()
                data += f"\n[scripts/nodes] action timed out after {limit:.0f}s\n".encode()
                rc = 124
            out.write(data.decode(errors="replace"))
        took = time.monotonic() - t
        log(f"{node.name}: {script} exit {rc} in {took:.1f}s (log: {logf})")
        if rc:
            print(data.decode(errors="replace")[-2000:], flush=True)
        return rc, took

    def run_boot_d(self, node: Node) -> int:
        proc = node.sh("set -e; if [ -d /etc/pctl/boot.d ]; then for f in /etc/pctl/boot.d/*; do "
                       "[ -x \"$f\" ] || continue; echo \"boot.d: $f\"; \"$f\"; done; fi", check=False,
                       timeout=_timeout("PCTL_NODES_ACTION_TIMEOUT", ACTION_TIMEOUT))
        with open(node.dir / "log" / "boot.d.log", "a") as out:
            out.write(proc.stdout + proc.stderr)
        if proc.returncode:
            log(f"{node.name}: /etc/pctl/boot.d failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
        return proc.returncode

    def wait_software(self) -> str:
        """installed | failed | timeout: poll, bounded, for <spack_root>/.pctl/install.done or .failed."""
        status = self.host_path(self.state["spack_root"] + "/.pctl")
        if status is None:
            return "not on a shared volume"
        limit = _timeout("PCTL_NODES_INSTALL_TIMEOUT", 1800)
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if (status / "install.done").exists():
                return "installed"
            if (status / "install.failed").exists():
                log("software install FAILED: " + (status / "install.failed").read_text().strip())
                text = (status / "install.log").read_text(errors="replace") if (status / "install.log").exists() else ""
                errors = [ln for ln in text.splitlines() if "Error" in ln or "error:" in ln][:20]
                print("first errors in the install log:\n" + "\n".join(errors) + "\n...\n" + text[-3000:], flush=True)
                return "failed"
            time.sleep(1)
        return f"timeout ({limit:.0f}s)"

    def _slurm_states(self) -> str:
        try:
            head = self.node("head")
            deadline = time.monotonic() + 30
            while True:
                out = head.run(["/opt/slurm/bin/sinfo", "-h", "-o", "%P %t %N"], check=False, timeout=30).stdout
                if "idle" in out and "unk" not in out and "down" not in out or time.monotonic() > deadline:
                    return out.strip()
                time.sleep(0.5)
        except (NodesError, subprocess.SubprocessError) as e:
            return f"unknown ({e})"

    def _summary(self, results, software: str, slurm: str, ok: bool) -> None:
        st = self.state
        print(f"\npctl local cluster in {self.dir}: {'READY' if ok else 'NOT READY'}")
        print(f"  template  {st['template']} (rendered as {st['render_os']}, the nearest Debian-family OS)")
        print(f"  rootfs    {st['rootfs']}")
        for n in st["nodes"]:
            rc, took = results.get(n["name"], (None, 0.0))
            queues = ",".join(n["queues"]) or "-"
            print(f"  {n['name']:<12} {n['role']:<8} queues={queues:<14} action exit={rc} ({took:.1f}s)")
        print(f"  software  {software} ({st['spack_root']})")
        print("  slurm     " + slurm.replace("\n", "\n            "))
        tm = st.get("timings", {})
        print("  time      " + ", ".join(f"{k} {v:.0f}s" for k, v in tm.items()))
        print(f"  ssh       ssh -p {st['ssh_port']} -i {self.dir}/ssh/id_ed25519 {img.DEFAULT_USER[0]}@127.0.0.1")
        print(f"  exec      scripts/nodes exec --dir {self.dir} head -- bash -l")

    # ---- the other verbs --------------------------------------------------------------------------
    def reboot(self, name: str) -> int:
        """Kill the node's processes (its mounts go with its namespace), boot it, re-run its action and boot.d."""
        node = self.node(name)
        node.stop()
        node.start()
        self._boot_services(node)
        rc, _ = self._action(node)
        rc_boot = self.run_boot_d(node)
        return 1 if rc or rc_boot else 0

    def down(self, quiet: bool = False) -> None:
        for node in reversed(self.nodes()):
            node.stop()
        nodes_dir = self.dir / "nodes"
        if nodes_dir.exists():
            for child in nodes_dir.iterdir():  # leftovers of a state file that was lost
                if (child / "init.pid").exists():
                    Node(child.name, child, Path("/nonexistent")).stop()
        if self.dir.exists():
            foreign = sorted(p.name for p in self.dir.iterdir() if p.name not in OURS)
            if foreign:
                raise NodesError(f"{self.dir} holds files scripts/nodes did not make ({', '.join(foreign[:5])}); "
                                 "not removing it: pick another --dir")
            # --one-file-system: never follow into anything mounted under D (there should be nothing).
            subprocess.run(["rm", "-rf", "--one-file-system", "--", str(self.dir)], check=False)
        if not quiet:
            log(f"down: removed {self.dir}")

    def _save(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(self.state, indent=1) + "\n")


def _port_busy(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
