"""A record of one AWS resource pctl created: enough to find it again and delete it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Every kind pctl creates or deletes, in the order delete_resources removes them (dependents first).
KINDS = (
    "instance",
    "efs",  # a PCS cluster's shared file system (mount targets first); before the security group they use
    "launch_template",  # a PCS node group's
    "nat_gateway",
    "eip",
    "igw",
    "subnet",
    "route_table",
    "security_group",
    "vpc",
    "image",
    "snapshot",
    "instance_profile",
    "iam_role",
    "iam_policy",  # a managed policy (id: its ARN); after the roles it was attached to
    "bucket_objects",
    "bucket",
)


@dataclass(frozen=True)
class Resource:
    kind: str
    id: str
    region: str
    # Kind-specific details (e.g. vpc_id of a subnet, prefix of bucket_objects). Not part of the hash.
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown resource kind {self.kind!r}; expected one of {', '.join(KINDS)}")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "id": self.id, "region": self.region, "extra": dict(self.extra)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Resource:
        return cls(data["kind"], data["id"], data["region"], dict(data.get("extra") or {}))

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.region})"
