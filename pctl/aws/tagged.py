"""Find every kind of resource pctl made for a cluster by its tags, not only from state; delete them.

After a crash (kill -9 between a create call and the state write) or a lost state file, AWS still
holds resources tagged ``pctl:cluster=<name>`` and ``pctl:owner=<owner id>``. ``find_tagged`` lists
them, every kind pctl creates (instances such as an AMI builder, the network, IAM builder roles and
profiles, the head node's cache policy, snapshots, the cluster's bootstrap objects, the pctl bucket if this owner created it and
it holds nothing else, the name claim), and separately what carries the cluster's name but another
owner's id (never touched). ``delete_tagged`` removes this owner's share, dependents first.

Baked images are listed as kept: they are shared by software fingerprint (`pctl ami delete ID`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pctl.aws.errors import is_not_found, to_pctl_error
from pctl.aws.ownership import OWNER_TAG, read_claim, release_name, tag_dict
from pctl.aws.resource import Resource
from pctl.aws.session import client
from pctl.model.constants import CLUSTER_TAG

if TYPE_CHECKING:
    import boto3

BOOTSTRAP_PREFIX = "pctl/{name}"  # tasks.bootstrap.prefix_for


@dataclass
class Tagged:
    """What carries a cluster's tags: this owner's (to delete), another owner's (never touched), kept images."""

    cluster: str
    owner: str
    ours: list[Resource] = field(default_factory=list)
    theirs: dict[Resource, str | None] = field(default_factory=dict)
    images: list[Resource] = field(default_factory=list)
    claim: dict[str, Any] | None = None  # the name claim, if any
    bucket: str | None = None  # the pctl bucket, when it exists
    key_pairs: dict[str, str] = field(default_factory=dict)  # this owner's: key pair id -> name
    their_key_pairs: dict[str, str | None] = field(default_factory=dict)  # name -> its owner

    def lines(self) -> list[str]:
        out = [f"  {r.kind} {r.id}" + (f" ({r.extra['prefix']}/)" if r.extra.get("prefix") else "") for r in self.ours]
        out += [f"  key pair {name} ({kid})" for kid, name in self.key_pairs.items()]
        if self.claim and self.claim.get("owner") == self.owner:
            out.append(f"  claim on the cluster name {self.cluster} (SSM parameter)")
        return out


def _ec2(session: boto3.Session, cluster: str) -> list[tuple[Resource, str | None]]:
    ec2 = client(session, "ec2")
    region = session.region_name
    tag = [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}]
    found: list[tuple[Resource, str | None]] = []

    def add(kind: str, rid: str, tags: Any, **extra: Any) -> None:
        if tag_dict(tags).get(CLUSTER_TAG) == cluster:  # checked here too: moto ignores some tag filters
            found.append((Resource(kind, rid, region, extra), tag_dict(tags).get(OWNER_TAG)))

    for page in ec2.get_paginator("describe_instances").paginate(Filters=tag):
        for res in page["Reservations"]:
            for i in res["Instances"]:
                # pctl's own instances (an AMI builder) carry pctl:role; the cluster's nodes are ParallelCluster's
                # (they carry the cluster tag through the config) and go with the cluster, not one by one.
                if i["State"]["Name"] not in ("terminated", "shutting-down") and "pctl:role" in tag_dict(i.get("Tags")):
                    add("instance", i["InstanceId"], i.get("Tags"))
    for nat in ec2.describe_nat_gateways(Filters=tag)["NatGateways"]:
        if nat["State"] not in ("deleted", "deleting", "failed"):
            add("nat_gateway", nat["NatGatewayId"], nat.get("Tags"), vpc_id=nat.get("VpcId"))
    for a in ec2.describe_addresses(Filters=tag)["Addresses"]:
        add("eip", a["AllocationId"], a.get("Tags"))
    for g in ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]:
        add("igw", g["InternetGatewayId"], g.get("Tags"))
    for s in ec2.describe_subnets(Filters=tag)["Subnets"]:
        add("subnet", s["SubnetId"], s.get("Tags"))
    for r in ec2.describe_route_tables(Filters=tag)["RouteTables"]:
        add("route_table", r["RouteTableId"], r.get("Tags"))
    for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]:
        add("security_group", g["GroupId"], g.get("Tags"))
    for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]:
        add("vpc", v["VpcId"], v.get("Tags"))
    for img in ec2.describe_images(Owners=["self"], Filters=tag)["Images"]:
        add("image", img["ImageId"], img.get("Tags"))
    for lt in ec2.describe_launch_templates(Filters=tag)["LaunchTemplates"]:  # a PCS cluster's node groups
        add("launch_template", lt["LaunchTemplateId"], lt.get("Tags"))
    return found


