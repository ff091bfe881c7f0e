"""Storage: mount points (nesting, /home, the software tree), shared volumes, data mounts, and every
EBS/EFS/FSx option rule ParallelCluster 3.16 checks at create (pcluster/validators/{ebs,efs,fsx}_validators.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from pctl.model.storage import written
from pctl.model.template import (
    EbsSettings,
    EfsSettings,
    FsxLustreSettings,
    InstallMode,
    SharedStorage,
    StorageType,
    Template,
)
from pctl.validation import rules
from pctl.validation.base import Validator
from pctl.validation.issues import Issue, Level, Path, format_path

# pcluster/validators/ebs_validators.py
EBS_SIZE_BOUNDS = {"standard": (1, 1024), "io1": (4, 16384), "io2": (4, 65536), "gp2": (1, 16384),
                   "gp3": (1, 16384), "st1": (500, 16384), "sc1": (500, 16384)}
EBS_IOPS_BOUNDS = {"io1": (100, 64000), "io2": (100, 256000), "gp3": (3000, 16000)}
EBS_IOPS_PER_GIB = {"io1": 50, "io2": 1000, "gp3": 500}
# pcluster/constants.py FSX_SSD_THROUGHPUT / FSX_HDD_THROUGHPUT
FSX_SSD_THROUGHPUT = {"PERSISTENT_1": (50, 100, 200), "PERSISTENT_2": (125, 250, 500, 1000)}
FSX_HDD_THROUGHPUT = (12, 40)
PERSISTENT = ("PERSISTENT_1", "PERSISTENT_2")
# pcluster/constants.py MAX_EBS_COUNT, MAX_NEW_STORAGE_COUNT, MAX_EXISTING_STORAGE_COUNT
MAX_EBS = 5
MAX_NEW = {"efs": 1, "fsx": 1}
MAX_EXISTING = {"efs": 20, "fsx": 20}


@dataclass(frozen=True)
class Mount:
    path: Path  # field path of its mount_point
    point: str
    s3: bool  # mountpoint-s3 (pctl's node scripts) rather than a ParallelCluster volume


def mounts(t: Template) -> list[Mount]:
    """Every mount of the template, ParallelCluster's volumes first."""
    out = [Mount(("shared_storage", i, "mount_point"), s.mount_point, False) for i, s in enumerate(t.shared_storage)]
    out += [Mount(("data", "efs", i, "mount_point"), m.mount_point, False) for i, m in enumerate(t.data.efs)]
    out += [Mount(("data", "fsx_lustre", i, "mount_point"), m.mount_point, False) for i, m in enumerate(t.data.fsx_lustre)]
    out += [Mount(("data", "s3_mounts", i, "mount_point"), m.mount_point, True) for i, m in enumerate(t.data.s3_mounts)]
    return out


def inside(path: str, parent: str) -> bool:
    return path != parent and path.startswith(parent.rstrip("/") + "/")


class MountPointValidator(Validator):
    """Mounts may nest where it works: an S3 mount inside a shared volume (`/shared/data` under `/shared`),
    mounted after it on every node. Refused: a path twice, ParallelCluster volumes inside each other (pcluster
    refuses them), anything inside an S3 mount, a volume an S3 mount would hide, and mounts over the software tree."""

    def check(self, t: Template) -> Iterator[Issue]:
        good: list[Mount] = []
        for m in mounts(t):
            problem = rules.mount_point_problem(m.point, home_ok=not m.s3)
            if problem:
                hint = ("S3 cannot hold home directories: mount it elsewhere, e.g. /data/<name>" if m.point == "/home"
                        else "use a path such as /data/<name>, /fsx, or one inside a shared volume (/shared/data)")
                yield self.issue(m.path, f"mount point {m.point!r} {problem}", hint)
                continue
            for o in good:
                where = f"{o.point} ({format_path(o.path)})"
                if m.point == o.point:
                    yield self.issue(m.path, f"mount point {m.point} is already used by {format_path(o.path)}",
                                     "give each volume its own directory")
                elif not m.s3 and not o.s3 and (inside(m.point, o.point) or inside(o.point, m.point)):
                    yield self.issue(m.path, f"mount point {m.point} is nested with {where}: ParallelCluster "
                                     "cannot mount its volumes inside each other",
                                     "put the volumes side by side (/shared, /fsx); an S3 mount may sit inside a volume")
                elif o.s3 and inside(m.point, o.point):
                    yield self.issue(m.path, f"mount point {m.point} is inside the S3 mount {where}",
                                     "mount it beside the S3 mount, or inside a shared volume")
                elif m.s3 and inside(o.point, m.point):
                    yield self.issue(m.path, f"the S3 mount {m.point} would hide {where}",
                                     "mount S3 inside the volume or beside it, not above it")
            good.append(m)
        if t.software.install is InstallMode.shared:
            root = t.spack_root
            for m in good:
                if m.point == root or inside(m.point, root):
                    yield self.issue(m.path, f"mount point {m.point} is over the software tree {root}",
                                     f"mount it outside {root}")
                elif m.s3 and inside(root, m.point):
                    yield self.issue(m.path, f"the software tree {root} would be inside this S3 mount",
                                     "move the S3 mount or software.spack_root")


