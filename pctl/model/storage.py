"""Storage sections of the template: shared volumes (EBS, EFS, FSx for Lustre) and data mounts (S3, EFS, FSx).

Every option ParallelCluster 3.16's SharedStorage has for these three types is reachable, in snake_case
(`ebs_settings: {volume_type, size, iops, throughput, encrypted, kms_key_id, snapshot_id, deletion_policy}`).
Options ParallelCluster requires get a valid default at render time (FSx PERSISTENT_* throughput,
EBS gp3 size); rules between options are validator classes in ``pctl.validation.storage``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator

from pctl.model.base import Strict, StrictBool, StrictInt, alias
from pctl.model.constants import DEFAULT_SHARED_MOUNT, DEFAULT_SHARED_SIZE_GB

DeletionPolicy = Literal["Delete", "Retain"]
FSX_MIN_GB = 1200


class StorageType(StrEnum):
    ebs = "ebs"
    efs = "efs"
    fsx_lustre = "fsx_lustre"


# ParallelCluster's spellings of the storage types, accepted as they are written in its docs.
PCLUSTER_STORAGE_TYPES = {"Ebs": "ebs", "Efs": "efs", "FsxLustre": "fsx_lustre"}


def _storage_type(value: Any) -> Any:
    return PCLUSTER_STORAGE_TYPES.get(value, value) if isinstance(value, str) else value


StorageTypeField = Annotated[
    StorageType,
    BeforeValidator(_storage_type),
    WithJsonSchema({"enum": [*(m.value for m in StorageType), *PCLUSTER_STORAGE_TYPES], "type": "string",
                    "description": "ebs, efs or fsx_lustre (ParallelCluster's Ebs, Efs, FsxLustre also work)."}),
]


class S3Mount(Strict):
    bucket: str = Field(description="Bucket name only (no s3://).")
    mount_point: str = alias("mount_point", "mount_dir", description="Where every node mounts it (mountpoint-s3); may sit inside a shared volume, e.g. /shared/data.")
    read_only: StrictBool = True
    prefix: str | None = Field(None, description="Only this key prefix of the bucket.")


class EbsSettings(Strict):
    """ParallelCluster's EbsSettings for a created volume."""

    volume_type: Literal["gp3", "gp2", "io1", "io2", "st1", "sc1", "standard"] = "gp3"
    size: StrictInt | None = alias("size", "size_gb", default=None, ge=1, le=65536, description="GiB; default the volume's size_gb.")
    iops: StrictInt | None = Field(None, ge=100, le=256000, description="gp3 3000-16000 (default 3000), io1/io2 provisioned IOPS.")
    throughput: StrictInt | None = Field(None, ge=125, le=1000, description="gp3 only, MiB/s (default 125).")
    encrypted: StrictBool = True
    kms_key_id: str | None = Field(None, description="KMS key id or ARN for encryption (default: the AWS-managed key).")
    snapshot_id: str | None = Field(None, description="Create the volume from this snapshot (snap-...).")
    deletion_policy: Literal["Delete", "Retain", "Snapshot"] | None = Field(None, description="What happens to the volume when the cluster is deleted (ParallelCluster's default: Delete).")


class EfsSettings(Strict):
    """Options of an EFS file system (created by ParallelCluster unless file_system_id is given)."""

    encrypted: StrictBool | None = Field(None, description="Encrypt data at rest (created file systems; default true).")
    encryption_in_transit: StrictBool = Field(True, description="Mount with TLS.")
    iam_authorization: StrictBool = False
    kms_key_id: str | None = None
    performance_mode: Literal["generalPurpose", "maxIO"] | None = None
    throughput_mode: Literal["bursting", "provisioned"] | None = None
    provisioned_throughput: StrictInt | None = Field(None, ge=1, le=1024, description="MiB/s; needs throughput_mode: provisioned.")
    deletion_policy: DeletionPolicy | None = None
    access_point_id: str | None = Field(None, description="fsap-... (existing file systems).")

    @property
    def encrypted_at_rest(self) -> bool:
        return self.encrypted is not False


