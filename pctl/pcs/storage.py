"""Shared storage for a PCS cluster. PCS has no head node to export an EBS volume over NFS the way
ParallelCluster does, so every node mounts an EFS file system instead: the template's own
(`shared_storage` of type efs with `file_system_id`), or one pctl creates, encrypted, with a mount
target in each subnet behind the cluster's security group (which allows NFS between its members).

Creation is idempotent through EFS's CreationToken (`pctl-<cluster>-<volume>`): a re-run after a crash
finds the file system instead of making a second one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from pctl.errors import PctlError
from pctl.model.constants import CLUSTER_TAG


def creation_token(cluster: str, volume: str) -> str:
    return f"pctl-{cluster}-{volume}"[:64]


def _code(exc: BaseException) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def ensure_efs(efs: Any, ec2: Any, cluster: str, volume: str, subnet_ids: list[str], security_group: str,
               tags: dict[str, str], *, poll: float = 5.0, timeout: float = 600.0,
               sleep: Callable[[float], None] = time.sleep) -> str:
    """The id of the cluster's encrypted EFS for `volume`, available, with a mount target in the zone of
    every subnet (EFS allows one mount target per availability zone; nodes of a zone share it)."""
    token = creation_token(cluster, volume)
    found = efs.describe_file_systems(CreationToken=token)["FileSystems"]
    if found:
        fs_id = found[0]["FileSystemId"]
    else:
        fs_tags = [{"Key": k, "Value": v} for k, v in {**tags, CLUSTER_TAG: cluster, "Name": token}.items()]
        fs_id = efs.create_file_system(CreationToken=token, Encrypted=True, PerformanceMode="generalPurpose",
                                       ThroughputMode="elastic", Tags=fs_tags)["FileSystemId"]
    deadline = time.monotonic() + timeout
    while efs.describe_file_systems(FileSystemId=fs_id)["FileSystems"][0]["LifeCycleState"] != "available":
        if time.monotonic() > deadline:
            raise PctlError(f"EFS {fs_id} not available after {int(timeout)} s", "check the EFS console, then re-run")
        sleep(poll)
    zones = {s["SubnetId"]: s["AvailabilityZone"]
             for s in ec2.describe_subnets(SubnetIds=list(dict.fromkeys(subnet_ids)))["Subnets"]}
    have = {t.get("AvailabilityZoneName") or zones.get(t["SubnetId"])
            for t in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]}
    for subnet in dict.fromkeys(subnet_ids):
        if zones[subnet] not in have:
            efs.create_mount_target(FileSystemId=fs_id, SubnetId=subnet, SecurityGroups=[security_group])
            have.add(zones[subnet])
    return fs_id


def pctl_file_systems(efs: Any, cluster: str) -> list[dict[str, Any]]:
    """The EFS file systems pctl made for `cluster`: its tag and its creation token, so a user's own
    `file_system_id` (which has neither) is never among them."""
    out = []
    for fs in efs.describe_file_systems()["FileSystems"]:
        tags = {t["Key"]: t["Value"] for t in fs.get("Tags", [])}
        if tags.get(CLUSTER_TAG) == cluster and fs.get("CreationToken", "").startswith(f"pctl-{cluster}-"):
            out.append(fs)
    return out


def delete_file_system(efs: Any, fs_id: str, *, poll: float = 5.0, timeout: float = 600.0,
                       sleep: Callable[[float], None] = time.sleep) -> None:
    """Delete one EFS: its mount targets, waited until gone (PctlError after `timeout` s), then itself."""
    for target in efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
        efs.delete_mount_target(MountTargetId=target["MountTargetId"])
    deadline = time.monotonic() + timeout
    while efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]:
        if time.monotonic() > deadline:
            raise PctlError(f"mount targets of {fs_id} still there after {int(timeout)} s", "re-run the delete")
        sleep(poll)
    efs.delete_file_system(FileSystemId=fs_id)


def delete_efs(efs: Any, cluster: str, *, poll: float = 5.0, timeout: float = 600.0,
               sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """Delete every EFS file system pctl made for this cluster (`pctl_file_systems`). Returns their ids."""
    deleted = []
    for fs in pctl_file_systems(efs, cluster):
        delete_file_system(efs, fs["FileSystemId"], poll=poll, timeout=timeout, sleep=sleep)
        deleted.append(fs["FileSystemId"])
    return deleted