class SpackRootValidator(Validator):
    """software.spack_root: any normalized path strictly inside a ParallelCluster shared volume."""

    def check(self, t: Template) -> Iterator[Issue]:
        root = t.software.spack_root
        if root is None:
            return
        path = ("software", "spack_root")
        if t.software.install is InstallMode.ami:
            yield self.issue(path, "spack_root is not used with install: ami (the software is baked into the image)",
                             "remove spack_root, or use install: shared", level=Level.WARNING)
            return
        problem = rules.mount_point_problem(root, home_ok=True)
        if problem and "system path" not in problem:
            yield self.issue(path, f"spack_root {root!r} {problem}", "e.g. /shared/spack or /shared/apps/spack")
            return
        volumes = [m.point for m in mounts(t) if not m.s3]
        if not any(inside(root, v) for v in volumes):
            yield self.issue(path, f"{root} is not inside a shared volume",
                             f"put it under {t.software_mount}/ so compute nodes see the software, e.g. {t.software_mount}/spack")


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
            if m.prefix is not None and not _plain_prefix(m.prefix):
                yield self.issue(("data", "s3_mounts", i, "prefix"), "prefix must be a plain key prefix",
                                 "e.g. `projects/2024/` (no leading /, no spaces or shell characters)")


def _plain_prefix(prefix: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9!_.*'()=+,@:-][A-Za-z0-9!_.*'()=+,@:/-]{0,1023}", prefix, re.ASCII)) and \
        not any(c in rules.SHELL_METACHARACTERS for c in prefix)


def _s3_url_problem(url: str) -> str | None:
    if not url.startswith("s3://"):
        return "must start with s3://"
    bucket, _, key = url.removeprefix("s3://").partition("/")
    problem = rules.s3_bucket_problem(bucket)
    if problem:
        return f"bucket {bucket!r} {problem}"
    if key and not _plain_prefix(key):
        return "has characters that are not a plain key prefix"
    return None


class SharedStorageValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        names = Counter(s.name for s in t.shared_storage)
        for i, s in enumerate(t.shared_storage):
            base = ("shared_storage", i)
            if not rules.QUEUE_NAME_RE.fullmatch(s.name) or len(s.name) > 30 or s.name == "default":
                yield self.issue((*base, "name"), f"storage name {s.name!r} is not valid",
                                 "lowercase letters, digits and hyphens, letter first, at most 30 characters, not `default`")
            if names[s.name] > 1:
                yield self.issue((*base, "name"), f"storage name {s.name!r} is used twice", "rename one")
            fid = s.file_system_id
            if fid is not None:
                regex = {StorageType.ebs: rules.EBS_VOLUME_RE, StorageType.efs: rules.EFS_ID_RE}.get(s.type, rules.FSX_ID_RE)
                if not regex.fullmatch(fid):
                    yield self.issue((*base, "file_system_id"), f"{fid!r} is not a valid id",
                                     "vol- and 8 or 17 hex digits for EBS, fs-... for EFS/FSx")
            wrong = {StorageType.ebs: ("efs_settings", "fsx_lustre_settings"),
                     StorageType.efs: ("ebs_settings", "fsx_lustre_settings"),
                     StorageType.fsx_lustre: ("ebs_settings", "efs_settings")}[s.type]
            for key in wrong:
                if getattr(s, key) is not None:
                    yield self.issue((*base, key), f"{key} does not apply to a {s.type.value} volume",
                                     f"use {s.type.value}_settings, or change `type`")
            yield from self._size(s, base)
            if s.type is StorageType.ebs:
                yield from ebs_issues(self, s, base)
            elif s.type is StorageType.efs:
                yield from efs_issues(self, s.settings, (*base, "efs_settings"), existing=fid is not None)  # type: ignore[arg-type]
            else:
                yield from fsx_issues(self, s.settings, (*base, "fsx_lustre_settings"), existing=fid is not None,  # type: ignore[arg-type]
                                      capacity=s.size_gb, capacity_path=(*base, "size_gb"))

    def _size(self, s: SharedStorage, base: Path) -> Iterator[Issue]:
        other = None
        if s.ebs_settings is not None and s.ebs_settings.size is not None:
            other = ("ebs_settings", "size", s.ebs_settings.size)
        elif s.fsx_lustre_settings is not None and s.fsx_lustre_settings.storage_capacity_gb is not None:
            other = ("fsx_lustre_settings", "storage_capacity_gb", s.fsx_lustre_settings.storage_capacity_gb)
        if other and other[2] != s.size_gb:
            yield self.issue((*base, other[0], other[1]), f"{other[0]}.{other[1]} ({other[2]}) differs from size_gb ({s.size_gb})",
                             "write the size once")


