"""Template + options -> the plain values the Jinja templates print.

All decisions live here (which subnet, which CIDR, which buckets get write access, compute resource
plans, group ids...), so the .j2 files only lay values out and tests can check decisions directly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from pctl import instance_types
from pctl.compute_resources import plan_queue
from pctl.model.constants import (
    CLUSTER_TAG,
    INSTALL_DONE,
    INSTALL_FAILED,
    INSTALL_LOG,
    OS_COMPILERS,
    SOFTWARE_STATUS_DIR,
    USER_ID_MAX,
)
from pctl.model.template import CapacityType, InstallMode, StorageType, Template
from pctl.render import options as opt
from pctl.render.options import RenderOptions, split_s3_url

CAPACITY_TYPES = {
    CapacityType.ondemand: "ONDEMAND",
    CapacityType.spot: "SPOT",
    CapacityType.capacity_block: "CAPACITY_BLOCK",
}
STORAGE_TYPES = {StorageType.ebs: "Ebs", StorageType.efs: "Efs", StorageType.fsx_lustre: "FsxLustre"}
DEB_OSES = ("ubuntu2204", "ubuntu2404")
SLURM_PREFIX = "/opt/slurm"  # where ParallelCluster installs Slurm on every node
PROFILE_SNIPPET = "/etc/profile.d/pctl-modules.sh"
MOUNT_S3_RELEASE = "https://s3.amazonaws.com/mountpoint-s3-release/latest"
SPACK_GIT = "https://github.com/spack/spack.git"
SPACK_BINARY_CACHE = "https://binaries.spack.io/v{version}"
# Supplementary groups have no GID in the template; they get a stable one from this range.
GROUP_ID_MIN = 50000


@dataclass(frozen=True)
class Value:
    """A config value; `placeholder` says what to supply when it is a stand-in."""

    value: Any
    placeholder: str | None = None


def script_names() -> tuple[str, ...]:
    return ("head-node.sh", "compute-node.sh", "spack-install.sh")


def script_url(scripts_prefix: str, name: str) -> str:
    return f"{scripts_prefix.rstrip('/')}/{name}"


def build(t: Template, o: RenderOptions) -> dict[str, Any]:
    """The context shared by every template of one render."""
    placeholders: list[str] = []

    def pick(value: Any, fallback: Any, description: str) -> Value:
        if value is not None:
            return Value(value)
        placeholders.append(description)
        return Value(fallback, description)

    n = t.networking
    head_subnet = pick(o.subnet_id or n.subnet_id, opt.PLACEHOLDER_SUBNET,
                       "HeadNode subnet: pass --subnet-id (or set networking.subnet_id)")
    compute_subnet_id = o.compute_subnet_id or n.compute_subnet_id or o.subnet_id or n.subnet_id
    key_name = pick(o.key_name or t.cluster.key_name, opt.PLACEHOLDER_KEY_NAME,
                    "EC2 key pair for SSH: pass --key-name (or set cluster.key_name)")
    scripts_prefix = o.scripts_s3_prefix or f"s3://{opt.PLACEHOLDER_SCRIPTS_BUCKET}/{t.cluster.name}/scripts"
    scripts_placeholder = None
    if o.scripts_s3_prefix is None:
        scripts_placeholder = "node scripts location: upload scripts/ and pass --scripts-s3-prefix"
        placeholders.append(scripts_placeholder)

    ssh_cidr = o.ssh_allowed_cidr or n.ssh_allowed_cidr
    ssh = {
        "cidr": ssh_cidr or n.vpc_cidr,
        "closed_to_internet": ssh_cidr is None,
    }

    s3_access = _s3_access(t, split_s3_url(scripts_prefix)[0])
    queues = []
    for q in t.compute.queues:
        subnet = pick(compute_subnet_id, opt.PLACEHOLDER_SUBNET,
                      f"subnet of queue {q.name}: pass --subnet-id or --compute-subnet-id")
        resources = []
        for cr in plan_queue(q):
            reservation = None
            if q.capacity_type is CapacityType.capacity_block:
                reservation = pick(None, opt.PLACEHOLDER_CAPACITY_RESERVATION,
                                   f"capacity block reservation id for {q.name}/{cr.name}")
            resources.append({
                "name": cr.name,
                "instance_types": list(cr.instance_types),
                "flexible": cr.flexible,
                "min_count": cr.min_count,
                "max_count": cr.max_count,
                "reservation": reservation,
            })
        queues.append({
            "name": q.name,
            "capacity_type": CAPACITY_TYPES[q.capacity_type],
            "allocation_strategy": q.allocation_strategy,
            "disable_hyperthreading": q.disable_hyperthreading,
            "efa": q.efa,
            "subnet": subnet,
            "resources": resources,
        })

    custom_ami = None
    if t.software.install is InstallMode.ami or o.custom_ami:
        custom_ami = pick(o.custom_ami, opt.PLACEHOLDER_AMI,
                          "custom AMI with the baked software: build it (install: ami) and pass its id")

    tags = [{"key": CLUSTER_TAG, "value": t.cluster.name}]
    tags += [{"key": k, "value": v} for k, v in {**t.cluster.tags, **o.extra_tags}.items() if k != CLUSTER_TAG]

    return {
        "cluster_name": t.cluster.name,
        "region": t.cluster.region,
        "os": t.cluster.os,
        "custom_ami": custom_ami,
        "tags": tags,
        "head": {"instance_type": t.compute.head_node, "subnet": head_subnet, "key_name": key_name},
        "ssh": ssh,
        "s3_access": s3_access,
        "scripts": {
            "prefix": scripts_prefix,
            "placeholder": scripts_placeholder,
            "head": script_url(scripts_prefix, "head-node.sh"),
            "compute": script_url(scripts_prefix, "compute-node.sh"),
        },
        "queues": queues,
        "shared_storage": _shared_storage(t),
        "placeholders": placeholders,
        **node_context(t),
    }


def node_context(t: Template, spack_root: str | None = None) -> dict[str, Any]:
    """What the node scripts and the Spack environment need (no AWS options involved)."""
    arch = instance_types.architecture(t.compute.head_node) or "x86_64"
    root = spack_root or t.spack_root
    status_dir = f"{root}/{SOFTWARE_STATUS_DIR}"
    version = t.software.spack_version
    major = int(version.split(".")[0])
    return {
        "arch": arch,
        "package_family": "deb" if t.cluster.os in DEB_OSES else "rpm",
        "mount_s3_url": f"{MOUNT_S3_RELEASE}/{arch}/mount-s3.{'deb' if t.cluster.os in DEB_OSES else 'rpm'}",
        "users": [u.model_dump() for u in t.users],
        "groups": supplementary_groups(t),
        "s3_mounts": [m.model_dump() for m in t.data.s3_mounts],
        "install_mode": t.software.install.value,
        "profile_snippet": PROFILE_SNIPPET,
        "spack": {
            "root": root,
            "version": version,
            "git": SPACK_GIT,
            "binary_cache": SPACK_BINARY_CACHE.format(version=version),
            "mirror_name": f"spack-v{version}",
            "specs": list(t.software.spack_packages),
            "status_dir": status_dir,
            "env_dir": f"{status_dir}/env",
            "log": f"{status_dir}/{INSTALL_LOG}",
            "done": f"{status_dir}/{INSTALL_DONE}",
            "failed": f"{status_dir}/{INSTALL_FAILED}",
            "lmod_root": f"{root}/share/spack/lmod",
            "core_dir": f"{root}/share/spack/lmod/Core",
            "lmod_link": f"{status_dir}/lmod-prefix",
            "core_compiler": OS_COMPILERS[t.cluster.os],
            # Spack 1.0 made compilers dependencies: projection tokens moved from {compiler.*} to {^c.*}.
            "projection_compiler": "{^c.name}-{^c.version}" if major >= 1 else "{compiler.name}-{compiler.version}",
            "spack_v1": major >= 1,
            "slurm_prefix": SLURM_PREFIX,
        },
    }


def supplementary_groups(t: Template) -> list[dict[str, Any]]:
    """Every supplementary group with a GID that is the same on every node.

    A group named like a template user shares that user's GID (its private group). Others get a GID
    from a hash of the name in [GROUP_ID_MIN, USER_ID_MAX], probing past ids already taken, in sorted
    name order: the same template always yields the same ids, and adding a group rarely moves others.
    """
    by_user = {u.name: u.gid for u in t.users}
    taken = {u.gid for u in t.users} | {u.uid for u in t.users}
    span = USER_ID_MAX - GROUP_ID_MIN + 1
    out = []
    for name in sorted({g for u in t.users for g in u.groups}):
        if name in by_user:
            out.append({"name": name, "gid": by_user[name]})
            continue
        gid = GROUP_ID_MIN + int(hashlib.sha256(name.encode()).hexdigest(), 16) % span
        while gid in taken:
            gid = GROUP_ID_MIN + (gid - GROUP_ID_MIN + 1) % span
        taken.add(gid)
        out.append({"name": name, "gid": gid})
    return out


def _s3_access(t: Template, scripts_bucket: str) -> list[dict[str, Any]]:
    """One entry per bucket (pcluster keys S3Access by BucketName); write only where a mount asks."""
    access: dict[str, bool] = {}
    for m in t.data.s3_mounts:
        access[m.bucket] = access.get(m.bucket, False) or not m.read_only
    for f in t.data.fsx_lustre:
        if f.import_path and not f.file_system_id:
            access.setdefault(split_s3_url(f.import_path)[0], False)
    if scripts_bucket:
        access.setdefault(scripts_bucket, False)
    return [{"bucket": b, "write": w} for b, w in access.items()]


def _shared_storage(t: Template) -> list[dict[str, Any]]:
    """SharedStorage entries: the template's volumes, then data.efs and data.fsx_lustre."""
    out: list[dict[str, Any]] = []
    for s in t.shared_storage:
        kind = STORAGE_TYPES[s.type]
        if s.type is StorageType.ebs:
            settings = {"VolumeId": s.file_system_id} if s.file_system_id else {
                "VolumeType": "gp3", "Size": s.size_gb, "Encrypted": True}
        elif s.type is StorageType.efs:
            settings = {"FileSystemId": s.file_system_id} if s.file_system_id else {"Encrypted": True}
            settings["EncryptionInTransit"] = True
        else:
            settings = {"FileSystemId": s.file_system_id} if s.file_system_id else {
                "StorageCapacity": s.size_gb, "DeploymentType": "SCRATCH_2"}
        out.append({"name": s.name, "mount_dir": s.mount_point, "kind": kind, "settings": settings,
                    "existing": s.file_system_id is not None})
    names = {s["name"] for s in out}

    def unique(base: str) -> str:
        name, i = base, 2
        while name in names:
            name, i = f"{base}-{i}", i + 1
        names.add(name)
        return name

    for i, e in enumerate(t.data.efs, 1):
        settings = {"FileSystemId": e.file_system_id} if e.file_system_id else {"Encrypted": e.encrypted}
        settings["EncryptionInTransit"] = e.encrypted
        out.append({"name": unique(f"data-efs-{i}"), "mount_dir": e.mount_point, "kind": "Efs",
                    "settings": settings, "existing": e.file_system_id is not None})
    for i, f in enumerate(t.data.fsx_lustre, 1):
        if f.file_system_id:
            settings = {"FileSystemId": f.file_system_id}
        else:
            settings = {"StorageCapacity": f.storage_capacity_gb, "DeploymentType": f.deployment_type}
            if f.import_path:
                settings["ImportPath"] = f.import_path
        out.append({"name": unique(f"data-fsx-{i}"), "mount_dir": f.mount_point, "kind": "FsxLustre",
                    "settings": settings, "existing": f.file_system_id is not None})
    return out