def _efs(session: boto3.Session, cluster: str) -> list[tuple[Resource, str | None]]:
    """The EFS file systems pctl made for a PCS cluster (pctl.pcs.storage.pctl_file_systems), with their owner."""
    from pctl.pcs.storage import pctl_file_systems

    return [(Resource("efs", fs["FileSystemId"], session.region_name), tag_dict(fs.get("Tags")).get(OWNER_TAG))
            for fs in pctl_file_systems(client(session, "efs"), cluster)]


def _iam(session: boto3.Session, cluster: str) -> list[tuple[Resource, str | None]]:
    from pctl.aws.iam import PATH
    from pctl.pcs.limits import ROLE_PATH as PCS_ROLE_PATH

    iam = client(session, "iam")
    region = session.region_name
    found: list[tuple[Resource, str | None]] = []
    roles = [r for path in (PATH, PCS_ROLE_PATH)  # the bake builders' and a PCS cluster's node roles
             for page in iam.get_paginator("list_roles").paginate(PathPrefix=path) for r in page["Roles"]]
    for role in roles:
        tags = tag_dict(iam.list_role_tags(RoleName=role["RoleName"])["Tags"])
        if tags.get(CLUSTER_TAG) != cluster:
            continue
        owner = tags.get(OWNER_TAG)
        try:
            iam.get_instance_profile(InstanceProfileName=role["RoleName"])
            found.append((Resource("instance_profile", role["RoleName"], region), owner))
        except Exception as exc:
            if not is_not_found(exc):
                raise
        found.append((Resource("iam_role", role["RoleName"], region), owner))
    from pctl.cache.access import CLUSTER_POLICY_PATH

    for page in iam.get_paginator("list_policies").paginate(Scope="Local", PathPrefix=CLUSTER_POLICY_PATH):
        for policy in page["Policies"]:
            tags = tag_dict(iam.list_policy_tags(PolicyArn=policy["Arn"])["Tags"])
            if tags.get(CLUSTER_TAG) == cluster:
                found.append((Resource("iam_policy", policy["Arn"], region), tags.get(OWNER_TAG)))
    return found


def tagged_leftovers(session: boto3.Session, cluster: str, owner: str | None = None) -> list[Resource]:
    """This owner's pctl-made instances (AMI builders) and builder roles/profiles tagged for `cluster`:
    what a kill between RunInstances (or CreateRole) and the state write leaves unrecorded."""
    if owner is None:
        from pctl.state import owner_id

        owner = owner_id()
    try:
        found = [(r, o) for r, o in _ec2(session, cluster) if r.kind == "instance"] + _iam(session, cluster)
    except Exception as exc:
        raise to_pctl_error(exc, f"looking up leftovers tagged for cluster {cluster}") from exc
    return [r for r, o in found if o == owner]


def find_tagged(session: boto3.Session, cluster: str, owner: str) -> Tagged:
    """Everything in the session's region that carries ``pctl:cluster=<cluster>``, split by owner."""
    from pctl.aws import bucket as b

    out = Tagged(cluster, owner)
    try:
        for res, who in _ec2(session, cluster) + _efs(session, cluster) + _iam(session, cluster):
            if who != owner:
                out.theirs[res] = who
            elif res.kind == "image":
                out.images.append(res)
            else:
                out.ours.append(res)
        for kp in client(session, "ec2").describe_key_pairs(
                Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}])["KeyPairs"]:
            tags = tag_dict(kp.get("Tags"))
            if tags.get(CLUSTER_TAG) != cluster:
                continue
            if tags.get(OWNER_TAG) == owner:
                out.key_pairs[kp["KeyPairId"]] = kp["KeyName"]
            else:
                out.their_key_pairs[kp["KeyName"]] = tags.get(OWNER_TAG)
        out.claim = read_claim(session, cluster)
        name = b.default_bucket_name(session, session.region_name)
        if b.bucket_exists(session, name):
            out.bucket = name
            claimed_by_other = out.claim is not None and out.claim.get("owner") != owner
            prefix = BOOTSTRAP_PREFIX.format(name=cluster)
            if not claimed_by_other and _has_objects(session, name, prefix + "/"):
                out.ours.append(Resource("bucket_objects", name, session.region_name, {"prefix": prefix}))
    except Exception as exc:
        raise to_pctl_error(exc, f"looking up what carries the tags of cluster {cluster}") from exc
    return out