def ebs_issues(v: Validator, s: SharedStorage, base: Path) -> Iterator[Issue]:
    e: EbsSettings = s.ebs_settings or EbsSettings()
    path = (*base, "ebs_settings")
    if s.file_system_id is not None:
        if s.ebs_settings is not None:
            yield v.issue(path, "an existing volume (file_system_id) keeps its own settings",
                          "remove ebs_settings, or file_system_id to create a volume")
        return
    size = s.size_gb
    low, high = EBS_SIZE_BOUNDS[e.volume_type]
    if not low <= size <= high:
        yield v.issue((*base, "size_gb") if s.ebs_settings is None or e.size is None else (*path, "size"),
                      f"{e.volume_type} volumes are {low} to {high} GiB, not {size}", "choose a size in range")
    if e.iops is not None:
        if e.volume_type not in EBS_IOPS_BOUNDS:
            yield v.issue((*path, "iops"), f"{e.volume_type} volumes take no iops", "remove iops, or use gp3/io1/io2")
        else:
            lo, hi = EBS_IOPS_BOUNDS[e.volume_type]
            if not lo <= e.iops <= hi:
                yield v.issue((*path, "iops"), f"{e.volume_type} iops must be {lo} to {hi}", "choose iops in range")
            elif e.iops > size * EBS_IOPS_PER_GIB[e.volume_type]:
                yield v.issue((*path, "iops"), f"{e.iops} iops is more than {EBS_IOPS_PER_GIB[e.volume_type]} per GiB of a {size} GiB volume",
                              "lower iops or grow the volume")
    if e.throughput is not None:
        if e.volume_type != "gp3":
            yield v.issue((*path, "throughput"), "throughput applies to gp3 volumes only", "remove it, or use volume_type: gp3")
        elif e.throughput > (e.iops or 3000) * 0.25:
            yield v.issue((*path, "throughput"), f"throughput {e.throughput} MiB/s needs at least {e.throughput * 4} iops "
                          f"(0.25 MiB/s per iops; iops is {e.iops or 3000})", "raise iops or lower throughput")
    if e.snapshot_id is not None and not rules.SNAPSHOT_RE.fullmatch(e.snapshot_id):
        yield v.issue((*path, "snapshot_id"), f"{e.snapshot_id!r} is not a snapshot id", "snap- and 8 or 17 hex digits")
    yield from _kms(v, e.kms_key_id, (*path, "kms_key_id"), e.encrypted)
    if not e.encrypted:
        yield v.issue((*path, "encrypted"), "this EBS volume will store data unencrypted",
                      "remove `encrypted: false` (encryption costs nothing)", level=Level.WARNING)


def _kms(v: Validator, key: str | None, path: Path, encrypted: bool) -> Iterator[Issue]:
    if key is None:
        return
    if not rules.KMS_KEY_RE.fullmatch(key):
        yield v.issue(path, f"{key!r} is not a KMS key id, alias or ARN", "e.g. arn:aws:kms:us-east-1:123456789012:key/<uuid>")
    elif not encrypted:
        yield v.issue(path, "a KMS key needs encrypted: true", "remove kms_key_id, or encrypt")


