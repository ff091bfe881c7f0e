"""The offline checks. One class per check; each yields Issues with the field path and a hint."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from pctl import instance_types
from pctl.model.constants import OS_ARCHITECTURES, RESERVED_USER_NAMES, USER_ID_MAX, USER_ID_MIN
from pctl.model.template import CapacityType, InstallMode, Platform, StorageType, Template
from pctl.validation import rules
from pctl.validation.base import Validator
from pctl.validation.issues import Issue, Level


class ClusterNameValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        name = t.cluster.name
        if not rules.CLUSTER_NAME_RE.match(name):
            yield self.issue(("cluster", "name"), f"cluster name {name!r} is not valid",
                             "start with a letter; use only letters, digits and hyphens, e.g. `genomics-2024`")
        elif len(name) > rules.CLUSTER_NAME_MAX:
            yield self.issue(("cluster", "name"), f"cluster name is {len(name)} characters long; the limit is 60",
                             "shorten the name")


class RegionValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        known = rules.known_regions()
        region = t.cluster.region
        if known and region not in known:
            import difflib

            close = difflib.get_close_matches(region, sorted(known), n=1, cutoff=0.7)
            hint = f"did you mean `{close[0]}`?" if close else "use a region code such as us-east-1 or eu-west-1"
            yield self.issue(("cluster", "region"), f"unknown AWS region {region!r}", hint)


class KeyNameValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        if t.cluster.key_name is not None and not rules.KEY_NAME_RE.match(t.cluster.key_name):
            yield self.issue(("cluster", "key_name"), "key pair name has characters EC2 does not allow",
                             "use letters, digits, spaces and ._:/+=@-")


class AwsTagValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for key, value in t.cluster.tags.items():
            path = ("cluster", "tags", key)
            if key.lower().startswith("aws:") or key.startswith("pctl:"):
                yield self.issue(path, f"tag key {key!r} uses a reserved prefix", "aws: and pctl: tags are set by AWS and pctl")
            elif not rules.TAG_KEY_RE.match(key):
                yield self.issue(path, f"tag key {key!r} is not a valid AWS tag key", "1-128 letters, digits, spaces and _.:/=+-@")
            if not rules.TAG_VALUE_RE.match(str(value)):
                yield self.issue(path, "tag value is not a valid AWS tag value", "at most 256 letters, digits, spaces and _.:/=+-@")


class QueueNameValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        counts = Counter(q.name for q in t.compute.queues)
        for i, q in enumerate(t.compute.queues):
            path = ("compute", "queues", i, "name")
            if not rules.QUEUE_NAME_RE.match(q.name):
                yield self.issue(path, f"queue name {q.name!r} is not valid for Slurm/ParallelCluster",
                                 f"use a lowercase letter first, then lowercase letters, digits or hyphens, e.g. `{rules_suggest(q.name)}`")
            elif len(q.name) > rules.QUEUE_NAME_MAX:
                yield self.issue(path, f"queue name is {len(q.name)} characters long; the limit is 25",
                                 f"shorten it, e.g. `{q.name[:25].rstrip('-')}`")
            if counts[q.name] > 1:
                yield self.issue(path, f"queue name {q.name!r} is used more than once", "give every queue its own name")


def rules_suggest(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"q-{cleaned}".rstrip("-")
    return cleaned[:25]


class QueueCountValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for i, q in enumerate(t.compute.queues):
            if q.min_count > q.max_count:
                yield self.issue(("compute", "queues", i, "min_count"),
                                 f"min_count ({q.min_count}) is greater than max_count ({q.max_count})",
                                 f"set min_count to at most {q.max_count}, or raise max_count")


class InstanceTypeValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        if not instance_types.is_well_formed(t.compute.head_node):
            yield self.issue(("compute", "head_node"), f"{t.compute.head_node!r} is not an EC2 instance type",
                             "write a type such as t3.medium or c6i.xlarge")
        for i, q in enumerate(t.compute.queues):
            for j, it in enumerate(q.instance_types):
                if not instance_types.is_well_formed(it):
                    yield self.issue(("compute", "queues", i, "instance_types", j), f"{it!r} is not an EC2 instance type",
                                     "write a type such as c6i.2xlarge")


class ArchitectureValidator(Validator):
    """Head and compute nodes share one architecture, which the OS must support."""

    def check(self, t: Template) -> Iterator[Issue]:
        head_arch = instance_types.architecture(t.compute.head_node)
        if head_arch is None:
            return
        supported = OS_ARCHITECTURES.get(t.cluster.os, ())
        if head_arch not in supported:
            yield self.issue(("compute", "head_node"), f"{t.cluster.os} has no {head_arch} image",
                             f"choose a {' or '.join(supported)} head node")
        for i, q in enumerate(t.compute.queues):
            for j, it in enumerate(q.instance_types):
                arch = instance_types.architecture(it)
                if arch and arch != head_arch:
                    yield self.issue(("compute", "queues", i, "instance_types", j),
                                     f"{it} is {arch} but the head node {t.compute.head_node} is {head_arch}",
                                     "ParallelCluster needs one architecture per cluster (one AMI): pick "
                                     f"{head_arch} compute types, or a {arch} head node")


class AllocationStrategyValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for i, q in enumerate(t.compute.queues):
            if q.allocation_strategy in ("capacity-optimized", "price-capacity-optimized") and q.capacity_type is not CapacityType.spot:
                yield self.issue(("compute", "queues", i, "allocation_strategy"),
                                 f"{q.allocation_strategy} applies only to spot capacity",
                                 "use `lowest-price` for on-demand queues, or set `capacity_type: spot`")


class SpotMinCountValidator(Validator):
    level = Level.WARNING

    def check(self, t: Template) -> Iterator[Issue]:
        for i, q in enumerate(t.compute.queues):
            if q.capacity_type is CapacityType.spot and q.min_count > 0:
                yield self.issue(("compute", "queues", i, "min_count"),
                                 "static spot nodes can be reclaimed at any time and are replaced at spot prices",
                                 "use min_count: 0 for spot queues, or an on-demand queue for always-on nodes")


class UserNameValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        counts = Counter(u.name for u in t.users)
        for i, u in enumerate(t.users):
            path = ("users", i, "name")
            if not rules.POSIX_USER_RE.match(u.name):
                yield self.issue(path, f"{u.name!r} is not a portable POSIX user name",
                                 "start with a lowercase letter or _, then up to 31 lowercase letters, digits, _ or -")
            elif u.name in RESERVED_USER_NAMES:
                yield self.issue(path, f"{u.name!r} is a system or ParallelCluster account", "choose another name")
            if counts[u.name] > 1:
                yield self.issue(path, f"user {u.name!r} is listed more than once", "remove the duplicate")
            for k, g in enumerate(u.groups):
                if not rules.POSIX_USER_RE.match(g):
                    yield self.issue(("users", i, "groups", k), f"{g!r} is not a portable group name",
                                     "lowercase letters, digits, _ or -")
            if u.shell not in ("/bin/bash", "/bin/sh", "/bin/zsh", "/bin/tcsh", "/bin/csh", "/usr/bin/bash", "/usr/bin/zsh"):
                yield self.issue(("users", i, "shell"), f"unsupported login shell {u.shell!r}", "use /bin/bash")


class UserIdValidator(Validator):
    """UIDs and GIDs are fixed, unique and inside the one range capture uses too."""

    def check(self, t: Template) -> Iterator[Issue]:
        uids = Counter(u.uid for u in t.users)
        gids = Counter(u.gid for u in t.users)
        for i, u in enumerate(t.users):
            for attr, counts in (("uid", uids), ("gid", gids)):
                value = getattr(u, attr)
                path = ("users", i, attr)
                if not USER_ID_MIN <= value <= USER_ID_MAX:
                    yield self.issue(path, f"{attr} {value} is outside pctl's range {USER_ID_MIN}-{USER_ID_MAX}",
                                     "below 1001 belong to the OS and its default user; pick an id in the range "
                                     "(and chown migrated data to it)")
                elif counts[value] > 1:
                    yield self.issue(path, f"{attr} {value} is used by more than one user",
                                     f"every user needs its own {attr}; each user gets a private group")


class MountPointValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        seen: list[tuple[tuple, str]] = []
        for path, mount in _mounts(t):
            problem = rules.mount_point_problem(mount)
            if problem:
                yield self.issue(path, f"mount point {mount!r} {problem}", "use a path such as /data/<name> or /fsx")
                continue
            for other_path, other in seen:
                if rules.paths_overlap(mount, other):
                    from pctl.validation.issues import format_path

                    yield self.issue(path, f"mount point {mount} overlaps {other} ({format_path(other_path)})",
                                     "give each volume its own directory, not nested in another")
            seen.append((path, mount))


def _mounts(t: Template) -> Iterator[tuple[tuple, str]]:
    for i, s in enumerate(t.shared_storage):
        yield ("shared_storage", i, "mount_point"), s.mount_point
    for i, m in enumerate(t.data.s3_mounts):
        yield ("data", "s3_mounts", i, "mount_point"), m.mount_point
    for i, m in enumerate(t.data.efs):
        yield ("data", "efs", i, "mount_point"), m.mount_point
    for i, m in enumerate(t.data.fsx_lustre):
        yield ("data", "fsx_lustre", i, "mount_point"), m.mount_point
    if t.software.spack_root:
        yield ("software", "spack_root"), t.software.spack_root


class SpackRootValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        root = t.software.spack_root
        if root is None:
            return
        if not any(root.startswith(s.mount_point + "/") for s in t.shared_storage):
            yield self.issue(("software", "spack_root"), f"{root} is not on a shared_storage volume",
                             f"put it under {t.software_mount}/ so compute nodes see the software")


class S3BucketValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for i, m in enumerate(t.data.s3_mounts):
            problem = rules.s3_bucket_problem(m.bucket)
            if problem:
                yield self.issue(("data", "s3_mounts", i, "bucket"), f"bucket name {m.bucket!r} {problem}",
                                 "write the bucket's name only (no s3://, no path): e.g. `my-lab-data`")
            elif "." in m.bucket:
                yield self.issue(("data", "s3_mounts", i, "bucket"), "bucket names with dots break TLS virtual hosting",
                                 "works, but prefer a bucket without dots", level=Level.WARNING)
            if m.prefix is not None and (m.prefix.startswith("/") or any(c in rules.SHELL_METACHARACTERS for c in m.prefix)):
                yield self.issue(("data", "s3_mounts", i, "prefix"), "prefix must be a plain key prefix",
                                 "e.g. `projects/2024/` (no leading /, no shell characters)")


class SpackSpecValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for i, spec in enumerate(t.software.spack_packages):
            problem = rules.spack_spec_problem(spec)
            if problem:
                yield self.issue(("software", "spack_packages", i), f"Spack spec {spec!r}: {problem}",
                                 "write a spec such as `gromacs@2024.1 +mpi ^openmpi` (see `spack help --spec`)")


class SpackVersionValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        if not rules.SPACK_VERSION_RE.match(t.software.spack_version):
            yield self.issue(("software", "spack_version"), f"{t.software.spack_version!r} is not a Spack release",
                             "pin a release such as 0.23.1: its binary cache is pinned with it")


class AmiInstallValidator(Validator):
    level = Level.WARNING

    def check(self, t: Template) -> Iterator[Issue]:
        if t.software.install is InstallMode.ami and not t.software.spack_packages:
            yield self.issue(("software", "install"), "install: ami with no spack_packages bakes an empty image",
                             "list packages, or use install: shared")


class SharedStorageValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        names = Counter(s.name for s in t.shared_storage)
        for i, s in enumerate(t.shared_storage):
            if not rules.QUEUE_NAME_RE.match(s.name) or len(s.name) > 30:
                yield self.issue(("shared_storage", i, "name"), f"storage name {s.name!r} is not valid",
                                 "lowercase letters, digits and hyphens, letter first, at most 30 characters")
            if names[s.name] > 1:
                yield self.issue(("shared_storage", i, "name"), f"storage name {s.name!r} is used twice", "rename one")
            fid = s.file_system_id
            if fid is not None:
                regex = {StorageType.ebs: rules.EBS_VOLUME_RE, StorageType.efs: rules.EFS_ID_RE}.get(s.type, rules.FSX_ID_RE)
                if not regex.match(fid):
                    yield self.issue(("shared_storage", i, "file_system_id"), f"{fid!r} is not a valid id",
                                     "vol-... for EBS, fs-... for EFS/FSx")
            if s.type is StorageType.ebs and not 1 <= s.size_gb <= 16384:
                yield self.issue(("shared_storage", i, "size_gb"), "gp3 volumes are 1 to 16384 GiB", "choose a size in range")
            if s.type is StorageType.fsx_lustre and not _fsx_size_ok(s.size_gb):
                yield self.issue(("shared_storage", i, "size_gb"), f"FSx for Lustre cannot be {s.size_gb} GiB",
                                 "use 1200, 2400, or a multiple of 2400")


def _fsx_size_ok(size: int) -> bool:
    return size == 1200 or (size >= 2400 and size % 2400 == 0)


class DataVolumeValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for i, e in enumerate(t.data.efs):
            if e.file_system_id and not rules.EFS_ID_RE.match(e.file_system_id):
                yield self.issue(("data", "efs", i, "file_system_id"), f"{e.file_system_id!r} is not an EFS id", "fs-0123456789abcdef0")
        for i, f in enumerate(t.data.fsx_lustre):
            if f.file_system_id and not rules.FSX_ID_RE.match(f.file_system_id):
                yield self.issue(("data", "fsx_lustre", i, "file_system_id"), f"{f.file_system_id!r} is not an FSx id", "17 hex digits: fs-0123456789abcdef0")
            if not f.file_system_id and not _fsx_size_ok(f.storage_capacity_gb):
                yield self.issue(("data", "fsx_lustre", i, "storage_capacity_gb"), f"FSx for Lustre cannot be {f.storage_capacity_gb} GiB",
                                 "use 1200, 2400, or a multiple of 2400")
            if f.import_path:
                bucket = f.import_path.removeprefix("s3://").split("/", 1)[0]
                if not f.import_path.startswith("s3://") or rules.s3_bucket_problem(bucket):
                    yield self.issue(("data", "fsx_lustre", i, "import_path"), "import_path must be s3://bucket[/prefix]",
                                     "e.g. s3://my-lab-data/inputs")
        if len(t.data.efs) + sum(s.type is StorageType.efs for s in t.shared_storage) > 20:
            yield self.issue(("data", "efs"), "ParallelCluster mounts at most 20 EFS file systems", "remove some")


class NetworkingValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        n = t.networking
        if n.ssh_allowed_cidr is not None:
            problem = rules.cidr_problem(n.ssh_allowed_cidr)
            if problem:
                yield self.issue(("networking", "ssh_allowed_cidr"), f"not a CIDR: {problem}",
                                 "e.g. 203.0.113.0/24 (your site's range) or 198.51.100.7/32")
            elif n.ssh_allowed_cidr in ("0.0.0.0/0", "::/0"):
                yield self.issue(("networking", "ssh_allowed_cidr"), "SSH will be open to the whole internet",
                                 "name your site's range instead", level=Level.WARNING)
        for field in ("subnet_id", "compute_subnet_id"):
            value = getattr(n, field)
            if value is not None and not rules.SUBNET_RE.match(value):
                yield self.issue(("networking", field), f"{value!r} is not a subnet id", "e.g. subnet-0123456789abcdef0")
        if n.compute_subnet_id and not n.subnet_id:
            yield self.issue(("networking", "compute_subnet_id"), "compute_subnet_id needs subnet_id too",
                             "give the head node's subnet_id as well")
        problem = rules.cidr_problem(n.vpc_cidr)
        if problem:
            yield self.issue(("networking", "vpc_cidr"), f"not a CIDR: {problem}", "e.g. 10.42.0.0/16")


class PcsPlatformValidator(Validator):
    level = Level.WARNING

    def check(self, t: Template) -> Iterator[Issue]:
        if t.cluster.platform is Platform.pcs:
            yield self.issue(("cluster", "platform"),
                             "platform pcs (AWS Parallel Computing Service) is rendered as a PCS request plan; "
                             "the create flow drives ParallelCluster only",
                             "use platform: parallelcluster to create the cluster with pctl")
