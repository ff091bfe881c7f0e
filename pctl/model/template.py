"""The cluster template: the single source of truth for what a user may write.

Structure and types live here; rules that need more than one field (min <= max, unique UIDs,
overlapping mounts...) are validator classes in ``pctl.validation``. The JSON Schema that editors
use (``pctl schema``) is generated from these models.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pctl.model.constants import (
    AMI_SPACK_ROOT,
    DEFAULT_SHARED_MOUNT,
    DEFAULT_SHARED_SIZE_GB,
    DEFAULT_SPACK_VERSION,
    OS_ARCHITECTURES,
)

SCHEMA_VERSION = 1
SCHEMA_URL = "https://pctl.dev/schema/template-v1.json"

OperatingSystem = Literal[tuple(OS_ARCHITECTURES)]  # type: ignore[valid-type]


class Strict(BaseModel):
    """Base: unknown keys are errors (they are usually typos), values are not coerced from str."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Platform(StrEnum):
    parallelcluster = "parallelcluster"
    pcs = "pcs"


class CapacityType(StrEnum):
    ondemand = "ondemand"
    spot = "spot"
    capacity_block = "capacity_block"


class InstallMode(StrEnum):
    shared = "shared"  # Spack builds into the shared volume after boot (default)
    ami = "ami"  # software baked into a custom AMI before the cluster is created


class StorageType(StrEnum):
    ebs = "ebs"
    efs = "efs"
    fsx_lustre = "fsx_lustre"


class ClusterSection(Strict):
    name: str = Field(description="Cluster name: a letter, then letters, digits or hyphens; at most 60 characters.")
    region: str = Field(description="AWS region, e.g. us-east-1.")
    platform: Platform = Field(Platform.parallelcluster, description="parallelcluster (default) or pcs.")
    os: OperatingSystem = Field("alinux2023", description="Operating system of every node.")  # type: ignore[valid-type]
    key_name: str | None = Field(None, description="EC2 key pair for SSH; else the global config's default.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags for every AWS resource.")


class Queue(Strict):
    name: str = Field(description="Slurm partition name: lowercase letter first, then lowercase letters, digits or hyphens; at most 25 characters.")
    instance_types: list[str] = Field(min_length=1, description="One or more EC2 instance types.")
    min_count: int = Field(0, ge=0, description="Nodes kept running at all times.")
    max_count: int = Field(10, ge=1, description="Upper bound on nodes in this queue.")
    capacity_type: CapacityType = CapacityType.ondemand
    allocation_strategy: Literal["lowest-price", "capacity-optimized", "price-capacity-optimized"] | None = None
    disable_hyperthreading: bool = False
    efa: bool = Field(False, description="Enable EFA and a placement group (instance types must support EFA).")


class Compute(Strict):
    head_node: str = Field(description="EC2 instance type of the head node.")
    queues: list[Queue] = Field(min_length=1)


class Software(Strict):
    spack_packages: list[str] = Field(default_factory=list, description="Spack specs, e.g. gromacs@2024.1 +mpi.")
    spack_version: str = Field(DEFAULT_SPACK_VERSION, description="Pinned Spack release; its binary cache is pinned with it.")
    install: InstallMode = InstallMode.shared
    spack_root: str | None = Field(None, description="Where Spack lives; default <first shared volume>/spack.")


class User(Strict):
    name: str
    uid: int
    gid: int
    shell: str = "/bin/bash"
    groups: list[str] = Field(default_factory=list, description="Supplementary groups (created on every node).")


class S3Mount(Strict):
    bucket: str
    mount_point: str
    read_only: bool = True
    prefix: str | None = Field(None, description="Only this key prefix of the bucket.")


class EfsMount(Strict):
    mount_point: str
    file_system_id: str | None = Field(None, description="An existing EFS file system; omit to create one.")
    encrypted: bool = True


class FsxLustreMount(Strict):
    mount_point: str
    file_system_id: str | None = Field(None, description="An existing FSx for Lustre file system; omit to create one.")
    storage_capacity_gb: int = Field(1200, ge=1200)
    deployment_type: Literal["SCRATCH_2", "PERSISTENT_2", "PERSISTENT_1", "SCRATCH_1"] = "SCRATCH_2"
    import_path: str | None = Field(None, description="s3://bucket[/prefix] to link (created file systems only).")


class Data(Strict):
    s3_mounts: list[S3Mount] = Field(default_factory=list)
    efs: list[EfsMount] = Field(default_factory=list)
    fsx_lustre: list[FsxLustreMount] = Field(default_factory=list)


class SharedStorage(Strict):
    name: str = "shared"
    mount_point: str = DEFAULT_SHARED_MOUNT
    type: StorageType = StorageType.ebs
    size_gb: int = Field(DEFAULT_SHARED_SIZE_GB, ge=1, description="EBS size or FSx capacity.")
    file_system_id: str | None = Field(None, description="Use an existing EFS/FSx file system (or EBS volume id).")


class Networking(Strict):
    ssh_allowed_cidr: str | None = Field(None, description="CIDR allowed to SSH to the head node; else the global config's default; never 0.0.0.0/0 unless written here.")
    subnet_id: str | None = Field(None, description="Use this existing subnet for the head node and compute; pctl then creates no network.")
    compute_subnet_id: str | None = None
    public_only: bool = Field(False, description="One public subnet and no NAT gateway: cheaper, compute nodes get public IPs.")
    vpc_cidr: str = "10.42.0.0/16"


class Template(Strict):
    """A pctl cluster template."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_URL},
        title="pctl cluster template",
    )

    cluster: ClusterSection
    compute: Compute
    software: Software = Field(default_factory=Software)
    users: list[User] = Field(default_factory=list)
    data: Data = Field(default_factory=Data)
    shared_storage: Annotated[list[SharedStorage], Field(max_length=5)] = Field(default_factory=list)
    networking: Networking = Field(default_factory=Networking)
    description: str | None = None
    tags: list[str] = Field(default_factory=list, description="Registry tags (not AWS tags).")

    @model_validator(mode="after")
    def _default_shared_storage(self) -> Template:
        # Software needs a shared volume; an EBS /shared is the documented default.
        if not self.shared_storage:
            self.shared_storage = [SharedStorage()]
        return self

    # ---- derived values used by renderers and clients -------------------------------------
    @property
    def software_mount(self) -> str:
        return self.shared_storage[0].mount_point

    @property
    def spack_root(self) -> str:
        # install: ami bakes Spack into a local path of the image; software.spack_root names a
        # shared path and applies to install: shared only.
        if self.software.install is InstallMode.ami:
            return AMI_SPACK_ROOT
        return self.software.spack_root or f"{self.software_mount}/spack"


def json_schema() -> dict:
    return Template.model_json_schema()