def efs_issues(v: Validator, e: EfsSettings, path: Path, *, existing: bool) -> Iterator[Issue]:
    if existing:
        for key in ("kms_key_id", "performance_mode", "throughput_mode", "provisioned_throughput", "deletion_policy"):
            if getattr(e, key) is not None:
                yield v.issue((*path, key), f"{key} applies only to an EFS file system pctl creates",
                              "remove it (an existing file system keeps its settings)")
        if e.encrypted is not None:
            yield v.issue((*path, "encrypted"), "encrypted applies only to an EFS file system pctl creates",
                          "remove it (an existing file system keeps its encryption)")
    else:
        if e.access_point_id is not None:
            yield v.issue((*path, "access_point_id"), "an access point needs an existing file system",
                          "add file_system_id, or remove access_point_id")
        if (e.throughput_mode == "provisioned") != (e.provisioned_throughput is not None):
            yield v.issue((*path, "provisioned_throughput"), "provisioned_throughput goes with throughput_mode: provisioned",
                          "give both, or neither")
        yield from _kms(v, e.kms_key_id, (*path, "kms_key_id"), e.encrypted_at_rest)
        if not e.encrypted_at_rest:
            yield v.issue((*path, "encrypted"), "this EFS file system will store data unencrypted at rest"
                          + ("" if e.encryption_in_transit else ", and is mounted without encryption in transit"),
                          "remove `encrypted: false` (encryption costs nothing)", level=Level.WARNING)
    if e.access_point_id is not None and not rules.ACCESS_POINT_RE.fullmatch(e.access_point_id):
        yield v.issue((*path, "access_point_id"), f"{e.access_point_id!r} is not an access point id", "fsap- and 17 hex digits")
    if e.iam_authorization and not e.encryption_in_transit:
        yield v.issue((*path, "iam_authorization"), "IAM authorization needs encryption in transit", "set encryption_in_transit: true")
    if e.access_point_id is not None and not e.encryption_in_transit:
        yield v.issue((*path, "access_point_id"), "an access point needs encryption in transit", "set encryption_in_transit: true")
    if not e.encryption_in_transit and (e.encrypted_at_rest or existing):
        yield v.issue((*path, "encryption_in_transit"), "NFS traffic to this EFS file system will not be encrypted (no TLS)",
                      "remove `encryption_in_transit: false`", level=Level.WARNING)


def fsx_throughput(f: FsxLustreSettings) -> int | None:
    """The PerUnitStorageThroughput pctl renders: the written one, or the lowest the deployment allows."""
    if f.per_unit_storage_throughput is not None or f.deployment_type not in PERSISTENT:
        return f.per_unit_storage_throughput
    if f.storage_type == "HDD":
        return FSX_HDD_THROUGHPUT[1]
    return FSX_SSD_THROUGHPUT[f.deployment_type][0]


def fsx_issues(v: Validator, f: FsxLustreSettings, path: Path, *, existing: bool, capacity: int,
               capacity_path: Path | None = None) -> Iterator[Issue]:
    if existing:
        if written(f) - {"storage_capacity_gb", "mount_point", "file_system_id"}:
            yield v.issue(path, "an existing FSx file system (file_system_id) keeps its own settings",
                          "remove the FSx options, or file_system_id to create one")
        return
    cap_path = capacity_path or (*path, "storage_capacity_gb")
    deployment, hdd = f.deployment_type, f.storage_type == "HDD"
    tput = fsx_throughput(f)
    if deployment not in PERSISTENT:
        for key in ("per_unit_storage_throughput", "kms_key_id", "automatic_backup_retention_days"):
            if getattr(f, key):
                yield v.issue((*path, key), f"{key} applies only to PERSISTENT_1/PERSISTENT_2 file systems",
                              "remove it, or use deployment_type: PERSISTENT_2")
    if hdd:
        if deployment != "PERSISTENT_1":
            yield v.issue((*path, "storage_type"), "HDD file systems must be PERSISTENT_1", "set deployment_type: PERSISTENT_1")
        elif tput not in FSX_HDD_THROUGHPUT:
            yield v.issue((*path, "per_unit_storage_throughput"), "HDD throughput is 12 or 40 MB/s/TiB", "choose 12 or 40")
    else:
        if f.drive_cache_type:
            yield v.issue((*path, "drive_cache_type"), "drive_cache_type applies to HDD only", "remove it")
        if deployment in PERSISTENT and tput not in FSX_SSD_THROUGHPUT[deployment]:
            allowed = "/".join(map(str, FSX_SSD_THROUGHPUT[deployment]))
            yield v.issue((*path, "per_unit_storage_throughput"), f"{deployment} SSD throughput is {allowed} MB/s/TiB, not {tput}",
                          f"choose one of {allowed}")
    if deployment == "SCRATCH_1":
        ok, rule = capacity in (1200, 2400) or capacity % 3600 == 0, "1200, 2400 or a multiple of 3600"
    elif hdd and deployment == "PERSISTENT_1" and tput in FSX_HDD_THROUGHPUT:
        step = 6000 if tput == 12 else 1800
        ok, rule = capacity % step == 0, f"a multiple of {step} (HDD at {tput} MB/s/TiB)"
    else:
        ok, rule = capacity == 1200 or capacity % 2400 == 0, "1200 or a multiple of 2400"
    if not ok:
        yield v.issue(cap_path, f"FSx for Lustre {deployment} cannot be {capacity} GiB", f"use {rule}")
    link = any((f.import_path, f.export_path, f.auto_import_policy))
    for key in ("import_path", "export_path"):
        url = getattr(f, key)
        problem = _s3_url_problem(url) if url else None
        if problem:
            yield v.issue((*path, key), f"{key} {problem}", "e.g. s3://my-lab-data/inputs")
    if (f.export_path or f.auto_import_policy) and not f.import_path:
        yield v.issue((*path, "export_path" if f.export_path else "auto_import_policy"), "this needs import_path (the linked bucket)",
                      "add import_path: s3://bucket[/prefix]")
    if f.automatic_backup_retention_days and link:
        yield v.issue((*path, "automatic_backup_retention_days"), "backups cannot be taken of an S3-linked file system",
                      "remove the backup settings or the S3 link")
    if f.daily_automatic_backup_start_time is not None:
        if not rules.HHMM_RE.fullmatch(f.daily_automatic_backup_start_time):
            yield v.issue((*path, "daily_automatic_backup_start_time"), "write the time as HH:MM (UTC)", "e.g. 03:00")
        elif not f.automatic_backup_retention_days:
            yield v.issue((*path, "daily_automatic_backup_start_time"), "a backup time needs automatic_backup_retention_days",
                          "add automatic_backup_retention_days: 7")
    if f.weekly_maintenance_start_time is not None and not rules.WEEKLY_TIME_RE.fullmatch(f.weekly_maintenance_start_time):
        yield v.issue((*path, "weekly_maintenance_start_time"), "write the time as D:HH:MM (D=1 Monday .. 7 Sunday, UTC)", "e.g. 7:03:00")
    yield from _kms(v, f.kms_key_id, (*path, "kms_key_id"), True)


class DataVolumeValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for i, e in enumerate(t.data.efs):
            path = ("data", "efs", i)
            if e.file_system_id and not rules.EFS_ID_RE.fullmatch(e.file_system_id):
                yield self.issue((*path, "file_system_id"), f"{e.file_system_id!r} is not an EFS id", "fs-0123456789abcdef0")
            yield from efs_issues(self, e, path, existing=e.file_system_id is not None)
        for i, f in enumerate(t.data.fsx_lustre):
            path = ("data", "fsx_lustre", i)
            if f.file_system_id and not rules.FSX_ID_RE.fullmatch(f.file_system_id):
                yield self.issue((*path, "file_system_id"), f"{f.file_system_id!r} is not an FSx id", "17 hex digits: fs-0123456789abcdef0")
            yield from fsx_issues(self, f, path, existing=f.file_system_id is not None, capacity=f.storage_capacity_gb)


class StorageCountValidator(Validator):
    """ParallelCluster's limits: 5 EBS volumes; 1 created and 20 existing EFS; 1 created and 20 existing FSx."""

    def check(self, t: Template) -> Iterator[Issue]:
        counts: Counter[str] = Counter()
        for s in t.shared_storage:
            kind = {StorageType.ebs: "ebs", StorageType.efs: "efs", StorageType.fsx_lustre: "fsx"}[s.type]
            counts[kind if kind == "ebs" else f"{kind}-{'new' if s.created else 'existing'}"] += 1
        counts["efs-new"] += sum(e.file_system_id is None for e in t.data.efs)
        counts["efs-existing"] += sum(e.file_system_id is not None for e in t.data.efs)
        counts["fsx-new"] += sum(f.file_system_id is None for f in t.data.fsx_lustre)
        counts["fsx-existing"] += sum(f.file_system_id is not None for f in t.data.fsx_lustre)
        if counts["ebs"] > MAX_EBS:
            yield self.issue(("shared_storage",), f"ParallelCluster mounts at most {MAX_EBS} EBS volumes", "remove some")
        for kind, label, section in (("efs", "EFS", "efs"), ("fsx", "FSx for Lustre", "fsx_lustre")):
            if counts[f"{kind}-new"] > MAX_NEW[kind]:
                yield self.issue(("data", section), f"ParallelCluster creates at most {MAX_NEW[kind]} {label} file system per cluster",
                                 "create one and give the others as existing file systems (file_system_id)")
            if counts[f"{kind}-existing"] > MAX_EXISTING[kind]:
                yield self.issue(("data", section), f"ParallelCluster mounts at most {MAX_EXISTING[kind]} existing {label} file systems",
                                 "remove some")
