"""The cluster template: the single source of truth for what a user may write.

Structure and types live here (storage in ``pctl.model.storage``, users and groups in
``pctl.model.accounts``); rules that need more than one field (min <= max, unique UIDs, nested
mounts...) are validator classes in ``pctl.validation``. The JSON Schema that editors use
(``pctl schema``) is generated from these models, with every alias spelling listed.
"""

from __future__ import annotations

import copy
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from pctl.model.accounts import Group, NodeGroup, User, resolve_groups
from pctl.model.base import Strict, StrictBool, StrictInt, spellings
from pctl.model.constants import AMI_SPACK_ROOT, DEFAULT_SPACK_VERSION, OS_ARCHITECTURES
from pctl.model.storage import (
    Data,
    EbsSettings,
    EfsMount,
    EfsSettings,
    FsxLustreMount,
    FsxLustreSettings,
    S3Mount,
    SharedStorage,
    StorageType,
)

__all__ = [
    "CapacityType", "ClusterSection", "Compute", "Container", "Data", "EbsSettings", "EfsMount", "EfsSettings",
    "FsxLustreMount", "FsxLustreSettings", "Group", "InstallMode", "MAX_QUEUE_NODES", "Networking", "NodeGroup",
    "Platform", "Queue", "all_models", "inner_models", "S3Mount", "SharedStorage", "Software", "StorageType", "Strict", "Template", "User",
    "json_schema",
]

SCHEMA_VERSION = 1
SCHEMA_URL = "https://pctl.dev/schema/template-v1.json"
# A hard cap per queue: far above any real queue, far below what would overflow Slurm's node tables.
MAX_QUEUE_NODES = 10_000

OperatingSystem = Literal[tuple(OS_ARCHITECTURES)]  # type: ignore[valid-type]


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


class ClusterSection(Strict):
    name: str = Field(description="Cluster name: a letter, then letters, digits or hyphens; at most 60 characters.")
    region: str = Field(description="AWS region, e.g. us-east-1.")
    platform: Platform = Field(Platform.parallelcluster, description="parallelcluster (default) or pcs.")
    os: OperatingSystem = Field("alinux2023", description="Operating system of every node.")  # type: ignore[valid-type]
    key_name: str | None = Field(None, description="EC2 key pair for SSH; else the global config's default.")
    slurm_version: str | None = Field(None, description="platform: pcs only: the Slurm release PCS runs (24.11, 25.05, 25.11, 26.05; default 25.11). ParallelCluster ships the Slurm of its own release.")
    tags: dict[str, str] = Field(default_factory=dict, description="Extra tags for every AWS resource.")


class Queue(Strict):
    name: str = Field(description="Slurm partition name: lowercase letter first, then lowercase letters, digits or hyphens; at most 25 characters.")
    instance_types: list[str] = Field(min_length=1, description="One or more EC2 instance types.")
    min_count: StrictInt = Field(0, ge=0, le=MAX_QUEUE_NODES, description="Nodes kept running at all times.")
    max_count: StrictInt = Field(10, ge=1, le=MAX_QUEUE_NODES, description="Hard cap on nodes in this queue.")
    capacity_type: CapacityType = CapacityType.ondemand
    allocation_strategy: Literal["lowest-price", "capacity-optimized", "price-capacity-optimized"] | None = None
    disable_hyperthreading: StrictBool = False
    efa: StrictBool = Field(False, description="Enable EFA and a placement group (instance types must support EFA).")


class Compute(Strict):
    head_node: str = Field(description="EC2 instance type of the head node.")
    queues: list[Queue] = Field(min_length=1)


class Container(Strict):
    """A container image for the cluster: pulled from a registry (`image`) or built from Spack `packages`.

    Kept in the model and validated; building and distributing it is the containers feature's job."""

    name: str = Field(description="Lowercase letters, digits, '.', '_' or '-'; a letter or digit first.")
    image: str | None = Field(None, description="Registry reference: [registry/]repository[:tag][@sha256:digest], e.g. an ECR URI.")
    packages: list[str] = Field(default_factory=list, description="Spack specs the image holds (or is built from).")


