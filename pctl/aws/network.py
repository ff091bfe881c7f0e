"""The cluster's network: VPC, a public subnet for the head node, a private subnet behind a NAT gateway
for compute, and a security group allowing SSH only from the template's CIDR.

Every resource carries ``pctl:cluster=<name>``, ``pctl:role=<role>`` and ``pctl:owner=<owner id>``; a
re-run finds them by those tags instead of creating duplicates, so a flow that died half-way resumes
cleanly. Only resources carrying this installation's owner id are ever adopted or deleted
(pctl.aws.ownership).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pctl.aws.deleters import delete_resources
from pctl.aws.errors import error_code, to_pctl_error
from pctl.aws.ownership import OWNER_TAG, refuse_foreign
from pctl.aws.resource import Resource
from pctl.aws.session import client
from pctl.aws.waiting import DEFAULT_POLL_S, wait_until
from pctl.errors import AwsError
from pctl.model.constants import CLUSTER_TAG

if TYPE_CHECKING:
    import boto3

__all__ = [
    "CLUSTER_TAG",
    "ROLE_TAG",
    "Network",
    "delete_network",
    "delete_resources",
    "ensure_network",
    "find_network",
    "tagged_network_resources",
]

ROLE_TAG = "pctl:role"
OnCreated = Callable[[Resource], None]


@dataclass
class Network:
    vpc_id: str
    public_subnet_id: str
    private_subnet_id: str | None
    security_group_id: str
    created: list[Resource] = field(default_factory=list)

    @property
    def head_subnet_id(self) -> str:
        return self.public_subnet_id

    @property
    def compute_subnet_id(self) -> str:
        # public_only mode: compute shares the public subnet (nodes get public IPs, no NAT cost).
        return self.private_subnet_id or self.public_subnet_id


# ---- tags and lookups ---------------------------------------------------------------------------


def _owner(owner: str | None) -> str:
    if owner:
        return owner
    from pctl.state import owner_id

    return owner_id()


def _tags(cluster_name: str, role: str, extra: dict[str, str] | None, owner: str) -> list[dict[str, str]]:
    tags = {**(extra or {}), "Name": f"pctl-{cluster_name}-{role}", CLUSTER_TAG: cluster_name, ROLE_TAG: role,
            OWNER_TAG: owner}
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _spec(resource_type: str, cluster_name: str, role: str, extra: dict[str, str] | None, owner: str) -> list[dict]:
    return [{"ResourceType": resource_type, "Tags": _tags(cluster_name, role, extra, owner)}]


def _by_tag(cluster_name: str, role: str | None = None, owner: str | None = None) -> list[dict[str, Any]]:
    filters = [{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster_name]}]
    if owner:
        filters.append({"Name": f"tag:{OWNER_TAG}", "Values": [owner]})
    if role:
        filters.append({"Name": f"tag:{ROLE_TAG}", "Values": [role]})
    return filters


def _owned(items: list[dict], owner: str, cluster: str) -> list[dict]:
    """Items tagged for `cluster` and `owner` (checked here: moto ignores tag filters on some describes)."""
    out = []
    for item in items:
        tags = {t["Key"]: t["Value"] for t in item.get("Tags") or []}
        if tags.get(OWNER_TAG) == owner and tags.get(CLUSTER_TAG) == cluster:
            out.append(item)
    return out


def _first(items: list[dict], key: str) -> str | None:
    return items[0][key] if items else None


class _Finder:
    """Looks up each tagged network piece of one cluster, made by one owner."""

    def __init__(self, ec2: Any, cluster_name: str, owner: str) -> None:
        self.ec2 = ec2
        self.name = cluster_name
        self.owner = owner

    def _mine(self, items: list[dict]) -> list[dict]:
        # Checked here too: moto ignores tag filters on some describe calls (NAT gateways).
        return _owned(items, self.owner, self.name)

    def _id(self, describe: str, items: str, role: str, key: str) -> str | None:
        found = getattr(self.ec2, describe)(Filters=_by_tag(self.name, role, self.owner))[items]
        return _first(self._mine(found), key)

    def vpc(self) -> str | None:
        return self._id("describe_vpcs", "Vpcs", "vpc", "VpcId")

    def igw(self) -> str | None:
        return self._id("describe_internet_gateways", "InternetGateways", "igw", "InternetGatewayId")

    def subnet(self, role: str) -> str | None:
        return self._id("describe_subnets", "Subnets", role, "SubnetId")

    def route_table(self, role: str) -> str | None:
        return self._id("describe_route_tables", "RouteTables", role, "RouteTableId")

    def nat(self) -> dict | None:
        gws = self.ec2.describe_nat_gateways(
            Filters=[*_by_tag(self.name, "nat", self.owner), {"Name": "state", "Values": ["pending", "available"]}]
        )["NatGateways"]
        gws = [g for g in self._mine(gws) if g.get("State") in ("pending", "available")]
        return gws[0] if gws else None

    def eip(self) -> str | None:
        return self._id("describe_addresses", "Addresses", "nat-eip", "AllocationId")

    def security_group(self) -> str | None:
        return self._id("describe_security_groups", "SecurityGroups", "ssh", "GroupId")


def _subnet_cidrs(vpc_cidr: str) -> tuple[str, str]:
    """Public and private subnet CIDRs: the first two /20s of the VPC (or its two halves if smaller)."""
    net = ipaddress.ip_network(vpc_cidr)
    new_prefix = max(net.prefixlen + 1, 20)
    it = net.subnets(new_prefix=new_prefix)
    return str(next(it)), str(next(it))


def _first_az(ec2: Any) -> str:
    zones = ec2.describe_availability_zones(
        Filters=[{"Name": "state", "Values": ["available"]}, {"Name": "zone-type", "Values": ["availability-zone"]}]
    )["AvailabilityZones"]
    if not zones:
        raise AwsError("The region reports no available availability zone.", "Pick another region.")
    return sorted(z["ZoneName"] for z in zones)[0]


# ---- create ---------------------------------------------------------------------------------------


def ensure_network(
    session: boto3.Session,
    cluster_name: str,
    *,
    vpc_cidr: str = "10.42.0.0/16",
    ssh_cidr: str,
    public_only: bool = False,
    tags: dict[str, str] | None = None,
    on_created: OnCreated | None = None,
    timeout_s: float = 600,
    poll_s: float = DEFAULT_POLL_S,
    owner: str | None = None,
) -> Network:
    """Create (or find, on a re-run) the cluster's network. ``on_created`` hears of each new resource at once.

    ``owner`` (default: this installation's ``pctl.state.owner_id()``) goes on every resource as
    ``pctl:owner``; ForeignResource when another owner's network already carries this cluster's name.
    """
    try:
        ipaddress.ip_network(ssh_cidr)
    except ValueError as exc:
        raise AwsError(f"ssh_cidr {ssh_cidr!r} is not a CIDR block.", "Write e.g. 203.0.113.0/24.") from exc
    region = session.region_name
    ec2 = client(session, "ec2")
    owner = _owner(owner)
    find = _Finder(ec2, cluster_name, owner)
    created: list[Resource] = []

    def record(kind: str, rid: str, **extra: Any) -> None:
        res = Resource(kind, rid, region, extra)
        created.append(res)
        if on_created:
            on_created(res)

    doing = f"creating the network of cluster {cluster_name}"
    try:
        refuse_foreign(session, cluster_name, owner)
        vpc_id = find.vpc()
        if not vpc_id:
            vpc_id = ec2.create_vpc(
                CidrBlock=vpc_cidr, TagSpecifications=_spec("vpc", cluster_name, "vpc", tags, owner)
            )["Vpc"]["VpcId"]
            record("vpc", vpc_id)
            wait_until(
                lambda: ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["State"] == "available",
                timeout_s=timeout_s, poll_s=poll_s, what=f"VPC {vpc_id}",
            )
        # ParallelCluster requires DNS support and hostnames on the VPC. Setting them again is harmless.
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsSupport={"Value": True})
        ec2.modify_vpc_attribute(VpcId=vpc_id, EnableDnsHostnames={"Value": True})

        igw_id = find.igw()
        if not igw_id:
            igw_id = ec2.create_internet_gateway(
                TagSpecifications=_spec("internet-gateway", cluster_name, "igw", tags, owner)
            )["InternetGateway"]["InternetGatewayId"]
            record("igw", igw_id, vpc_id=vpc_id)
        attached = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]
        if not any(a.get("VpcId") == vpc_id for a in attached.get("Attachments", [])):
            ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)

        public_cidr, private_cidr = _subnet_cidrs(vpc_cidr)
        az: str | None = None
        public_id = find.subnet("public")
        if not public_id:
            az = _first_az(ec2)
            public_id = ec2.create_subnet(
                VpcId=vpc_id, CidrBlock=public_cidr, AvailabilityZone=az,
                TagSpecifications=_spec("subnet", cluster_name, "public", tags, owner),
            )["Subnet"]["SubnetId"]
            record("subnet", public_id, vpc_id=vpc_id, role="public")
        ec2.modify_subnet_attribute(SubnetId=public_id, MapPublicIpOnLaunch={"Value": True})
        _ensure_route_table(ec2, find, cluster_name, "public-rt", vpc_id, public_id, {"GatewayId": igw_id}, tags, record)

        private_id: str | None = None
        if not public_only:
            nat = find.nat()
            if not nat:
                alloc_id = find.eip()
                if not alloc_id:
                    alloc_id = ec2.allocate_address(
                        Domain="vpc", TagSpecifications=_spec("elastic-ip", cluster_name, "nat-eip", tags, owner)
                    )["AllocationId"]
                    record("eip", alloc_id)
                nat = ec2.create_nat_gateway(
                    SubnetId=public_id, AllocationId=alloc_id,
                    TagSpecifications=_spec("natgateway", cluster_name, "nat", tags, owner),
                )["NatGateway"]
                record("nat_gateway", nat["NatGatewayId"], vpc_id=vpc_id, allocation_id=alloc_id)
            nat_id = nat["NatGatewayId"]
            wait_until(
                lambda: _nat_state(ec2, nat_id) == "available" or None,
                timeout_s=timeout_s, poll_s=poll_s, what=f"NAT gateway {nat_id}",
                hint="NAT gateways usually take 1-3 minutes; re-run to resume.",
            )
            private_id = find.subnet("private")
            if not private_id:
                az = az or _subnet_az(ec2, public_id)
                private_id = ec2.create_subnet(
                    VpcId=vpc_id, CidrBlock=private_cidr, AvailabilityZone=az,
                    TagSpecifications=_spec("subnet", cluster_name, "private", tags, owner),
                )["Subnet"]["SubnetId"]
                record("subnet", private_id, vpc_id=vpc_id, role="private")
            _ensure_route_table(
                ec2, find, cluster_name, "private-rt", vpc_id, private_id, {"NatGatewayId": nat_id}, tags, record
            )

        sg_id = find.security_group()
        if not sg_id:
            sg_id = ec2.create_security_group(
                GroupName=f"pctl-{cluster_name}-ssh",
                Description=f"pctl {cluster_name}: SSH to the head node from {ssh_cidr} only",
                VpcId=vpc_id,
                TagSpecifications=_spec("security-group", cluster_name, "ssh", tags, owner),
            )["GroupId"]
            record("security_group", sg_id, vpc_id=vpc_id)
        _ensure_ssh_rule(ec2, sg_id, ssh_cidr)
    except AwsError:
        raise
    except Exception as exc:
        raise to_pctl_error(exc, doing) from exc
    return Network(vpc_id, public_id, private_id, sg_id, created)


def _nat_state(ec2: Any, nat_id: str) -> str:
    state = ec2.describe_nat_gateways(NatGatewayIds=[nat_id])["NatGateways"][0]
    if state["State"] == "failed":
        raise AwsError(
            f"NAT gateway {nat_id} failed: {state.get('FailureMessage', 'no reason given')}.",
            "Delete the network (pctl delete) and re-run, or use networking.public_only.",
        )
    return state["State"]


def _subnet_az(ec2: Any, subnet_id: str) -> str:
    return ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["AvailabilityZone"]


def _ensure_route_table(
    ec2: Any, find: _Finder, cluster_name: str, role: str, vpc_id: str, subnet_id: str,
    target: dict[str, str], tags: dict[str, str] | None, record: Callable[..., None],
) -> str:
    rt_id = find.route_table(role)
    if not rt_id:
        rt_id = ec2.create_route_table(
            VpcId=vpc_id, TagSpecifications=_spec("route-table", cluster_name, role, tags, find.owner)
        )["RouteTable"]["RouteTableId"]
        record("route_table", rt_id, vpc_id=vpc_id)
    table = ec2.describe_route_tables(RouteTableIds=[rt_id])["RouteTables"][0]
    if not any(r.get("DestinationCidrBlock") == "0.0.0.0/0" for r in table.get("Routes", [])):
        ec2.create_route(RouteTableId=rt_id, DestinationCidrBlock="0.0.0.0/0", **target)
    if not any(a.get("SubnetId") == subnet_id for a in table.get("Associations", [])):
        ec2.associate_route_table(RouteTableId=rt_id, SubnetId=subnet_id)
    return rt_id


def _ensure_ssh_rule(ec2: Any, sg_id: str, ssh_cidr: str) -> None:
    group = ec2.describe_security_groups(GroupIds=[sg_id])["SecurityGroups"][0]
    for perm in group.get("IpPermissions", []):
        if perm.get("FromPort") == 22 and any(r.get("CidrIp") == ssh_cidr for r in perm.get("IpRanges", [])):
            return
    try:
        ec2.authorize_security_group_ingress(
            GroupId=sg_id,
            IpPermissions=[{
                "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                "IpRanges": [{"CidrIp": ssh_cidr, "Description": "SSH (pctl networking.ssh_allowed_cidr)"}],
            }],
        )
    except Exception as exc:
        if error_code(exc) != "InvalidPermission.Duplicate":
            raise


# ---- find -----------------------------------------------------------------------------------------


def find_network(session: boto3.Session, cluster_name: str, owner: str | None = None) -> Network | None:
    """The cluster's tagged network made by `owner` (default: this installation), or None when it has no VPC."""
    ec2 = client(session, "ec2")
    find = _Finder(ec2, cluster_name, _owner(owner))
    try:
        vpc_id = find.vpc()
        if not vpc_id:
            return None
        return Network(vpc_id, find.subnet("public") or "", find.subnet("private"), find.security_group() or "")
    except Exception as exc:
        raise to_pctl_error(exc, f"looking up the network of cluster {cluster_name}") from exc


def subnet_vpc_cidr(session: boto3.Session, subnet_id: str) -> str:
    """The primary CIDR of the VPC that holds `subnet_id` (the user's own subnet): SSH's default range."""
    ec2 = client(session, "ec2")
    try:
        vpc_id = ec2.describe_subnets(SubnetIds=[subnet_id])["Subnets"][0]["VpcId"]
        return ec2.describe_vpcs(VpcIds=[vpc_id])["Vpcs"][0]["CidrBlock"]
    except Exception as exc:
        raise to_pctl_error(exc, f"looking up the VPC of subnet {subnet_id}") from exc


def tagged_network_resources(session: boto3.Session, cluster_name: str, owner: str | None = None) -> list[Resource]:
    """Every network resource tagged for this cluster (any role) and this owner, for deletion."""
    ec2 = client(session, "ec2")
    region = session.region_name
    owner = _owner(owner)
    tag = _by_tag(cluster_name, owner=owner)
    out: list[Resource] = []
    for nat in _owned(ec2.describe_nat_gateways(Filters=tag)["NatGateways"], owner, cluster_name):
        if nat["State"] not in ("deleted", "deleting", "failed"):
            out.append(Resource("nat_gateway", nat["NatGatewayId"], region, {"vpc_id": nat.get("VpcId")}))
    out += [Resource("eip", a["AllocationId"], region) for a in _owned(ec2.describe_addresses(Filters=tag)["Addresses"], owner, cluster_name)]
    out += [
        Resource("igw", g["InternetGatewayId"], region)
        for g in _owned(ec2.describe_internet_gateways(Filters=tag)["InternetGateways"], owner, cluster_name)
    ]
    out += [Resource("subnet", s["SubnetId"], region) for s in _owned(ec2.describe_subnets(Filters=tag)["Subnets"], owner, cluster_name)]
    out += [
        Resource("route_table", r["RouteTableId"], region)
        for r in _owned(ec2.describe_route_tables(Filters=tag)["RouteTables"], owner, cluster_name)
    ]
    out += [
        Resource("security_group", g["GroupId"], region)
        for g in _owned(ec2.describe_security_groups(Filters=tag)["SecurityGroups"], owner, cluster_name)
    ]
    out += [Resource("vpc", v["VpcId"], region) for v in _owned(ec2.describe_vpcs(Filters=tag)["Vpcs"], owner, cluster_name)]
    return out


# ---- delete ---------------------------------------------------------------------------------------


def delete_network(session: boto3.Session, cluster_name: str, *, timeout_s: float = 900,
                   poll_s: float = DEFAULT_POLL_S, owner: str | None = None) -> list[Resource]:
    try:
        resources = tagged_network_resources(session, cluster_name, owner)
    except Exception as exc:
        raise to_pctl_error(exc, f"looking up the network of cluster {cluster_name}") from exc
    return delete_resources(session, resources, timeout_s=timeout_s, poll_s=poll_s, owner=owner)
