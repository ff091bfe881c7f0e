"""Issue 14: a trailing newline (or any control character) in ANY string field of the schema is refused,
with a located message. The fields come from the model itself: a test fails when a string field is added
to the model and no full template below covers it."""

from __future__ import annotations

import copy
import enum
import json
import typing
from typing import Any

import pytest
import yaml

from pctl.model.base import field_for_key
from pctl.model.template import Template, all_models, inner_models
from pctl.validation import validate_text

BASE: dict[str, Any] = {
    "description": "Lab cluster",
    "tags": ["genomics"],
    "cluster": {"name": "lab", "region": "us-east-1", "platform": "parallelcluster", "os": "alinux2023",
                "key_name": "lab-key", "tags": {"project": "genomics"}},
    "compute": {"head_node": "t3.medium", "queues": [
        {"name": "cpu", "instance_types": ["c6i.2xlarge"], "max_count": 4, "capacity_type": "spot",
         "allocation_strategy": "capacity-optimized"}]},
    "software": {"spack_packages": ["zlib"], "spack_version": "0.23.1", "install": "shared",
                 "spack_root": "/shared/apps/spack", "binary_cache": "s3://lab-spack-cache",
                 "containers": [{"name": "bio", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/bio:v1",
                                 "packages": ["samtools"]}]},
    "groups": [{"name": "lab", "gid": 4100}],
    "users": [{"name": "ana", "uid": 3001, "group": "lab", "shell": "/bin/bash", "groups": ["lab"]},
              {"name": "ben", "uid": 3002, "gid": 3002}],
    "networking": {"ssh_allowed_cidr": "198.51.100.0/24", "subnet_id": "subnet-0123456789abcdef0",
                   "compute_subnet_id": "subnet-0123456789abcdef1", "vpc_cidr": "10.42.0.0/16"},
}
KMS = "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab"
# Every option cannot live in one valid template (backups exclude an S3 link; one created FSx per cluster),
# so three full templates cover them together.
VARIANTS: dict[str, dict[str, Any]] = {
    "ebs-and-hdd-fsx": {
        "shared_storage": [
            {"name": "shared", "mount_point": "/shared", "type": "ebs",
             "ebs_settings": {"volume_type": "gp3", "kms_key_id": KMS, "snapshot_id": "snap-0123456789abcdef0",
                              "deletion_policy": "Snapshot"}},
            {"name": "old", "mount_point": "/old", "type": "ebs", "file_system_id": "vol-0123456789abcdef0"}],
        "data": {
            "s3_mounts": [{"bucket": "lab-data", "mount_point": "/shared/data", "prefix": "runs/"}],
            "efs": [{"mount_point": "/efs", "kms_key_id": KMS, "performance_mode": "generalPurpose",
                     "throughput_mode": "bursting", "deletion_policy": "Retain"},
                    {"mount_point": "/efs2", "file_system_id": "fs-0123456789abcdef0",
                     "access_point_id": "fsap-0123456789abcdef0"}],
            "fsx_lustre": [{"mount_point": "/fsx", "deployment_type": "PERSISTENT_1", "storage_type": "HDD",
                            "per_unit_storage_throughput": 40, "storage_capacity_gb": 1800, "drive_cache_type": "READ",
                            "data_compression_type": "LZ4", "kms_key_id": KMS, "automatic_backup_retention_days": 7,
                            "daily_automatic_backup_start_time": "03:00", "weekly_maintenance_start_time": "7:04:00",
                            "deletion_policy": "Retain"},
                           {"mount_point": "/fsx2", "file_system_id": "fs-0123456789abcdef0"}]},
    },
    "efs-and-linked-fsx": {
        "shared_storage": [{"name": "shared", "mount_point": "/shared", "type": "efs",
                            "efs_settings": {"kms_key_id": KMS, "performance_mode": "maxIO", "throughput_mode": "provisioned",
                                             "provisioned_throughput": 128, "deletion_policy": "Delete"}}],
        "data": {"fsx_lustre": [{"mount_point": "/fsx", "import_path": "s3://lab-data/in", "export_path": "s3://lab-data/out",
                                 "auto_import_policy": "NEW_CHANGED"}]},
    },
    "fsx-shared-volume": {
        "shared_storage": [{"name": "shared", "mount_point": "/shared", "type": "fsx_lustre", "size_gb": 2400,
                            "fsx_lustre_settings": {"deployment_type": "PERSISTENT_2", "storage_type": "SSD",
                                                    "import_path": "s3://lab-data", "export_path": "s3://lab-data/out",
                                                    "auto_import_policy": "NEW", "kms_key_id": KMS,
                                                    "weekly_maintenance_start_time": "1:00:00", "deletion_policy": "Delete"}},
                           {"name": "home", "mount_point": "/home", "type": "efs", "file_system_id": "fs-0123456789abcdef1",
                            "efs_settings": {"access_point_id": "fsap-0123456789abcdef1"}}],
    },
    "pcs": {
        "cluster": {"name": "lab", "region": "us-east-1", "platform": "pcs", "os": "alinux2023", "key_name": "lab-key",
                    "slurm_version": "25.05", "tags": {"project": "genomics"}},
        "shared_storage": [{"name": "shared", "mount_point": "/shared", "type": "efs"}],
    },
    "hdd-fsx-shared-volume": {
        "shared_storage": [{"name": "shared", "mount_point": "/shared", "type": "fsx_lustre",
                            "fsx_lustre_settings": {"deployment_type": "PERSISTENT_1", "storage_type": "HDD",
                                                    "per_unit_storage_throughput": 12, "storage_capacity_gb": 6000,
                                                    "drive_cache_type": "READ", "data_compression_type": "LZ4",
                                                    "automatic_backup_retention_days": 3,
                                                    "daily_automatic_backup_start_time": "23:30"}}],
    },
}