class FsxLustreSettings(Strict):
    """Options of an FSx for Lustre file system (created by ParallelCluster unless file_system_id is given)."""

    storage_capacity_gb: StrictInt | None = alias("storage_capacity_gb", "storage_capacity", default=None, ge=1200, le=2_000_000,
                                                  description="GiB: 1200, 2400 or a multiple of 2400 (SSD); default the volume's size_gb.")
    deployment_type: Literal["SCRATCH_2", "PERSISTENT_2", "PERSISTENT_1", "SCRATCH_1"] = "SCRATCH_2"
    per_unit_storage_throughput: StrictInt | None = Field(
        None, description="MB/s per TiB, PERSISTENT_* only: PERSISTENT_1 SSD 50/100/200, PERSISTENT_2 125/250/500/1000, "
                          "HDD 12/40. Default: the lowest for the deployment type.")
    storage_type: Literal["SSD", "HDD"] | None = alias("storage_type", "fsx_storage_type", default=None, description="HDD only with PERSISTENT_1.")
    drive_cache_type: Literal["READ"] | None = Field(None, description="HDD only.")
    data_compression_type: Literal["LZ4"] | None = None
    kms_key_id: str | None = Field(None, description="PERSISTENT_* only.")
    import_path: str | None = Field(None, description="s3://bucket[/prefix] to link (created file systems only).")
    export_path: str | None = Field(None, description="s3://bucket[/prefix] to export to (with import_path).")
    auto_import_policy: Literal["NEW", "NEW_CHANGED", "NEW_CHANGED_DELETED"] | None = None
    automatic_backup_retention_days: StrictInt | None = Field(None, ge=0, le=90, description="PERSISTENT_* without an S3 link.")
    daily_automatic_backup_start_time: str | None = Field(None, description="HH:MM (needs automatic_backup_retention_days).")
    weekly_maintenance_start_time: str | None = Field(None, description="D:HH:MM, D=1 (Monday) to 7.")
    deletion_policy: DeletionPolicy | None = None


class EfsMount(EfsSettings):
    mount_point: str = alias("mount_point", "mount_dir")
    file_system_id: str | None = Field(None, description="An existing EFS file system; omit to create one.")


class FsxLustreMount(FsxLustreSettings):
    mount_point: str = alias("mount_point", "mount_dir")
    storage_capacity_gb: StrictInt = alias("storage_capacity_gb", "storage_capacity", default=1200, ge=1200, le=2_000_000,
                                           description="GiB: 1200, 2400 or a multiple of 2400 (SSD).")
    file_system_id: str | None = Field(None, description="An existing FSx for Lustre file system; omit to create one.")


class Data(Strict):
    s3_mounts: list[S3Mount] = Field(default_factory=list)
    efs: list[EfsMount] = Field(default_factory=list)
    fsx_lustre: list[FsxLustreMount] = Field(default_factory=list)


class SharedStorage(Strict):
    """A shared volume, in pctl's short form (`type`, `size_gb`) or ParallelCluster's words (`storage_type`,
    `mount_dir`, `ebs_settings`, `efs_settings`, `fsx_lustre_settings`)."""

    name: str = "shared"
    mount_point: str = alias("mount_point", "mount_dir", default=DEFAULT_SHARED_MOUNT, description="/home works for all three types.")
    type: StorageTypeField = alias("type", "storage_type", default=StorageType.ebs)
    size_gb: StrictInt = Field(DEFAULT_SHARED_SIZE_GB, ge=1, le=2_000_000,
                               description="EBS size (default 100) or FSx capacity (default 1200), GiB; EFS grows by itself.")
    file_system_id: str | None = alias("file_system_id", "volume_id", default=None, description="Use an existing EFS/FSx file system (or EBS volume id vol-...).")
    ebs_settings: EbsSettings | None = None
    efs_settings: EfsSettings | None = None
    fsx_lustre_settings: FsxLustreSettings | None = None

    @model_validator(mode="after")
    def _size_from_settings(self) -> SharedStorage:
        # `ebs_settings.size` / `fsx_lustre_settings.storage_capacity_gb` set the volume's size when `size_gb`
        # is not written; when both are written and differ, a validator says so.
        if "size_gb" not in self.model_fields_set:
            if self.type is StorageType.fsx_lustre:
                self.size_gb = FSX_MIN_GB  # the smallest FSx for Lustre, unless its settings say more
            if self.ebs_settings is not None and self.ebs_settings.size is not None:
                self.size_gb = self.ebs_settings.size
            elif self.fsx_lustre_settings is not None and self.fsx_lustre_settings.storage_capacity_gb is not None:
                self.size_gb = self.fsx_lustre_settings.storage_capacity_gb
        return self

    @property
    def settings(self) -> EbsSettings | EfsSettings | FsxLustreSettings:
        """This volume's options (written or default) for its type."""
        if self.type is StorageType.ebs:
            return self.ebs_settings or EbsSettings()
        if self.type is StorageType.efs:
            return self.efs_settings or EfsSettings()
        return self.fsx_lustre_settings or FsxLustreSettings()

    @property
    def created(self) -> bool:
        return self.file_system_id is None


def written(model: Strict) -> set[str]:
    """Fields of `model` whose value differs from the default (survives a dump/validate round trip,
    unlike model_fields_set)."""
    return {name for name, info in type(model).model_fields.items()
            if getattr(model, name) != info.get_default(call_default_factory=True)}
