"""Who owns a resource, and the cluster-name claim that lives in AWS.

Two pctl installations (two colleagues, a laptop and a Prefect worker: two PCTL_HOMEs) can share one
AWS account and pick the same cluster name. Every resource pctl creates carries ``pctl:owner=<owner
id>`` (``pctl.state.owner_id``), and:

- pctl never adopts (finds by tag and reuses) a resource carrying another owner's id, and never
  deletes one: it says whose it is instead;
- a create first *claims* the name: the SSM parameter ``/pctl/claims/<name>`` (regional), created with
  ``Overwrite=False`` (atomic: of two racing writers exactly one succeeds; free, and it needs no bucket
  to exist first). The claim lives in AWS, so it holds across machines, unlike the local flock; it is
  released when the cluster's delete (or a rollback that left nothing) finishes. A claim of this owner
  is resumed, never refused.

Plain boto3 calls; AwsError for the user.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pctl.aws.errors import error_code, is_not_found, to_pctl_error
from pctl.aws.resource import Resource
from pctl.aws.session import client
from pctl.errors import AwsError
from pctl.model.constants import CLUSTER_TAG

if TYPE_CHECKING:
    import boto3

OWNER_TAG = "pctl:owner"
CLAIM_PREFIX = "/pctl/claims"
EC2_KINDS = ("instance", "nat_gateway", "eip", "igw", "subnet", "route_table", "security_group", "vpc", "image",
             "snapshot", "launch_template")


class ForeignResource(AwsError):
    """A resource (or a claimed name) that belongs to another pctl installation."""


def owner_tags(owner: str) -> dict[str, str]:
    return {OWNER_TAG: owner}


def tag_dict(tags: Iterable[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def describe_owner(owner: str | None) -> str:
    return f"pctl installation {owner}" if owner else "a resource with no pctl:owner tag"


# ---- the name claim: a lock that lives in AWS -------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    parameter: str
    owner: str
    resumed: bool  # True: this owner held it already (a re-run after a crash)


def claim_parameter(name: str) -> str:
    """The SSM parameter that claims cluster `name` in a region (SSM parameters are regional)."""
    return f"{CLAIM_PREFIX}/{name}"


def read_claim(session: boto3.Session, name: str) -> dict[str, Any] | None:
    """The claim of `name` in the session's region ({owner, since, doing}), or None when nobody holds it."""
    ssm = client(session, "ssm")
    try:
        value = ssm.get_parameter(Name=claim_parameter(name))["Parameter"]["Value"]
    except Exception as exc:
        if is_not_found(exc) or error_code(exc) == "ParameterNotFound":
            return None
        raise to_pctl_error(exc, f"reading the claim on cluster name {name}") from exc
    try:
        data = json.loads(value)
    except ValueError:
        return {"owner": None, "doing": "unreadable claim"}
    return data if isinstance(data, dict) else {"owner": None}


def claim_name(session: boto3.Session, name: str, owner: str, *, doing: str = "create") -> Claim:
    """Claim cluster `name` in the session's region for `owner`; ForeignResource if another owner holds it.

    PutParameter with Overwrite=False is atomic: of two racing installations exactly one creates it.
    """
    ssm = client(session, "ssm")
    region = session.region_name
    parameter = claim_parameter(name)
    value = json.dumps({"owner": owner, "cluster": name, "region": region, "doing": doing,
                        "since": datetime.now(UTC).isoformat(timespec="seconds")})
    try:
        ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=False,
                          Description=f"pctl: cluster name {name} is in use by installation {owner}",
                          Tags=[{"Key": OWNER_TAG, "Value": owner}, {"Key": CLUSTER_TAG, "Value": name}])
        return Claim(parameter, owner, resumed=False)
    except Exception as exc:
        if error_code(exc) != "ParameterAlreadyExists":
            raise to_pctl_error(exc, f"claiming the cluster name {name}") from exc
    held = read_claim(session, name) or {}
    if held.get("owner") == owner:
        return Claim(parameter, owner, resumed=True)
    raise ForeignResource(
        f"cluster name {name!r} in {region} is claimed by another {describe_owner(held.get('owner'))} "
        f"(since {held.get('since') or '?'}, doing {held.get('doing') or '?'}); this installation is {owner}",
        "pick another --name; if that installation is gone for good, run `pctl delete "
        f"{name} --from-tags` where it lived, or delete the SSM parameter {parameter} by hand",
    )


