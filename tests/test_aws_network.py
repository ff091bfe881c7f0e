"""pctl.aws.network against moto: creates, finds on re-run, deletes in dependency order."""

from __future__ import annotations

import pytest

from pctl.aws.network import (
    CLUSTER_TAG,
    delete_network,
    delete_resources,
    ensure_network,
    find_network,
    tagged_network_resources,
)
from pctl.aws.resource import Resource

FAST = {"poll_s": 0.01, "timeout_s": 5}


def _count_calls(session, operation: str) -> list[int]:
    """Count API calls of one operation through botocore's event hooks (shared by every client)."""
    calls = [0]

    def hook(**_kwargs):
        calls[0] += 1

    session.events.register(f"before-call.ec2.{operation}", hook)
    return calls


def _tagged(ec2, describe: str, key: str, name: str = "demo") -> list[dict]:
    return getattr(ec2, describe)(Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": [name]}])[key]


def test_creates_tagged_network_with_private_subnet_behind_nat(aws):
    seen: list[Resource] = []
    net = ensure_network(aws, "demo", ssh_cidr="203.0.113.0/24", tags={"team": "hpc"}, on_created=seen.append, **FAST)
    ec2 = aws.client("ec2")

    assert {r.kind for r in seen} == {"vpc", "igw", "subnet", "route_table", "eip", "nat_gateway", "security_group"}
    assert seen == net.created
    assert net.head_subnet_id == net.public_subnet_id and net.compute_subnet_id == net.private_subnet_id
    vpc = ec2.describe_vpcs(VpcIds=[net.vpc_id])["Vpcs"][0]
    tags = {t["Key"]: t["Value"] for t in vpc["Tags"]}
    assert tags[CLUSTER_TAG] == "demo" and tags["team"] == "hpc"
    assert vpc["CidrBlock"] == "10.42.0.0/16"
    assert ec2.describe_vpc_attribute(VpcId=net.vpc_id, Attribute="enableDnsHostnames")["EnableDnsHostnames"]["Value"]

    subnets = {s["SubnetId"]: s for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [net.vpc_id]}])["Subnets"]}
    assert subnets[net.public_subnet_id]["MapPublicIpOnLaunch"] is True
    assert subnets[net.private_subnet_id]["MapPublicIpOnLaunch"] is False
    assert subnets[net.public_subnet_id]["AvailabilityZone"] == subnets[net.private_subnet_id]["AvailabilityZone"]

    def default_route(subnet_id):
        rt = ec2.describe_route_tables(Filters=[{"Name": "association.subnet-id", "Values": [subnet_id]}])["RouteTables"][0]
        return next(r for r in rt["Routes"] if r.get("DestinationCidrBlock") == "0.0.0.0/0")

    assert default_route(net.public_subnet_id)["GatewayId"].startswith("igw-")
    nat = _tagged(ec2, "describe_nat_gateways", "NatGateways")[0]
    assert default_route(net.private_subnet_id)["NatGatewayId"] == nat["NatGatewayId"]
    assert nat["SubnetId"] == net.public_subnet_id

    # Every kind carries the cluster tag.
    for describe, key in [("describe_subnets", "Subnets"), ("describe_internet_gateways", "InternetGateways"),
                          ("describe_route_tables", "RouteTables"), ("describe_security_groups", "SecurityGroups"),
                          ("describe_addresses", "Addresses")]:
        assert _tagged(ec2, describe, key), describe


def test_ssh_only_from_the_given_cidr(aws):
    net = ensure_network(aws, "demo", ssh_cidr="198.51.100.7/32", public_only=True, **FAST)
    sg = aws.client("ec2").describe_security_groups(GroupIds=[net.security_group_id])["SecurityGroups"][0]
    ingress = [(p.get("FromPort"), r["CidrIp"]) for p in sg["IpPermissions"] for r in p.get("IpRanges", [])]
    assert ingress == [(22, "198.51.100.7/32")]


def test_world_open_ssh_only_when_asked(aws):
    net = ensure_network(aws, "open", ssh_cidr="0.0.0.0/0", public_only=True, **FAST)
    sg = aws.client("ec2").describe_security_groups(GroupIds=[net.security_group_id])["SecurityGroups"][0]
    assert [r["CidrIp"] for p in sg["IpPermissions"] for r in p["IpRanges"]] == ["0.0.0.0/0"]


def test_rerun_creates_nothing_new(aws):
    first = ensure_network(aws, "demo", ssh_cidr="203.0.113.0/24", **FAST)
    create_vpc = _count_calls(aws, "CreateVpc")
    create_subnet = _count_calls(aws, "CreateSubnet")
    create_nat = _count_calls(aws, "CreateNatGateway")
    seen: list[Resource] = []
    second = ensure_network(aws, "demo", ssh_cidr="203.0.113.0/24", on_created=seen.append, **FAST)
    assert (create_vpc[0], create_subnet[0], create_nat[0]) == (0, 0, 0)
    assert seen == [] and second.created == []
    assert (second.vpc_id, second.public_subnet_id, second.private_subnet_id, second.security_group_id) == (
        first.vpc_id, first.public_subnet_id, first.private_subnet_id, first.security_group_id)
    ec2 = aws.client("ec2")
    assert len(_tagged(ec2, "describe_vpcs", "Vpcs")) == 1
    assert len(_tagged(ec2, "describe_subnets", "Subnets")) == 2
    sg = ec2.describe_security_groups(GroupIds=[first.security_group_id])["SecurityGroups"][0]
    assert len([r for p in sg["IpPermissions"] for r in p["IpRanges"]]) == 1


