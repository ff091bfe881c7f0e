"""The image builder's IAM role and instance profile: S3 access to one bake's prefix, nothing else.

A bake's builder instance downloads `s3://<bucket>/pctl-bakes/<fingerprint>/bake.sh` and writes its
completion markers and log next to it. The role created here allows exactly s3:GetObject and
s3:PutObject on that prefix, trusts only ec2.amazonaws.com, and is tagged `pctl:cluster` so teardown finds
it. It lives only as long as one bake: the caller deletes it afterwards, whatever the outcome.

IAM is eventually consistent: a fresh instance profile can be refused by RunInstances ("Invalid IAM
Instance Profile name") for several seconds. `ensure_builder_profile` waits (bounded) until IAM itself
returns the profile with its role, and `is_profile_not_ready` lets the launcher retry that one refusal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pctl.aws.errors import error_code, is_not_found, to_pctl_error
from pctl.aws.ownership import OWNER_TAG, ForeignResource, describe_owner, tag_dict
from pctl.aws.resource import Resource
from pctl.aws.session import client
from pctl.aws.waiting import wait_until
from pctl.model.constants import CLUSTER_TAG

if TYPE_CHECKING:
    import boto3

BUILDER_ROLE_PREFIX = "pctl-bake-"
S3_POLICY_NAME = "pctl-bake-s3"
ROLE_TAG = "pctl:role"
PATH = "/pctl/"  # keeps pctl's roles together in the console and in `aws iam list-roles --path-prefix`

TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


def builder_name(fingerprint: str) -> str:
    """Role and instance profile name of the bake for this fingerprint (one bake per fingerprint at a time)."""
    return f"{BUILDER_ROLE_PREFIX}{fingerprint[:16]}"


def partition(session: boto3.Session) -> str:
    """"aws", "aws-cn" or "aws-us-gov": ARNs differ by partition."""
    try:
        return session.get_partition_for_region(session.region_name)
    except Exception:  # an unknown region name (moto accepts some): the commercial partition
        return "aws"


def builder_policy(bucket: str, prefix: str, arn_partition: str = "aws") -> dict[str, Any]:
    """Read and write objects under s3://bucket/prefix/ only (no list, no delete, no other bucket)."""
    return {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "BakeObjects",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:PutObject"],
            "Resource": f"arn:{arn_partition}:s3:::{bucket}/{prefix.strip('/')}/*",
        }],
    }


def is_profile_not_ready(exc: BaseException) -> bool:
    """RunInstances refusing an instance profile IAM has not propagated to EC2 yet."""
    return error_code(exc) == "InvalidParameterValue" and "iamInstanceProfile" in str(exc)


def _already_exists(exc: BaseException) -> bool:
    return error_code(exc) == "EntityAlreadyExists"


def ensure_builder_profile(
    session: boto3.Session,
    *,
    cluster: str,
    fingerprint: str,
    bucket: str,
    prefix: str,
    on_created: Callable[[Resource], None] | None = None,
    timeout_s: float = 120,
    poll_s: float = 2,
    owner: str | None = None,
) -> str:
    """Create (or find, on a re-run) the builder role and instance profile; returns the profile name.

    Each resource is reported to `on_created` the moment it exists, so an interrupted run leaves nothing
    unrecorded. The inline policy is (re)written on every call, so a re-run never keeps a stale scope.
    """
    iam = client(session, "iam")
    region = session.region_name
    name = builder_name(fingerprint)
    created = on_created or (lambda _r: None)
    owner = _owner(owner)
    tags = [{"Key": CLUSTER_TAG, "Value": cluster}, {"Key": ROLE_TAG, "Value": "bake-builder"},
            {"Key": "pctl:fingerprint", "Value": fingerprint}, {"Key": OWNER_TAG, "Value": owner}]
    try:
        try:
            iam.create_role(RoleName=name, Path=PATH, AssumeRolePolicyDocument=json.dumps(TRUST_POLICY),
                            Description=f"pctl image builder for s3://{bucket}/{prefix}/ (deleted after the bake)",
                            MaxSessionDuration=3600 * 12, Tags=tags)
        except Exception as exc:
            if not _already_exists(exc):
                raise
            theirs = tag_dict(iam.list_role_tags(RoleName=name)["Tags"]).get(OWNER_TAG)
            if theirs is not None and theirs != owner:
                raise ForeignResource(
                    f"the image builder role {name} belongs to another {describe_owner(theirs)} (a bake of the same "
                    f"software is running there); this installation is {owner}",
                    "wait for that bake to finish, then re-run: the baked image is shared by fingerprint") from exc
        created(Resource("iam_role", name, region, {"role": "bake-builder"}))
        iam.put_role_policy(RoleName=name, PolicyName=S3_POLICY_NAME,
                            PolicyDocument=json.dumps(builder_policy(bucket, prefix, partition(session))))
        try:
            iam.create_instance_profile(InstanceProfileName=name, Path=PATH, Tags=tags)
        except Exception as exc:
            if not _already_exists(exc):
                raise
        created(Resource("instance_profile", name, region, {"role": "bake-builder"}))
        roles = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"].get("Roles", [])
        if not any(r["RoleName"] == name for r in roles):
            iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=name)
    except Exception as exc:
        raise to_pctl_error(exc, f"creating the image builder's IAM role {name}") from exc

    def visible() -> bool:
        try:
            profile = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
        except Exception as exc:
            if is_not_found(exc):
                return False
            raise
        return any(r["RoleName"] == name for r in profile.get("Roles", []))

    wait_until(visible, timeout_s=timeout_s, poll_s=poll_s, what=f"IAM instance profile {name} to propagate")
    return name


def builder_resources(session: boto3.Session, fingerprint: str) -> list[Resource]:
    """The builder's profile and role as Resources (profile first: it holds the role)."""
    name = builder_name(fingerprint)
    return [Resource("instance_profile", name, session.region_name), Resource("iam_role", name, session.region_name)]


def delete_builder_profile(session: boto3.Session, fingerprint: str, *, timeout_s: float = 120,
                           poll_s: float = 2) -> list[Resource]:
    """Delete the builder's instance profile and role (already gone is fine); returns what was deleted."""
    from pctl.aws.network import delete_resources

    return delete_resources(session, builder_resources(session, fingerprint), wait=True, timeout_s=timeout_s,
                            poll_s=poll_s)


def _owner(owner: str | None) -> str:
    if owner:
        return owner
    from pctl.state import owner_id

    return owner_id()


def tagged_builder_roles(session: boto3.Session, cluster: str, owner: str | None = None) -> list[Resource]:
    """Builder profiles and roles tagged for `cluster` and `owner` (default: this installation), found by
    name prefix and confirmed by tag: another installation's builder is never listed."""
    owner = _owner(owner)
    iam = client(session, "iam")
    region = session.region_name
    out: list[Resource] = []
    try:
        roles = [r for page in iam.get_paginator("list_roles").paginate(PathPrefix=PATH) for r in page["Roles"]]
        for role in roles:
            if not role["RoleName"].startswith(BUILDER_ROLE_PREFIX):
                continue
            tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]}
            if tags.get(CLUSTER_TAG) == cluster and tags.get(OWNER_TAG) == owner:
                out += [Resource("instance_profile", role["RoleName"], region),
                        Resource("iam_role", role["RoleName"], region)]
    except Exception as exc:
        if is_not_found(exc):
            return out
        raise to_pctl_error(exc, "listing pctl's image builder roles") from exc
    return out
