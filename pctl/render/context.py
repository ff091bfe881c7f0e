"""Template + options -> the plain values the Jinja templates print.

All decisions live here (which subnet, which CIDR, which buckets get write access, compute resource
plans, group ids...), so the .j2 files only lay values out and tests can check decisions directly.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from typing import Any

from pctl import instance_types
from pctl.compute_resources import plan_queue
from pctl.model.constants import (
    CLUSTER_TAG,
    INSTALL_DONE,
    INSTALL_FAILED,
    INSTALL_LOG,
    SOFTWARE_STATUS_DIR,
)
from pctl.model.template import (
    CapacityType,
    InstallMode,
    Platform,
    StorageType,
    Template,
)
from pctl.render import options as opt
from pctl.render.options import RenderOptions, split_s3_url
from pctl.render.storage import shared_storage

CAPACITY_TYPES = {
    CapacityType.ondemand: "ONDEMAND",
    CapacityType.spot: "SPOT",
    CapacityType.capacity_block: "CAPACITY_BLOCK",
}
DEB_OSES = ("ubuntu2204", "ubuntu2404")
SLURM_PREFIX = "/opt/slurm"  # where ParallelCluster installs Slurm on every node
PROFILE_SNIPPET = "/etc/profile.d/pctl-modules.sh"
MOUNT_S3_RELEASE = "https://s3.amazonaws.com/mountpoint-s3-release/latest"
SPACK_GIT = "https://github.com/spack/spack.git"
SPACK_BINARY_CACHE = "https://binaries.spack.io/v{version}"
# Node knobs and boot registration (the contract with whoever runs the node; docs/rendering.md).
NODE_ENV_FILE = "/etc/pctl/node.env"
BOOT_DIR = "/etc/pctl/boot.d"
BOOT_RUNNER = "/etc/pctl/boot.sh"
BOOT_UNIT = "/etc/systemd/system/pctl-boot.service"
# Spack packages whose build needs a Fortran compiler (their package.py calls for FC/F77 or
# refuses to configure without one). The installer checks the CONCRETIZED environment against this
# list too, so a dependency (gromacs -> openblas) counts; a root spec here installs it up front.
FORTRAN_PACKAGES = (
    "openmpi", "mpich", "mvapich2", "openblas", "netlib-lapack", "netlib-scalapack", "scalapack",
    "netcdf-fortran", "hdf5-fortran", "fftw-fortran", "arpack-ng", "mumps", "elpa", "cp2k",
    "quantum-espresso", "wrf", "nwchem", "r", "py-scipy", "gcc-runtime-fortran", "lapack",
    "superlu", "plumed", "siesta", "abinit", "vasp", "octopus", "yambo",
)
# A variant that turns Fortran on in a package that does not need it otherwise.
FORTRAN_VARIANT_RE = re.compile(r"\+fortran\b")
# The OS package of the Fortran compiler that matches the OS's gcc.
FORTRAN_OS_PACKAGE = {"deb": "gfortran", "rpm": "gcc-gfortran"}
# Commands the installer needs, with the OS package that provides each (same name on deb and rpm).
OS_TOOLS = (("git", "git"), ("curl", "curl"), ("patch", "patch"), ("bzip2", "bzip2"), ("xz", "xz"),
            ("unzip", "unzip"), ("make", "make"), ("file", "file"), ("flock", "util-linux"))
# Spack's MPI providers: packages built against one of them sit under it in the Lmod hierarchy.
MPI_PROVIDERS = ("openmpi", "mpich", "mvapich2", "mvapich", "intel-oneapi-mpi", "intel-mpi", "mpt",
                 "cray-mpich", "mpitrampoline")


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
    allowed = ssh_cidr or o.vpc_cidr or n.vpc_cidr  # H7 (issue 14): the user's VPC's real CIDR when known
    ssh = {
        "cidr": allowed,
        "closed_to_internet": ssh_cidr is None and opt.is_private(allowed),
    }

    s3_access = _s3_access(t, *split_s3_url(scripts_prefix))
    cache_bucket, head_iam = _cache_iam(t, o, s3_access)
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
        "head_iam": head_iam,
        "scripts": {
            "prefix": scripts_prefix,
            "placeholder": scripts_placeholder,
            "head": script_url(scripts_prefix, "head-node.sh"),
            "compute": script_url(scripts_prefix, "compute-node.sh"),
        },
        "queues": queues,
        "shared_storage": shared_storage(t),
        "placeholders": placeholders,
        **node_context(t, cache_bucket=cache_bucket),
    }


def _cache_iam(t: Template, o: RenderOptions, s3_access: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """The binary cache's bucket (issue 15) and the head node's IAM: {"s3_access", "policies", "note"}.

    Only the head node installs (install: shared), so only it reaches the cache; compute nodes get nothing
    of it. With the managed policy `pctl create` made (``cache_policy_arn``) the head node gets it under
    AdditionalIamPolicies (objects, the prefix's listing, the signing key). Without one (a plain render) it
    gets write on the cache prefix through S3Access and a note that the key needs the policy."""
    from pctl.cache.location import cache_bucket_for
    from pctl.cache.location import s3_access as cache_s3_access

    pctl_bucket = split_s3_url(o.scripts_s3_prefix)[0] if o.scripts_s3_prefix else None
    cache_bucket = cache_bucket_for(t.software.binary_cache, pctl_bucket)
    head: dict[str, Any] = {"s3_access": list(s3_access), "policies": [], "note": None}
    # PCS renders no cluster config: there the login group's own role has the cache (pctl.pcs.nodes)
    if cache_bucket and t.software.install is InstallMode.shared and t.cluster.platform is not Platform.pcs:
        if o.cache_policy_arn:
            head["policies"].append(o.cache_policy_arn)
        else:
            head["s3_access"].append(cache_s3_access(cache_bucket))
            head["note"] = ("The Spack binary cache's signing key and listing need the managed policy "
                            "`pctl create` makes (pctl-NAME-spack-cache); without it the head node builds from source.")
    return cache_bucket, head


def node_context(t: Template, spack_root: str | None = None, cache_bucket: str | None = None) -> dict[str, Any]:
    """What the node scripts and the Spack environment need (no AWS options involved).

    Decided here: the Spack target (pctl.targets.cluster_target over the head node's and every
    queue's instance types), whether a Fortran compiler is needed up front, the modules the
    installer and verify check, S3 prefixes ending in '/'. Decided on the node at install time:
    the core compiler (`spack compiler find`) and the Slurm version. ``cache_bucket``: pctl's bucket,
    whose ``spack-cache/v<version>`` prefix is the account's binary cache (pctl.cache; None: no cache).
    """
    from pctl.cache import location as cache_location
    from pctl.containers.modules import node_context as container_context
    from pctl.targets import UnknownInstanceFamily, cluster_target
    from pctl.validation.rules import spack_package_name, spack_spec_version

    arch = instance_types.architecture(t.compute.head_node) or "x86_64"
    root = spack_root or t.spack_root
    status_dir = f"{root}/{SOFTWARE_STATUS_DIR}"
    version = t.software.spack_version
    major = int(version.split(".")[0])
    family = "deb" if t.cluster.os in DEB_OSES else "rpm"
    types = sorted({t.compute.head_node, *(it for q in t.compute.queues for it in q.instance_types)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownInstanceFamily)  # validation reports unknown families
        try:
            target = cluster_target(types)
        except ValueError:
            target = "x86_64_v2" if arch == "x86_64" else "aarch64"  # validation refuses the mix first
    specs = list(t.software.spack_packages)
    names = [spack_package_name(s) for s in specs]
    fortran_roots = [n for n, s in zip(names, specs, strict=True) if n in FORTRAN_PACKAGES or FORTRAN_VARIANT_RE.search(s)]
    mpi_modules = []
    for spec in specs:
        for m in re.finditer(r"(?:^|\^)\s*(" + "|".join(map(re.escape, MPI_PROVIDERS)) + r")(?![\w-])(?:@=?([A-Za-z0-9_.-]+))?",
                             spec):
            module = f"{m.group(1)}/{m.group(2)}" if m.group(2) else m.group(1)
            if module not in mpi_modules:
                mpi_modules.append(module)
    module_checks = []
    for spec, name in zip(specs, names, strict=True):
        v = spack_spec_version(spec)
        module_checks.append({"label": spec, "module": f"{name}/{v}" if v else name, "probe": None})
    s3_mounts = []
    for m in t.data.s3_mounts:
        mount = m.model_dump()
        if mount.get("prefix") and not mount["prefix"].endswith("/"):
            mount["prefix"] += "/"  # mount-s3 refuses a prefix that does not end in '/'
        s3_mounts.append(mount)
    return {
        "arch": arch,
        "package_family": family,
        "mount_s3_url": f"{MOUNT_S3_RELEASE}/{arch}/mount-s3.{family}",
        "users": node_users(t),
        "groups": node_groups(t),
        "s3_mounts": s3_mounts,
        "install_mode": t.software.install.value,
        "profile_snippet": PROFILE_SNIPPET,
        "node_env_file": NODE_ENV_FILE,
        "boot_dir": BOOT_DIR,
        "boot_runner_path": BOOT_RUNNER,
        "boot_unit_path": BOOT_UNIT,
        "fortran_package": FORTRAN_OS_PACKAGE[family],
        "containers": container_context(t, t.software_mount, arch, family),
        "os_tools": list(OS_TOOLS),
        "spack": {
            "root": root,
            "version": version,
            "git": SPACK_GIT,
            "binary_cache": SPACK_BINARY_CACHE.format(version=version),
            "mirror_name": f"spack-v{version}",
            "cache_mirror": cache_location.MIRROR_NAME,
            "account_cache": {"url": cache_location.cache_url(cache_bucket, version),
                              "secret": cache_location.SECRET_NAME,
                              "region": t.cluster.region, "cluster": t.cluster.name} if cache_bucket else None,
            "specs": specs,
            "target": target,
            "target_types": types,
            "fortran_roots": fortran_roots,
            "fortran_packages": list(FORTRAN_PACKAGES),
            "mpi_providers": list(MPI_PROVIDERS),
            "mpi_modules": mpi_modules,
            "module_checks": module_checks,
            "status_dir": status_dir,
            "env_dir": f"{status_dir}/env",
            "log": f"{status_dir}/{INSTALL_LOG}",
            "done": f"{status_dir}/{INSTALL_DONE}",
            "failed": f"{status_dir}/{INSTALL_FAILED}",
            "lmod_root": f"{root}/share/spack/lmod",
            "core_dir": f"{root}/share/spack/lmod/Core",
            "lmod_link": f"{status_dir}/lmod-prefix",
            # Spack 1.0 made compilers dependencies: projection tokens moved from {compiler.*} to {^c.*}.
            "projection_compiler": "{^c.name}-{^c.version}" if major >= 1 else "{compiler.name}-{compiler.version}",
            "spack_v1": major >= 1,
            "slurm_prefix": SLURM_PREFIX,
        },
    }


def node_groups(t: Template) -> list[dict[str, Any]]:
    """Every group the node scripts create, each once, with the one GID the template gives it.

    Declared groups (top-level `groups:`, the site's GIDs) come first, then each user's own group
    (named like the user, GID = the user's gid) unless that gid belongs to a declared group.
    Shape: [{"name": str, "gid": int}], in creation order.
    """
    return [{"name": g.name, "gid": g.gid} for g in t.node_groups()]


def node_users(t: Template) -> list[dict[str, Any]]:
    """The users the node scripts create: [{"name", "uid", "gid" (primary, resolved), "shell", "groups"}]."""
    return [{"name": u.name, "uid": u.uid, "gid": u.gid, "shell": u.shell, "groups": list(dict.fromkeys(u.groups))}
            for u in t.users]


def _s3_access(t: Template, scripts_bucket: str, scripts_key_prefix: str = "") -> list[dict[str, Any]]:
    """S3Access entries: least privilege per bucket (H7, issue 14).

    - a mounted bucket: read on the whole bucket (mount-s3 lists it), write on the whole bucket only for a
      read-write mount without a prefix; a read-write mount with a prefix writes under that prefix only
      (a second entry with KeyName "<prefix>/*": pcluster's policy resource is then bucket/<prefix>/*);
    - an FSx import bucket: read;
    - pctl's scripts bucket: read of this cluster's own scripts prefix only (KeyName), never the bucket.
    """
    read: dict[str, None] = {}
    write_all: set[str] = set()
    write_prefixes: dict[str, dict[str, None]] = {}
    for m in t.data.s3_mounts:
        read[m.bucket] = None
        if not m.read_only:
            prefix = (m.prefix or "").strip("/")
            if prefix:
                write_prefixes.setdefault(m.bucket, {})[prefix] = None
            else:
                write_all.add(m.bucket)
    fsx = [f for f in t.data.fsx_lustre if not f.file_system_id]
    fsx += [s.settings for s in t.shared_storage if s.type is StorageType.fsx_lustre and s.created]
    for f in fsx:
        if f.import_path:  # type: ignore[union-attr]
            read.setdefault(split_s3_url(f.import_path)[0], None)  # type: ignore[union-attr]
    out: list[dict[str, Any]] = [{"bucket": b, "write": b in write_all, "key": None} for b in read]
    for bucket, prefixes in write_prefixes.items():
        if bucket not in write_all:
            out += [{"bucket": bucket, "write": True, "key": f"{p}/*"} for p in prefixes]
    if scripts_bucket and scripts_bucket not in read:
        key = f"{scripts_key_prefix.strip('/')}/*" if scripts_key_prefix.strip("/") else None
        out.append({"bucket": scripts_bucket, "write": False, "key": key})
    return out