def test_rerun_after_partial_create_resumes(aws):
    """A run that died after the VPC: the re-run reuses that VPC and creates only the rest."""
    ec2 = aws.client("ec2")
    from pctl.state import owner_id

    vpc_id = ec2.create_vpc(CidrBlock="10.42.0.0/16", TagSpecifications=[{"ResourceType": "vpc", "Tags": [
        {"Key": CLUSTER_TAG, "Value": "demo"}, {"Key": "pctl:role", "Value": "vpc"},
        {"Key": "pctl:owner", "Value": owner_id()}]}])["Vpc"]["VpcId"]
    net = ensure_network(aws, "demo", ssh_cidr="203.0.113.0/24", **FAST)
    assert net.vpc_id == vpc_id
    assert "vpc" not in {r.kind for r in net.created}
    assert len(_tagged(ec2, "describe_vpcs", "Vpcs")) == 1


def test_public_only_has_no_nat_and_one_subnet(aws):
    net = ensure_network(aws, "cheap", ssh_cidr="203.0.113.0/24", public_only=True, **FAST)
    ec2 = aws.client("ec2")
    assert net.private_subnet_id is None
    assert net.compute_subnet_id == net.public_subnet_id
    assert _tagged(ec2, "describe_nat_gateways", "NatGateways", "cheap") == []
    assert _tagged(ec2, "describe_addresses", "Addresses", "cheap") == []
    assert len(_tagged(ec2, "describe_subnets", "Subnets", "cheap")) == 1


def test_find_network(aws):
    assert find_network(aws, "demo") is None
    net = ensure_network(aws, "demo", ssh_cidr="203.0.113.0/24", **FAST)
    found = find_network(aws, "demo")
    assert found is not None
    assert (found.vpc_id, found.public_subnet_id, found.private_subnet_id, found.security_group_id) == (
        net.vpc_id, net.public_subnet_id, net.private_subnet_id, net.security_group_id)


def _assert_nothing_tagged(ec2, name="demo"):
    assert _tagged(ec2, "describe_vpcs", "Vpcs", name) == []
    assert _tagged(ec2, "describe_subnets", "Subnets", name) == []
    assert _tagged(ec2, "describe_internet_gateways", "InternetGateways", name) == []
    assert _tagged(ec2, "describe_security_groups", "SecurityGroups", name) == []
    assert _tagged(ec2, "describe_route_tables", "RouteTables", name) == []
    assert _tagged(ec2, "describe_addresses", "Addresses", name) == []
    assert [n for n in _tagged(ec2, "describe_nat_gateways", "NatGateways", name) if n["State"] != "deleted"] == []


def test_delete_resources_removes_everything_in_any_input_order(aws):
    net = ensure_network(aws, "demo", ssh_cidr="203.0.113.0/24", **FAST)
    deleted = delete_resources(aws, list(reversed(net.created)), **FAST)
    assert sorted(deleted, key=str) == sorted(net.created, key=str)
    _assert_nothing_tagged(aws.client("ec2"))


def test_delete_already_deleted_is_fine(aws):
    net = ensure_network(aws, "demo", ssh_cidr="203.0.113.0/24", **FAST)
    delete_resources(aws, net.created, **FAST)
    assert delete_resources(aws, net.created, **FAST) == []
    assert delete_network(aws, "demo", **FAST) == []


def test_delete_network_by_tag(aws):
    ensure_network(aws, "demo", ssh_cidr="203.0.113.0/24", **FAST)
    ensure_network(aws, "other", ssh_cidr="203.0.113.0/24", public_only=True, **FAST)
    assert tagged_network_resources(aws, "demo")
    deleted = delete_network(aws, "demo", **FAST)
    assert {r.kind for r in deleted} >= {"vpc", "subnet", "nat_gateway", "eip", "igw", "security_group"}
    _assert_nothing_tagged(aws.client("ec2"))
    assert find_network(aws, "other") is not None  # another cluster's network is untouched


def test_bad_ssh_cidr_is_a_clear_error(aws):
    from pctl.errors import PctlError

    with pytest.raises(PctlError, match="not a CIDR"):
        ensure_network(aws, "demo", ssh_cidr="my-laptop", **FAST)


def test_resource_round_trips_through_dict():
    r = Resource("subnet", "subnet-1", "us-east-1", {"vpc_id": "vpc-1"})
    assert Resource.from_dict(r.to_dict()) == r
    with pytest.raises(ValueError):
        Resource("volcano", "x", "us-east-1")
