"""One delete function per resource kind, and ``delete_resources`` that runs them dependents first
(re-exported by ``pctl.aws.network``), never on a resource carrying another installation's pctl:owner.

Each returns True when the resource was already gone (so it is not reported as deleted) and raises
on real failures. DependencyViolation is retried until the timeout: AWS releases ENIs of a deleted
NAT gateway or instance some seconds after reporting it gone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pctl.aws.errors import DeleteError, error_code, is_not_found, to_pctl_error
from pctl.aws.ownership import describe_owner, foreign
from pctl.aws.resource import KINDS, Resource
from pctl.aws.session import client
from pctl.aws.waiting import DEFAULT_POLL_S, wait_until

if TYPE_CHECKING:
    import boto3

Deleter = Callable[..., bool]


def _retry_dependency(call: Callable[[], Any], *, timeout_s: float, poll_s: float, what: str) -> bool:
    """Run ``call``; True if the target was already gone. Retries DependencyViolation until timeout."""
    def attempt() -> bool | None:
        try:
            call()
            return False  # "not gone before": deleted now
        except Exception as exc:
            if is_not_found(exc):
                return True
            if error_code(exc) in ("DependencyViolation", "InvalidIPAddress.InUse", "AuthFailure.InUse"):
                return None  # try again
            raise
    result = wait_until(lambda: _wrap(attempt()), timeout_s=timeout_s, poll_s=poll_s, what=f"{what} to be deletable")
    return result == "gone"


def _wrap(value: bool | None) -> str | None:
    # wait_until treats False as "not yet"; map the two outcomes to truthy strings.
    if value is None:
        return None
    return "gone" if value else "deleted"


def _instance(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    found = ec2.describe_instances(InstanceIds=[r.id])["Reservations"]
    states = [i["State"]["Name"] for res in found for i in res["Instances"]]
    if not states or all(s == "terminated" for s in states):
        return True
    ec2.terminate_instances(InstanceIds=[r.id])
    if wait:
        wait_until(
            lambda: all(
                i["State"]["Name"] == "terminated"
                for res in ec2.describe_instances(InstanceIds=[r.id])["Reservations"]
                for i in res["Instances"]
            ),
            timeout_s=timeout_s, poll_s=poll_s, what=f"instance {r.id} to terminate",
        )
    return False


def _nat_gateway(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    gws = ec2.describe_nat_gateways(NatGatewayIds=[r.id])["NatGateways"]
    if not gws or gws[0]["State"] == "deleted":
        return True
    if gws[0]["State"] != "deleting":
        ec2.delete_nat_gateway(NatGatewayId=r.id)
    # Always wait: its Elastic IP and subnet cannot go before the gateway has.
    wait_until(
        lambda: ec2.describe_nat_gateways(NatGatewayIds=[r.id])["NatGateways"][0]["State"] == "deleted",
        timeout_s=timeout_s, poll_s=poll_s, what=f"NAT gateway {r.id} to be deleted",
    )
    return False


def _eip(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    return _retry_dependency(
        lambda: ec2.release_address(AllocationId=r.id), timeout_s=timeout_s, poll_s=poll_s, what=f"Elastic IP {r.id}"
    )


def _igw(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    gws = ec2.describe_internet_gateways(InternetGatewayIds=[r.id])["InternetGateways"]
    for attachment in gws[0].get("Attachments", []) if gws else []:
        vpc_id = attachment["VpcId"]
        _retry_dependency(
            lambda vpc_id=vpc_id: ec2.detach_internet_gateway(InternetGatewayId=r.id, VpcId=vpc_id),
            timeout_s=timeout_s, poll_s=poll_s, what=f"internet gateway {r.id} detach",
        )
    return _retry_dependency(
        lambda: ec2.delete_internet_gateway(InternetGatewayId=r.id),
        timeout_s=timeout_s, poll_s=poll_s, what=f"internet gateway {r.id}",
    )


def _subnet(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    return _retry_dependency(
        lambda: ec2.delete_subnet(SubnetId=r.id), timeout_s=timeout_s, poll_s=poll_s, what=f"subnet {r.id}"
    )


def _route_table(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    tables = ec2.describe_route_tables(RouteTableIds=[r.id])["RouteTables"]
    for assoc in tables[0].get("Associations", []) if tables else []:
        if not assoc.get("Main"):
            try:
                ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
            except Exception as exc:
                if not is_not_found(exc):
                    raise
    return _retry_dependency(
        lambda: ec2.delete_route_table(RouteTableId=r.id), timeout_s=timeout_s, poll_s=poll_s,
        what=f"route table {r.id}",
    )


def _security_group(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    return _retry_dependency(
        lambda: ec2.delete_security_group(GroupId=r.id), timeout_s=timeout_s, poll_s=poll_s,
        what=f"security group {r.id}",
    )


def _vpc(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    return _retry_dependency(lambda: ec2.delete_vpc(VpcId=r.id), timeout_s=timeout_s, poll_s=poll_s, what=f"VPC {r.id}")


def _image(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    images = ec2.describe_images(ImageIds=[r.id])["Images"]
    if not images:
        return True
    ec2.deregister_image(ImageId=r.id)
    return False


def _snapshot(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    # A snapshot stays "in use" by its image for a moment after deregistration.
    return _retry_dependency(
        lambda: _delete_snapshot(ec2, r.id), timeout_s=timeout_s, poll_s=poll_s, what=f"snapshot {r.id}"
    )


def _delete_snapshot(ec2: Any, snapshot_id: str) -> None:
    try:
        ec2.delete_snapshot(SnapshotId=snapshot_id)
    except Exception as exc:
        if error_code(exc) == "InvalidSnapshot.InUse":
            exc.response["Error"]["Code"] = "DependencyViolation"  # type: ignore[attr-defined]
        raise


def _instance_profile(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    iam = client(session, "iam")
    try:
        profile = iam.get_instance_profile(InstanceProfileName=r.id)["InstanceProfile"]
    except Exception as exc:
        if is_not_found(exc):
            return True
        raise
    for role in profile.get("Roles", []):
        iam.remove_role_from_instance_profile(InstanceProfileName=r.id, RoleName=role["RoleName"])
    iam.delete_instance_profile(InstanceProfileName=r.id)
    return False


def _iam_role(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    iam = client(session, "iam")
    try:
        iam.get_role(RoleName=r.id)
    except Exception as exc:
        if is_not_found(exc):
            return True
        raise
    for name in iam.list_role_policies(RoleName=r.id)["PolicyNames"]:
        iam.delete_role_policy(RoleName=r.id, PolicyName=name)
    for policy in iam.list_attached_role_policies(RoleName=r.id)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=r.id, PolicyArn=policy["PolicyArn"])
    for profile in iam.list_instance_profiles_for_role(RoleName=r.id)["InstanceProfiles"]:
        iam.remove_role_from_instance_profile(InstanceProfileName=profile["InstanceProfileName"], RoleName=r.id)
    iam.delete_role(RoleName=r.id)
    return False


def _iam_policy(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    """A managed policy pctl made (r.id is its ARN): detached from what still holds it, versions, then itself."""
    iam = client(session, "iam")
    try:
        iam.get_policy(PolicyArn=r.id)
    except Exception as exc:
        if is_not_found(exc):
            return True
        raise
    held = iam.list_entities_for_policy(PolicyArn=r.id)
    for role in held.get("PolicyRoles", []):
        iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=r.id)
    for user in held.get("PolicyUsers", []):
        iam.detach_user_policy(UserName=user["UserName"], PolicyArn=r.id)
    for group in held.get("PolicyGroups", []):
        iam.detach_group_policy(GroupName=group["GroupName"], PolicyArn=r.id)
    for version in iam.list_policy_versions(PolicyArn=r.id)["Versions"]:
        if not version["IsDefaultVersion"]:
            iam.delete_policy_version(PolicyArn=r.id, VersionId=version["VersionId"])
    iam.delete_policy(PolicyArn=r.id)
    return False


def _launch_template(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    ec2 = client(session, "ec2")
    try:
        ec2.delete_launch_template(LaunchTemplateId=r.id)
    except Exception as exc:
        if is_not_found(exc):  # InvalidLaunchTemplateId.NotFound
            return True
        raise
    return False


def _efs(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    """An EFS pctl made for a PCS cluster (pctl.pcs.storage.delete_file_system: mount targets, then itself)."""
    from pctl.pcs.storage import delete_file_system

    try:
        delete_file_system(client(session, "efs"), r.id, poll=poll_s, timeout=timeout_s)
    except Exception as exc:
        if is_not_found(exc):  # FileSystemNotFound: gone already
            return True
        raise
    return False


def _bucket_objects(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    from pctl.aws.bucket import delete_prefix

    return delete_prefix(session, r.id, r.extra.get("prefix", "")) == 0


def _bucket(session: boto3.Session, r: Resource, *, wait: bool, timeout_s: float, poll_s: float) -> bool:
    from pctl.aws.bucket import bucket_exists, delete_bucket

    if not bucket_exists(session, r.id):
        return True
    delete_bucket(session, r.id)
    return False


DELETERS: dict[str, Deleter] = {
    "instance": _instance,
    "efs": _efs,
    "launch_template": _launch_template,
    "nat_gateway": _nat_gateway,
    "eip": _eip,
    "igw": _igw,
    "subnet": _subnet,
    "route_table": _route_table,
    "security_group": _security_group,
    "vpc": _vpc,
    "image": _image,
    "snapshot": _snapshot,
    "instance_profile": _instance_profile,
    "iam_role": _iam_role,
    "iam_policy": _iam_policy,
    "bucket_objects": _bucket_objects,
    "bucket": _bucket,
}


# ---- deleting many, dependents first ---------------------------------------------------------------

def delete_resources(
    session: boto3.Session,
    resources: list[Resource],
    *,
    wait: bool = True,
    timeout_s: float = 900,
    poll_s: float = DEFAULT_POLL_S,
    owner: str | None = None,
) -> list[Resource]:
    """Delete ``resources`` dependents-first, waiting where AWS needs it. Already-gone ones are skipped.

    A resource carrying another installation's ``pctl:owner`` is never deleted: the others are, then
    DeleteError names the foreign ones and whose they are (``remaining``).

    Returns the resources actually deleted. On a failure raises DeleteError carrying what was deleted
    before it and what remains, so the caller can update its state and re-run.
    """
    order = {kind: i for i, kind in enumerate(KINDS)}
    pending = sorted(dict.fromkeys(resources), key=lambda r: order[r.kind])
    if owner is None:
        from pctl.state import owner_id

        owner = owner_id()
    try:
        theirs = foreign(session, pending, owner)
    except Exception as exc:
        raise DeleteError(f"could not check who owns the resources to delete: {to_pctl_error(exc, 'tags').args[0]}",
                          "re-run the delete", [], pending) from exc
    pending = [r for r in pending if r not in theirs]
    deleted: list[Resource] = []
    for i, res in enumerate(pending):
        s = session if res.region == session.region_name else _regional(session, res.region)
        try:
            gone_before = DELETERS[res.kind](s, res, wait=wait, timeout_s=timeout_s, poll_s=poll_s)
        except Exception as exc:
            if is_not_found(exc):
                continue
            err = to_pctl_error(exc, f"deleting {res}")
            raise DeleteError(
                err.args[0], err.hint or "Re-run the delete; resources already removed are skipped.",
                deleted, pending[i:],
            ) from exc
        if not gone_before:
            deleted.append(res)
    if theirs:
        whose = ", ".join(f"{r.kind} {r.id} ({describe_owner(o)})" for r, o in theirs.items())
        raise DeleteError(f"not deleted, they belong to another pctl installation: {whose}; this installation is {owner}",
                          "they are not this installation's to delete: their owner must delete them",
                          deleted, list(theirs))
    return deleted


def _regional(session: boto3.Session, region: str) -> boto3.Session:
    import boto3

    creds = session.get_credentials()
    frozen = creds.get_frozen_credentials() if creds else None
    return boto3.Session(
        region_name=region,
        aws_access_key_id=frozen.access_key if frozen else None,
        aws_secret_access_key=frozen.secret_key if frozen else None,
        aws_session_token=frozen.token if frozen else None,
    )
