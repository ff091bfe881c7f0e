"""Capture an existing cluster over SSH: its modules, users, file systems and Slurm partitions.

`capture_remote("USER@HOST")` reads the head node (host key verified, see pctl.ssh) and returns a seed
template (a dict in the template format, which passes `pctl validate`), a markdown migration report
(every mapping with its confidence, what was left unmapped, every assumption), and the raw facts.

Reading (`read_facts`) and deciding (`build_template`) are separate: the second is plain data in,
data out, so each rule is easy to read and test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pctl.capture.accounts import users_and_groups
from pctl.errors import PctlError
from pctl.model.constants import (
    DEFAULT_SHARED_MOUNT,
    DEFAULT_SHARED_SIZE_GB,
    OS_ARCHITECTURES,
    USER_ID_MAX,
    USER_ID_MIN,
)
from pctl.validation.rules import (
    QUEUE_NAME_MAX,
    QUEUE_NAME_RE,
    mount_point_problem,
    paths_overlap,
    spack_spec_problem,
)

DEFAULT_REGION = "us-east-1"
DEFAULT_OS = "alinux2023"
# Lmod's own modulefiles (lmod, settarg) are not software to migrate.
LMOD_OWN_DIRS = ("/usr/share/lmod/", "/opt/apps/lmod/", "/usr/share/modulefiles/Core")
PSEUDO_FS = frozenset({
    "proc", "sysfs", "tmpfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "mqueue", "hugetlbfs", "debugfs",
    "tracefs", "securityfs", "pstore", "bpf", "configfs", "fusectl", "binfmt_misc", "autofs", "overlay",
    "squashfs", "rpc_pipefs", "nsfs", "efivarfs", "ramfs", "selinuxfs", "fuse.gvfsd-fuse", "fuse.lxcfs",
})
LOCAL_FS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "zfs", "vfat"})
# Parallel file systems with no AWS twin: FSx for Lustre is the closest (a suggestion, lower confidence).
PARALLEL_FS = {"lustre": 0.9, "gpfs": 0.6, "beegfs": 0.6, "wekafs": 0.6, "panfs": 0.5, "cephfs": 0.5}
S3_FUSE = frozenset({"fuse.s3fs", "fuse.mountpoint-s3", "fuse.goofys", "fuse.rclone"})
FSX_STEP_GB = 1200
LOW_CONFIDENCE = 0.8  # module mappings below this are reported, never put into the template


@dataclass
class RemoteCapture:
    template: dict[str, Any]
    report_md: str
    facts: dict[str, Any]

    def template_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.template, sort_keys=False, default_flow_style=False)


# ---- reading ----------------------------------------------------------------------------------

# Each fact comes from one command; the head node runs them in a login shell (Lmod, Slurm on PATH).
COMMANDS: dict[str, str] = {
    "os_release": "cat /etc/os-release",
    "host": "hostname; nproc; awk '/^MemTotal:/ {print $2}' /proc/meminfo; uname -m",
    "modules": "module -t avail 2>&1",
    "passwd": "getent passwd",
    "group": "getent group",
    "findmnt": "findmnt -J -b -o TARGET,SOURCE,FSTYPE,SIZE",
    "partitions": "scontrol show partition -o",
    "nodes": "scontrol show node -o",
    "slurm_config": "scontrol show config",
}


def _parse_target(target: str) -> tuple[str, str]:
    user, sep, host = target.rpartition("@")
    if not sep or not user or not host:
        raise PctlError(f"capture target {target!r} is not USER@HOST", "e.g. pctl capture remote admin@login.hpc.example.edu")
    return user, host


def read_facts(ssh: Any, timeout: float = 60) -> dict[str, Any]:
    raw = {}
    for key, cmd in COMMANDS.items():
        r = ssh.run(cmd, timeout=timeout)
        raw[key] = r.stdout if key != "modules" else r.output
        raw[key + "_ok"] = r.ok
    host_lines = raw["host"].split()
    os_release = dict(re.findall(r'^(\w+)="?([^"\n]*)"?$', raw["os_release"], re.MULTILINE))
    config = dict(re.findall(r"^(\w+)\s*=\s*(.*?)\s*$", raw["slurm_config"], re.MULTILINE))
    return {
        "target": ssh.target,
        "hostname": host_lines[0] if host_lines else "",
        "cpus": int(host_lines[1]) if len(host_lines) > 1 and host_lines[1].isdigit() else 0,
        "memory_gb": round(int(host_lines[2]) / 1024 / 1024, 1) if len(host_lines) > 2 and host_lines[2].isdigit() else 0.0,
        "arch": host_lines[3] if len(host_lines) > 3 else "x86_64",
        "os_id": os_release.get("ID", ""),
        "os_version": os_release.get("VERSION_ID", ""),
        "os_pretty": os_release.get("PRETTY_NAME", ""),
        "modules": parse_module_avail(raw["modules"]) if raw["modules_ok"] else [],
        "passwd": parse_passwd(raw["passwd"]),
        "groups": parse_groups(raw["group"]),
        "filesystems": parse_findmnt(raw["findmnt"]) if raw["findmnt_ok"] else [],
        "partitions": [_key_values(ln) for ln in raw["partitions"].splitlines() if ln.startswith("PartitionName=")],
        "nodes": [_key_values(ln) for ln in raw["nodes"].splitlines() if ln.startswith("NodeName=")],
        "slurm_cluster": config.get("ClusterName", ""),
        "slurm_ok": raw["partitions_ok"],
    }


def parse_module_avail(text: str) -> list[str]:
    """`module -t avail` (terse): directory headers end in ':', bare names in '/'; markers like (D) dropped."""
    modules, skip = [], False
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.endswith(":"):
            skip = line.startswith(LMOD_OWN_DIRS)
            continue
        if skip or line.endswith("/"):
            continue
        name = re.sub(r"\s*\((?:default|D|L|E|S|T|[a-zA-Z,]+)\)$", "", line).strip()
        if name and name not in modules:
            modules.append(name)
    return modules


def parse_passwd(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        p = line.split(":")
        if len(p) >= 7 and p[2].isdigit() and p[3].isdigit():
            out.append({"name": p[0], "uid": int(p[2]), "gid": int(p[3]), "home": p[5], "shell": p[6]})
    return out


def parse_groups(text: str) -> list[dict[str, Any]]:
    out = []
    for line in text.splitlines():
        p = line.split(":")
        if len(p) >= 4 and p[2].isdigit():
            out.append({"name": p[0], "gid": int(p[2]), "members": [m for m in p[3].split(",") if m]})
    return out


def parse_findmnt(text: str) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for n in nodes:
            flat.append({"target": n.get("target", ""), "source": n.get("source", ""), "fstype": n.get("fstype", ""),
                         "size": int(n.get("size") or 0)})
            walk(n.get("children", []))

    try:
        walk(json.loads(text).get("filesystems", []))
    except (ValueError, AttributeError):
        return []
    return flat


def _key_values(line: str) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S*)", line))


# ---- deciding ---------------------------------------------------------------------------------

@dataclass
class _Plan:
    """What build_template decided, with the reasons the report shows."""

    template: dict[str, Any] = field(default_factory=dict)
    software: list[dict[str, Any]] = field(default_factory=list)
    unmapped: list[dict[str, str]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    users_skipped: list[dict[str, Any]] = field(default_factory=list)
    filesystems: list[dict[str, Any]] = field(default_factory=list)
    filesystems_skipped: list[dict[str, Any]] = field(default_factory=list)
    queues: list[dict[str, Any]] = field(default_factory=list)
    assumptions: list[str] = field(default_factory=list)
    home_on_efs: bool = False  # /home was NFS: it becomes EFS shared storage (ParallelCluster 3.8+)


def _os_of(facts: dict[str, Any], plan: _Plan) -> str:
    os_id, version = facts.get("os_id", ""), facts.get("os_version", "")
    major = version.split(".")[0]
    guess = {
        ("ubuntu", "22.04"): "ubuntu2204", ("ubuntu", "24.04"): "ubuntu2404", ("amzn", "2"): "alinux2",
        ("amzn", "2023"): "alinux2023",
    }.get((os_id, version)) or {("rocky", "8"): "rocky8", ("rocky", "9"): "rocky9", ("rhel", "8"): "rhel8",
                                 ("rhel", "9"): "rhel9"}.get((os_id, major))
    if guess in ("rocky8", "rocky9"):
        # ParallelCluster publishes no Rocky image (pcluster.constants.PRIVATE_OSES); RHEL of the same major
        # release is binary compatible and has one.
        plan.assumptions.append(f"operating system rhel{major}: ParallelCluster has no Rocky image; RHEL {major} "
                                f"is binary compatible with the head node's {facts.get('os_pretty')}")
        return f"rhel{major}"
    if guess in OS_ARCHITECTURES:
        plan.assumptions.append(f"operating system {guess}: the same as the head node ({facts.get('os_pretty')})")
        return guess
    plan.assumptions.append(f"operating system {DEFAULT_OS}: ParallelCluster has no image for "
                            f"{facts.get('os_pretty') or 'the unknown OS'}; software is rebuilt by Spack anyway")
    return DEFAULT_OS


def _safe_name(text: str, pattern: re.Pattern[str], limit: int, fallback: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    name = re.sub(r"^[^a-z]+", "", name)[:limit].rstrip("-")
    return name if name and pattern.match(name) else fallback


def _software(facts: dict[str, Any], plan: _Plan) -> list[str]:
    from pctl.capture.mapping import map_module

    specs: list[str] = []
    for module in facts.get("modules", []):
        m = map_module(module)
        if m is None:
            plan.unmapped.append({"module": module, "reason": "no Spack package known by this name; install it by hand "
                                                               "or add the spec to software.spack_packages"})
            continue
        if m.kind == "site":
            plan.software.append({"module": module, "spack": None, "confidence": m.confidence,
                                  "note": m.note or "site module: nothing to install"})
            continue
        if not m.all_specs:
            plan.unmapped.append({"module": module, "reason": m.note or f"{m.kind}: not installable with Spack"})
            continue
        if m.confidence < LOW_CONFIDENCE:
            plan.unmapped.append({"module": module, "reason": f"only a guess: {', '.join(m.all_specs)} "
                                  f"(confidence {m.confidence:.2f}; {m.note}); confirm, then add it by hand"})
            continue
        for spec in m.all_specs:
            problem = spack_spec_problem(spec)
            if problem:
                plan.unmapped.append({"module": module, "reason": f"mapped to {spec!r}, which {problem}"})
                continue
            plan.software.append({"module": module, "spack": spec, "confidence": m.confidence, "note": m.note})
            if spec not in specs:
                specs.append(spec)
    if specs:
        plan.assumptions.append("Spack builds every package into the shared volume after boot (install: shared); "
                                "versions are the modules' own; check the low-confidence rows")
    return specs


def _filesystems(facts: dict[str, Any], plan: _Plan) -> dict[str, list[dict[str, Any]]]:
    data: dict[str, list[dict[str, Any]]] = {"efs": [], "fsx_lustre": [], "s3_mounts": []}
    taken: list[str] = [DEFAULT_SHARED_MOUNT]
    for f in facts.get("filesystems", []):
        target, fstype = f["target"], f["fstype"]
        if fstype in PSEUDO_FS or not target.startswith("/"):
            continue
        kind, confidence, suggestion = None, 0.0, ""
        if fstype in ("nfs", "nfs4"):
            kind, confidence, suggestion = "efs", 0.9, "EFS (NFS v4.1, elastic size)"
        elif fstype in PARALLEL_FS:
            kind, confidence = "fsx_lustre", PARALLEL_FS[fstype]
            suggestion = "FSx for Lustre" + ("" if fstype == "lustre" else f" (closest to {fstype})")
        elif fstype in S3_FUSE:
            bucket = f["source"].split(":")[0] if ":" in f["source"] else ""
            if bucket and re.fullmatch(r"[a-z0-9.-]{3,63}", bucket):
                kind, confidence, suggestion = "s3_mounts", 0.8, f"S3 bucket {bucket} (read-only mount)"
            else:
                plan.filesystems_skipped.append({**f, "reason": "an S3 FUSE mount whose bucket is not in its source; "
                                                 "add it to data.s3_mounts by hand"})
                continue
        elif fstype in ("cifs", "smb3", "smbfs"):
            plan.filesystems_skipped.append({**f, "reason": "SMB share: FSx for Windows is not supported by pctl"})
            continue
        elif fstype in LOCAL_FS:
            if target != "/" and mount_point_problem(target) is None:
                plan.filesystems_skipped.append({**f, "reason": "a local disk of the head node: a shared_storage "
                                                 "EBS volume (or instance store for scratch) if the data must move"})
            continue
        else:
            plan.filesystems_skipped.append({**f, "reason": f"file system type {fstype} is not mapped"})
            continue
        if target == "/home" and kind == "efs" and data["efs"]:
            plan.filesystems_skipped.append({**f, "reason": "ParallelCluster creates at most one EFS file system per "
                                             f"cluster ({data['efs'][0]['mount_point']} is it): /home stays "
                                             "ParallelCluster's own (NFS from the head node); copy the files"})
            continue
        if target == "/home" and kind == "efs":
            # ParallelCluster (3.8+) shares /home from EFS: the site's NFS /home maps there, not to a data mount.
            plan.home_on_efs = True
            plan.filesystems.append({**f, "suggestion": "EFS shared storage for /home", "confidence": confidence})
            plan.assumptions.append("/home: a new, encrypted EFS file system as shared storage; the users' files "
                                    "are not copied")
            continue
        problem = mount_point_problem(target)
        if problem:
            plan.filesystems_skipped.append({**f, "reason": f"mount point {problem}; ParallelCluster provides it"
                                             if target == "/home" else f"mount point {problem}"})
            continue
        if any(paths_overlap(target, t) for t in taken):
            plan.filesystems_skipped.append({**f, "reason": "overlaps another mount point (or /shared, where "
                                             "software goes)"})
            continue
        if kind in ("efs", "fsx_lustre") and (data[kind] or (kind == "efs" and plan.home_on_efs)):
            label = "EFS" if kind == "efs" else "FSx for Lustre"
            taken_by = data[kind][0]["mount_point"] if data[kind] else "/home"
            plan.filesystems_skipped.append({**f, "reason": f"ParallelCluster creates at most one {label} file system "
                                             f"per cluster ({taken_by} is it): give this one as an "
                                             f"existing file system (data.{kind}[].file_system_id), or merge the data"})
            continue
        taken.append(target)
        entry: dict[str, Any] = {"mount_point": target}
        if kind == "fsx_lustre":
            gb = fsx_capacity_gib(f["size"])
            entry["storage_capacity_gb"] = gb
            plan.assumptions.append(f"{target}: a new FSx for Lustre of {gb} GB (SCRATCH_2); copy the data "
                                    "into it (or link an S3 bucket with import_path)")
        elif kind == "efs":
            plan.assumptions.append(f"{target}: a new, encrypted EFS file system; its data is not copied")
        elif kind == "s3_mounts":
            entry = {"bucket": f["source"].split(":")[0], "mount_point": target, "read_only": True}
        data[kind].append(entry)
        plan.filesystems.append({**f, "suggestion": suggestion, "confidence": confidence})
    return {k: v for k, v in data.items() if v}


def fsx_capacity_gib(size_bytes: int) -> int:
    """The smallest FSx for Lustre (SCRATCH_2) capacity that holds the data: 1200, 2400, then steps of 2400."""
    need = -(-size_bytes // 2**30)
    if need <= FSX_STEP_GB:
        return FSX_STEP_GB
    return -(-need // (2 * FSX_STEP_GB)) * 2 * FSX_STEP_GB


def _queues(facts: dict[str, Any], plan: _Plan) -> list[dict[str, Any]]:
    from pctl.capture.instances import suggest_instance_type

    nodes = facts.get("nodes", [])
    queues: list[dict[str, Any]] = []
    names: set[str] = set()
    for p in facts.get("partitions", []):
        part = p.get("PartitionName", "")
        members = [n for n in nodes if part in n.get("Partitions", "").split(",")]
        cpus = max((int(n.get("CPUTot", 0) or 0) for n in members), default=int(p.get("TotalCPUs", 1) or 1))
        mem_gb = max((int(n.get("RealMemory", 0) or 0) for n in members), default=0) / 1024
        gpus = max((_gpus(n.get("Gres", "")) for n in members), default=0)
        count = int(p.get("TotalNodes", 0) or 0) or len(members) or 1
        name = _safe_name(part, QUEUE_NAME_RE, QUEUE_NAME_MAX, f"queue{len(queues) + 1}")
        while name in names:
            name = f"{name[:QUEUE_NAME_MAX - 2]}-{len(queues) + 1}"
        names.add(name)
        try:
            itype, confidence, reason = suggest_instance_type(cpus, mem_gb, gpus, arch=_arch(facts))
        except ValueError as exc:
            itype, confidence, reason = "c6i.large", 0.1, f"{exc}; c6i.large is a placeholder"
        queues.append({"name": name, "instance_types": [itype], "min_count": 0, "max_count": max(count, 1)})
        plan.queues.append({"partition": part, "name": name, "nodes": count, "cpus": cpus, "memory_gb": round(mem_gb, 1),
                            "gpus": gpus, "instance_type": itype, "confidence": confidence, "reason": reason})
        if name != part:
            plan.assumptions.append(f"partition {part} becomes queue {name} (queue names are lowercase, "
                                    f"at most {QUEUE_NAME_MAX} characters)")
    if queues:
        plan.assumptions.append("every queue scales from 0 to as many nodes as its partition has now, on demand")
    else:
        queues.append({"name": "compute", "instance_types": ["c6i.2xlarge"], "min_count": 0, "max_count": 10})
        plan.assumptions.append("no Slurm partition could be read: one placeholder queue `compute` (c6i.2xlarge)")
    return queues


def _gpus(gres: str) -> int:
    m = re.search(r"gpu(?::[\w-]+)?:(\d+)", gres or "")
    return int(m.group(1)) if m else 0


def _arch(facts: dict[str, Any]) -> str:
    return "arm64" if facts.get("arch") in ("aarch64", "arm64") else "x86_64"


def _head_node(facts: dict[str, Any], plan: _Plan) -> str:
    from pctl.capture.instances import suggest_instance_type

    cpus = max(2, min(int(facts.get("cpus") or 2), 16))
    mem = min(float(facts.get("memory_gb") or 4), 64.0)
    try:
        itype, _, _ = suggest_instance_type(cpus, mem, 0, arch=_arch(facts))
    except ValueError:
        itype = "c6i.large"
    plan.assumptions.append(f"head node {itype}: sized like the current one ({facts.get('cpus')} CPUs, "
                            f"{facts.get('memory_gb')} GiB; capped at 16 CPUs, 64 GiB since it runs no jobs)")
    return itype


def build_template(facts: dict[str, Any]) -> _Plan:
    plan = _Plan()
    name = _safe_name(facts.get("slurm_cluster") or facts.get("hostname") or "", re.compile(r"^[a-z][a-z0-9-]+$"),
                      40, "migrated")
    cluster: dict[str, Any] = {"name": name, "region": DEFAULT_REGION, "os": _os_of(facts, plan)}
    plan.assumptions.insert(0, f"region {DEFAULT_REGION}: change cluster.region to where the data should live")
    template: dict[str, Any] = {
        "description": f"Captured from {facts.get('hostname') or facts.get('target')} by pctl capture remote",
        "cluster": cluster,
        "compute": {"head_node": _head_node(facts, plan), "queues": _queues(facts, plan)},
    }
    specs = _software(facts, plan)
    if specs:
        template["software"] = {"spack_packages": specs}
    users, groups = users_and_groups(facts, plan)
    if groups:
        template["groups"] = groups
    if users:
        template["users"] = users
    data = _filesystems(facts, plan)
    if data:
        template["data"] = data
    if plan.home_on_efs:
        template["shared_storage"] = [
            {"name": "shared", "mount_point": DEFAULT_SHARED_MOUNT, "type": "ebs", "size_gb": DEFAULT_SHARED_SIZE_GB},
            {"name": "home", "mount_point": "/home", "type": "efs"},
        ]
    plan.assumptions.append(f"software goes on a new {DEFAULT_SHARED_MOUNT} EBS volume (100 GB, encrypted), "
                            "shared with every node")
    plan.assumptions.append("SSH to the head node stays closed until networking.ssh_allowed_cidr names your network")
    plan.template = template
    return plan


# ---- the report -------------------------------------------------------------------------------

@cache
def _report_template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, autoescape=False,
        trim_blocks=False, lstrip_blocks=False,
    )
    env.filters["mdcell"] = lambda v: str(v).replace("|", "\\|").replace("\n", " ")
    return env.get_template("remote_report.md.j2")


def render_report(plan: _Plan, facts: dict[str, Any]) -> str:
    return _report_template().render(
        facts=facts, template=plan.template, software=plan.software, unmapped=plan.unmapped, users=plan.users,
        users_skipped=plan.users_skipped, filesystems=plan.filesystems,
        filesystems_skipped=plan.filesystems_skipped, queues=plan.queues, assumptions=plan.assumptions,
        uid_min=USER_ID_MIN, uid_max=USER_ID_MAX,
    )


def capture_remote(
    target: str,
    port: int = 22,
    key_path: str | None = None,
    *,
    known_hosts: str | None = None,
    accept_new_host_key: bool = False,
    expected_fingerprint: str | None = None,
    timeout: float = 60,
) -> RemoteCapture:
    """Read USER@HOST over SSH (host key verified) and propose a template plus a migration report."""
    from pctl.ssh import SshClient

    user, host = _parse_target(target)
    with SshClient(host, user, port=port, key_path=key_path, known_hosts=known_hosts,
                   expected_fingerprint=expected_fingerprint, accept_new_host_key=accept_new_host_key) as ssh:
        facts = read_facts(ssh, timeout=timeout)
    plan = build_template(facts)
    return RemoteCapture(template=plan.template, report_md=render_report(plan, facts), facts=facts)