def _bool_or_text(value: Any) -> Any:
    """binary_cache takes true, false or text: anything else is one error, not one per union member."""
    if isinstance(value, bool | str):
        return value
    from pydantic_core import PydanticCustomError

    got = {type(None): "nothing", int: "a number", float: "a number", list: "a list", dict: "a mapping"}.get(
        type(value), "another kind of value")
    raise PydanticCustomError("bool_or_s3", "write true, false or s3://BUCKET (got {got})", {"got": got})


BinaryCache = Annotated[StrictBool | str, BeforeValidator(_bool_or_text)]


class Software(Strict):
    spack_packages: list[str] = Field(default_factory=list, description="Spack specs, e.g. gromacs@2024.1 +mpi.")
    spack_version: str = Field(DEFAULT_SPACK_VERSION, description="Pinned Spack release; its binary cache is pinned with it.")
    install: InstallMode = InstallMode.shared
    spack_root: str | None = Field(None, description="Where Spack lives: any path inside a shared volume; default <first shared volume>/spack.")
    containers: list[Container] = Field(default_factory=list, description="Container images (kept and validated; built by the containers feature).")
    binary_cache: BinaryCache = Field(
        True, description="The account's Spack binary cache (docs/cache.md): true (default) keeps it in pctl's bucket, "
                          "s3://BUCKET keeps it in your own bucket, false turns it off (every install builds from source).")


class Networking(Strict):
    ssh_allowed_cidr: str | None = Field(None, description="IPv4 CIDR allowed to SSH to the head node; else the global config's default; never the internet unless written here.")
    subnet_id: str | None = Field(None, description="Use this existing subnet for the head node and compute; pctl then creates no network.")
    compute_subnet_id: str | None = None
    public_only: StrictBool = Field(False, description="One public subnet and no NAT gateway: cheaper, compute nodes get public IPs.")
    vpc_cidr: str = Field("10.42.0.0/16", description="Private IPv4 range of the VPC pctl creates, /16 to /28.")


class Template(Strict):
    """A pctl cluster template."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_URL},
        title="pctl cluster template",
    )

    cluster: ClusterSection
    compute: Compute
    software: Software = Field(default_factory=Software)
    users: list[User] = Field(default_factory=list)
    groups: list[Group] = Field(default_factory=list, description="Groups with the site's GIDs, created once on every node; users name them.")
    data: Data = Field(default_factory=Data)
    shared_storage: Annotated[list[SharedStorage], Field(max_length=5)] = Field(default_factory=list)
    networking: Networking = Field(default_factory=Networking)
    description: str | None = None
    tags: list[str] = Field(default_factory=list, description="Registry tags (not AWS tags).")

    @model_validator(mode="after")
    def _defaults(self) -> Template:
        # Software needs a shared volume; an EBS /shared is the documented default.
        if not self.shared_storage:
            self.shared_storage = [SharedStorage()]
        # A user named by primary group only gets that group's GID (validators report unknown groups).
        declared = {g.name: g.gid for g in self.groups}
        for u in self.users:
            if u.gid is None and u.group in declared:
                u.gid = declared[u.group]
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

    def node_groups(self) -> list[NodeGroup]:
        """Every group the nodes create (declared groups, then users' own), each with one name and GID."""
        return resolve_groups(self.users, self.groups)


def all_models(root: type[BaseModel] | None = None) -> dict[str, type[BaseModel]]:
    """Every pydantic model reachable from `root` (default: Template), by class name."""
    seen: dict[str, type[BaseModel]] = {}
    _collect(root or Template, seen)
    return seen


def _collect(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> None:
    seen[model.__name__] = model
    for info in model.model_fields.values():
        for inner in inner_models(info.annotation):
            if inner.__name__ not in seen:
                _collect(inner, seen)


def inner_models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models inside a field annotation (list[X], X | None, ...)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()) or ():
        out.extend(inner_models(arg))
    return out


def json_schema() -> dict:
    """The template's JSON Schema (draft 2020-12): pydantic's, plus every alias spelling as a property."""
    schema = Template.model_json_schema()
    for name, model in all_models().items():
        target = schema if model is Template else schema.get("$defs", {}).get(name)
        if not target or "properties" not in target:
            continue
        for field, keys in spellings(model).items():
            props = target["properties"]
            if field not in props:
                continue
            for key in keys[1:]:
                entry = copy.deepcopy(props[field])
                entry.pop("default", None)
                entry["description"] = f"Same as `{field}` (write one of them)."
                props[key] = entry
    return schema