def release_name(session: boto3.Session, name: str, owner: str) -> bool:
    """Delete the claim if `owner` holds it (True); another owner's claim is never touched."""
    held = read_claim(session, name)
    if held is None or held.get("owner") != owner:
        return False
    try:
        client(session, "ssm").delete_parameter(Name=claim_parameter(name))
    except Exception as exc:
        if not (is_not_found(exc) or error_code(exc) == "ParameterNotFound"):
            raise to_pctl_error(exc, f"releasing the claim on cluster name {name}") from exc
    return True


# ---- owners of existing resources --------------------------------------------------------------------

def owners(session: boto3.Session, resources: Iterable[Resource]) -> dict[Resource, str | None]:
    """The pctl:owner tag of each resource that can carry tags (EC2 kinds, IAM roles, profiles and policies, buckets).

    Resources that are gone or cannot carry tags (bucket_objects) are left out of the result.
    """
    out: dict[Resource, str | None] = {}
    items = list(resources)
    ec2_items = [r for r in items if r.kind in EC2_KINDS]
    by_region: dict[str, list[Resource]] = {}
    for r in ec2_items:
        by_region.setdefault(r.region, []).append(r)
    for region, group in by_region.items():
        ec2 = client(session, "ec2", region)
        ids = [r.id for r in group]
        found: dict[str, str | None] = {}
        for i in range(0, len(ids), 200):
            resp = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": ids[i:i + 200]}])
            for t in resp.get("Tags", []):
                found.setdefault(t["ResourceId"], None)
                if t["Key"] == OWNER_TAG:
                    found[t["ResourceId"]] = t["Value"]
        for r in group:
            out[r] = found.get(r.id)
    iam = client(session, "iam")
    for r in items:
        try:
            if r.kind == "iam_role":
                out[r] = tag_dict(iam.list_role_tags(RoleName=r.id)["Tags"]).get(OWNER_TAG)
            elif r.kind == "instance_profile":
                profile = iam.get_instance_profile(InstanceProfileName=r.id)["InstanceProfile"]
                out[r] = tag_dict(profile.get("Tags")).get(OWNER_TAG)
            elif r.kind == "efs":
                fs = client(session, "efs", r.region).describe_file_systems(FileSystemId=r.id)["FileSystems"][0]
                out[r] = tag_dict(fs.get("Tags")).get(OWNER_TAG)
            elif r.kind == "iam_policy":
                out[r] = tag_dict(iam.list_policy_tags(PolicyArn=r.id)["Tags"]).get(OWNER_TAG)
            elif r.kind == "bucket":
                out[r] = bucket_tags(session, r.id).get(OWNER_TAG)
        except Exception as exc:
            if not is_not_found(exc):
                raise
    return out


def bucket_tags(session: boto3.Session, bucket: str) -> dict[str, str]:
    from pctl.aws.bucket import expected_owner

    try:
        return tag_dict(client(session, "s3").get_bucket_tagging(Bucket=bucket, **expected_owner(session))["TagSet"])
    except Exception as exc:
        if error_code(exc) in ("NoSuchTagSet", "NoSuchTagSetError"):
            return {}
        raise


def foreign(session: boto3.Session, resources: Iterable[Resource], owner: str) -> dict[Resource, str]:
    """The resources that carry another owner's id: {resource: their owner}."""
    return {r: o for r, o in owners(session, resources).items() if o is not None and o != owner}


def refuse_foreign(session: boto3.Session, cluster: str, owner: str) -> None:
    """ForeignResource when EC2 resources tagged for `cluster` carry another owner's id (never adopt them)."""
    ec2 = client(session, "ec2")
    theirs: dict[str, list[str]] = {}
    for vpc in ec2.describe_vpcs(Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}])["Vpcs"]:
        other = tag_dict(vpc.get("Tags")).get(OWNER_TAG)
        if other != owner:
            theirs.setdefault(other or "", []).append(vpc["VpcId"])
    if theirs:
        whose = "; ".join(f"{', '.join(ids)} of {describe_owner(o or None)}" for o, ids in theirs.items())
        raise ForeignResource(
            f"cluster name {cluster!r} is in use in this account and region by another pctl installation: {whose} "
            f"(this installation is {owner}); pctl will not adopt or delete them",
            "pick another --name (`pctl create ... --name OTHER`)",
        )


def claim_for_create(name: str, region: str) -> Claim:
    """The create flow's AWS-side lock: claim `name` in `region` for this installation (ForeignResource if taken)."""
    from pctl.aws.session import make_session
    from pctl.state import owner_id

    return claim_name(make_session(region), name, owner_id())


def release_after_delete(name: str, region: str) -> bool:
    """Release this installation's claim on `name` once nothing of the cluster is left (never another's)."""
    from pctl.aws.session import make_session
    from pctl.state import owner_id

    return release_name(make_session(region), name, owner_id())