def full(variant: str) -> dict[str, Any]:
    return {**copy.deepcopy(BASE), **copy.deepcopy(VARIANTS[variant])}


def string_leaves(value: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every string in `value`; a mapping key is addressed as (*path, ("key", k))."""
    if isinstance(value, str):
        return [path]
    if isinstance(value, dict):
        out = []
        for k, v in value.items():
            if path and path[-1] == "tags" and len(path) == 2:  # cluster.tags: keys are strings too
                out.append((*path, ("key", k)))
            out += string_leaves(v, (*path, k))
        return out
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in string_leaves(v, (*path, i))]
    return []


def with_newline(data: dict, path: tuple) -> dict:
    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node[part]
    last = path[-1]
    if isinstance(last, tuple):  # a mapping key
        node[last[1] + "\n"] = node.pop(last[1])
    else:
        node[last] = node[last] + "\n"
    return out


def fields_of(path: tuple) -> set[tuple[str, str]]:
    """(model, field) pairs a leaf path goes through."""
    model: Any = Template
    seen = set()
    for part in path:
        if isinstance(part, int | tuple) or model is None:
            continue
        name = field_for_key(model, part)
        if name is None:
            break
        seen.add((model.__name__, name))
        inner = inner_models(model.model_fields[name].annotation)
        model = inner[0] if inner else None
    return seen


def _stringy(annotation: Any) -> bool:
    if annotation is str:
        return True
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return all(isinstance(a, str) for a in typing.get_args(annotation))
    return any(_stringy(a) for a in typing.get_args(annotation))


def string_fields() -> set[tuple[str, str]]:
    return {(name, f) for name, m in all_models().items() for f, info in m.model_fields.items() if _stringy(info.annotation)}


CASES = [(v, p) for v in VARIANTS for p in string_leaves(full(v))]


def test_full_templates_are_valid():
    for variant in VARIANTS:
        report, _ = validate_text(yaml.safe_dump(full(variant)), f"{variant}.yaml")
        # PCS always says its head node is the login group's instance type: the one expected warning
        expected = {"PcsHeadNode"} if variant == "pcs" else set()
        assert report.ok() and {w.code for w in report.warnings} <= expected, report.render()


def test_every_string_field_of_the_model_is_covered():
    covered = set().union(*(fields_of(p) for _, p in CASES))
    missing = string_fields() - covered
    assert not missing, f"add these string fields to a full template: {sorted(missing)}"


@pytest.mark.parametrize(("variant", "path"), CASES, ids=[f"{v}:{'.'.join(map(str, p))}" for v, p in CASES])
def test_trailing_newline_is_refused_and_located(variant, path):
    text = yaml.safe_dump(with_newline(full(variant), path))
    report, _ = validate_text(text, "t.yaml")
    assert not report.ok()
    assert all(i.line for i in report.errors), report.render()
    assert "Traceback" not in report.render()


@pytest.mark.parametrize("char", ["\r", "\t", "\x00", "\x1b", "\u2028", "\u0085", "\u200b", "\u202e"])
@pytest.mark.parametrize("path", [("cluster", "name"), ("description",), ("users", 0, "name"),
                                  ("data", "s3_mounts", 0, "mount_point"), ("software", "containers", 0, "image")])
def test_control_and_invisible_characters_are_refused(char, path):
    data = full("ebs-and-hdd-fsx")
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = node[path[-1]][:2] + char + node[path[-1]][2:]
    # JSON is YAML, and its escapes keep every character as written (YAML folds some in plain scalars)
    report, _ = validate_text(json.dumps(data, indent=1), "t.yaml")
    assert not report.ok() and all(i.line for i in report.errors), report.render()
