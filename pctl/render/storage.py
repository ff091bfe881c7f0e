"""SharedStorage entries of the ParallelCluster config: every EBS/EFS/FSx option the template sets.

Existing volumes take only their id (and EFS mount options): ParallelCluster refuses the rest for them.
FSx PERSISTENT_* always get a PerUnitStorageThroughput (the lowest allowed unless written).
"""

from __future__ import annotations

from typing import Any

from pctl.model.template import (
    EbsSettings,
    EfsSettings,
    FsxLustreSettings,
    SharedStorage,
    StorageType,
    Template,
)
from pctl.validation.storage import fsx_throughput

STORAGE_TYPES = {StorageType.ebs: "Ebs", StorageType.efs: "Efs", StorageType.fsx_lustre: "FsxLustre"}


def _settings(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def ebs_settings(s: SharedStorage) -> dict[str, Any]:
    """EbsSettings of a shared EBS volume: VolumeId for an existing one, else every option written."""
    if s.file_system_id:
        return {"VolumeId": s.file_system_id}
    e = s.ebs_settings or EbsSettings()
    return _settings({"VolumeType": e.volume_type, "Size": s.size_gb, "Iops": e.iops, "Throughput": e.throughput,
                      "Encrypted": e.encrypted, "KmsKeyId": e.kms_key_id, "SnapshotId": e.snapshot_id,
                      "DeletionPolicy": e.deletion_policy})


def efs_settings(e: EfsSettings, file_system_id: str | None) -> dict[str, Any]:
    """EfsSettings: an existing file system takes only its id and mount options (pcluster refuses the rest)."""
    mount = {"EncryptionInTransit": e.encryption_in_transit, "IamAuthorization": e.iam_authorization or None}
    if file_system_id:
        return _settings({"FileSystemId": file_system_id, **mount, "AccessPointId": e.access_point_id})
    return _settings({"Encrypted": e.encrypted_at_rest, "KmsKeyId": e.kms_key_id, "PerformanceMode": e.performance_mode,
                      "ThroughputMode": e.throughput_mode, "ProvisionedThroughput": e.provisioned_throughput,
                      "DeletionPolicy": e.deletion_policy, **mount})


def fsx_settings(f: FsxLustreSettings, file_system_id: str | None, capacity: int) -> dict[str, Any]:
    """FsxLustreSettings; PERSISTENT_* get PerUnitStorageThroughput (the lowest allowed unless written)."""
    if file_system_id:
        return {"FileSystemId": file_system_id}
    return _settings({
        "StorageCapacity": capacity, "DeploymentType": f.deployment_type,
        "PerUnitStorageThroughput": fsx_throughput(f), "StorageType": f.storage_type,
        "DriveCacheType": f.drive_cache_type, "DataCompressionType": f.data_compression_type,
        "KmsKeyId": f.kms_key_id, "ImportPath": f.import_path, "ExportPath": f.export_path,
        "AutoImportPolicy": f.auto_import_policy,
        "AutomaticBackupRetentionDays": f.automatic_backup_retention_days,
        "DailyAutomaticBackupStartTime": f.daily_automatic_backup_start_time,
        "WeeklyMaintenanceStartTime": f.weekly_maintenance_start_time, "DeletionPolicy": f.deletion_policy,
    })


def shared_storage(t: Template) -> list[dict[str, Any]]:
    """SharedStorage entries: the template's volumes, then data.efs and data.fsx_lustre."""
    out: list[dict[str, Any]] = []
    for s in t.shared_storage:
        if s.type is StorageType.ebs:
            settings = ebs_settings(s)
        elif s.type is StorageType.efs:
            settings = efs_settings(s.settings, s.file_system_id)  # type: ignore[arg-type]
        else:
            settings = fsx_settings(s.settings, s.file_system_id, s.size_gb)  # type: ignore[arg-type]
        out.append({"name": s.name, "mount_dir": s.mount_point, "kind": STORAGE_TYPES[s.type], "settings": settings,
                    "existing": s.file_system_id is not None})
    names = {s["name"] for s in out}

    def unique(base: str) -> str:
        name, i = base, 2
        while name in names:
            name, i = f"{base}-{i}", i + 1
        names.add(name)
        return name

    for i, e in enumerate(t.data.efs, 1):
        out.append({"name": unique(f"data-efs-{i}"), "mount_dir": e.mount_point, "kind": "Efs",
                    "settings": efs_settings(e, e.file_system_id), "existing": e.file_system_id is not None})
    for i, f in enumerate(t.data.fsx_lustre, 1):
        out.append({"name": unique(f"data-fsx-{i}"), "mount_dir": f.mount_point, "kind": "FsxLustre",
                    "settings": fsx_settings(f, f.file_system_id, f.storage_capacity_gb),
                    "existing": f.file_system_id is not None})
    for entry in out:
        entry["warnings"] = _storage_warnings(entry["settings"])
    return out


def _storage_warnings(settings: dict[str, Any]) -> list[str]:
    """What the config says plainly above a volume: no encryption at rest, no encryption in transit."""
    notes = []
    if settings.get("Encrypted") is False:
        notes.append("NOT encrypted at rest (`encrypted: false` in the template)")
    if settings.get("EncryptionInTransit") is False:
        notes.append("mounted WITHOUT encryption in transit (`encryption_in_transit: false` in the template)")
    return notes