def _has_objects(session: boto3.Session, bucket: str, prefix: str) -> bool:
    from pctl.aws.bucket import expected_owner

    s3 = client(session, "s3")
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1, **expected_owner(session)).get("KeyCount"))


def delete_tagged(session: boto3.Session, found: Tagged, *, timeout_s: float = 900, poll_s: float = 5) -> list[str]:
    """Delete this owner's tagged resources (dependents first), then the pctl bucket if this owner created
    it and it is now empty, then the name claim. Returns what went, as "kind id" lines."""
    from pctl.aws import bucket as b
    from pctl.aws.network import delete_resources
    from pctl.aws.ownership import bucket_tags

    gone = [f"{r.kind} {r.id}" for r in delete_resources(session, found.ours, wait=True, timeout_s=timeout_s,
                                                         poll_s=poll_s, owner=found.owner)]
    mine = found.bucket is not None and b.bucket_exists(session, found.bucket) and \
        bucket_tags(session, found.bucket).get(OWNER_TAG) == found.owner
    if mine and b.is_empty(session, found.bucket):
        b.delete_bucket(session, found.bucket)
        gone.append(f"bucket {found.bucket} (empty, created by this installation)")
    ec2 = client(session, "ec2")
    for name in found.key_pairs.values():
        try:
            ec2.delete_key_pair(KeyName=name)  # by name: moto ignores KeyPairId here
            gone.append(f"key pair {name}")
        except Exception as exc:
            if not is_not_found(exc):
                raise to_pctl_error(exc, f"deleting key pair {name}") from exc
    if release_name(session, found.cluster, found.owner):
        gone.append(f"claim on the cluster name {found.cluster}")
    return gone


def delete_from_tags(name: str, region: str, *, confirm: Any | None, say: Any, timeout_s: float = 900,
                     poll_s: float = 5) -> list[str]:
    """`pctl delete NAME --from-tags`: list what carries the cluster's tags and this installation's owner id,
    ask for the name (``confirm(prompt) -> typed text``; None: do not ask), delete it, drop the local state.

    Returns what went. PctlError when the typed name does not match (nothing deleted).
    """
    from pctl import state

    state.check_name(name)
    with state.lock(name, "delete --from-tags"):  # never while this installation's create of it is running
        return _delete_from_tags(name, region, confirm=confirm, say=say, timeout_s=timeout_s, poll_s=poll_s)


def _delete_from_tags(name: str, region: str, *, confirm: Any | None, say: Any, timeout_s: float,
                      poll_s: float) -> list[str]:
    from pctl import state
    from pctl.aws.session import make_session
    from pctl.errors import PctlError

    owner = state.owner_id()
    session = make_session(region)
    found = find_tagged(session, name, owner)
    for res, who in found.theirs.items():
        say(f"not touched: {res.kind} {res.id} carries cluster {name}'s tag but belongs to "
            f"{'pctl installation ' + who if who else 'no pctl installation (no pctl:owner tag)'}")
    for kp, who in found.their_key_pairs.items():
        say(f"not touched: key pair {kp} carries cluster {name}'s tag but belongs to "
            f"{'pctl installation ' + who if who else 'no pctl installation (no pctl:owner tag)'}")
    if found.claim and found.claim.get("owner") not in (None, owner):
        say(f"not touched: the claim on the name {name} belongs to pctl installation {found.claim.get('owner')}")
    for img in found.images:
        say(f"kept: image {img.id} (shared by software fingerprint; `pctl ami delete {img.id}` removes it)")
    lines = found.lines()
    if not lines:
        say(f"nothing in {region} carries cluster {name}'s tags and this installation's owner id ({owner})")
        if state.load(name) is None:
            return []
        state.remove(name)
        return [f"local state of {name}"]
    say(f"In {region}, these carry cluster {name}'s tags and this installation's owner id ({owner}):\n"
        + "\n".join(lines))
    if confirm is not None and confirm(f"Type the cluster name ({name}) to delete them").strip() != name:
        raise PctlError("the name did not match; nothing was deleted", "type it exactly, or pass --yes")
    gone = delete_tagged(session, found, timeout_s=timeout_s, poll_s=poll_s)
    import contextlib

    from pctl.lifecycle.keypair import private_key_path

    for key_name in found.key_pairs.values():  # its private key, kept under PCTL_HOME, goes with it
        with contextlib.suppress(OSError):
            private_key_path(key_name).unlink()
    try:
        if state.load(name) is not None:
            state.remove(name)
            gone.append(f"local state of {name}")
    except PctlError:  # an unreadable state file: the user moved it aside or will; AWS is clean either way
        pass
    return gone
