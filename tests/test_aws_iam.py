"""pctl.aws.iam (the image builder's role) and the builder's subnet choice, under in-process moto."""

from __future__ import annotations

import json

import pytest
from botocore.stub import Stubber

from pctl.aws import iam as builder_iam
from pctl.aws.ami import _launch, builder_subnet
from pctl.errors import PctlError
from pctl.model.constants import CLUSTER_TAG

FP = "ab" * 32
BUCKET = "pctl-123456789012-us-east-1"


def test_builder_profile_is_scoped_tagged_and_idempotent(aws):
    created = []
    name = builder_iam.ensure_builder_profile(aws, cluster="demo", fingerprint=FP, bucket=BUCKET,
                                              prefix=f"pctl-bakes/{FP}", on_created=created.append, poll_s=0.01)
    assert name == builder_iam.builder_name(FP) and len(name) <= 64
    assert [(r.kind, r.id) for r in created] == [("iam_role", name), ("instance_profile", name)]
    iam = aws.client("iam")
    role = iam.get_role(RoleName=name)["Role"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"Service": "ec2.amazonaws.com"}
    assert {"Key": CLUSTER_TAG, "Value": "demo"} in iam.list_role_tags(RoleName=name)["Tags"]
    [policy_name] = iam.list_role_policies(RoleName=name)["PolicyNames"]
    doc = iam.get_role_policy(RoleName=name, PolicyName=policy_name)["PolicyDocument"]
    doc = json.loads(doc) if isinstance(doc, str) else doc
    assert doc["Statement"] == [{"Sid": "BakeObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
                                 "Resource": f"arn:aws:s3:::{BUCKET}/pctl-bakes/{FP}/*"}]
    roles = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    assert [r["RoleName"] for r in roles] == [name]
    # A re-run (resume) finds both and does not fail on "already exists" or a second role.
    assert builder_iam.ensure_builder_profile(aws, cluster="demo", fingerprint=FP, bucket=BUCKET,
                                              prefix=f"pctl-bakes/{FP}", poll_s=0.01) == name
    assert len(iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]) == 1
    assert {r.kind for r in builder_iam.tagged_builder_roles(aws, "demo")} == {"iam_role", "instance_profile"}
    assert builder_iam.tagged_builder_roles(aws, "other") == []

    deleted = builder_iam.delete_builder_profile(aws, FP, poll_s=0.01)
    assert {r.kind for r in deleted} == {"iam_role", "instance_profile"}
    assert iam.list_roles()["Roles"] == [] and iam.list_instance_profiles()["InstanceProfiles"] == []
    assert builder_iam.delete_builder_profile(aws, FP, poll_s=0.01) == []  # already gone is fine


def test_policy_arn_follows_the_partition():
    doc = builder_iam.builder_policy("b", "/pctl-bakes/x/", "aws-cn")
    assert doc["Statement"][0]["Resource"] == "arn:aws-cn:s3:::b/pctl-bakes/x/*"


def test_launch_retries_an_instance_profile_iam_has_not_propagated(aws):
    """IAM propagation delay cannot happen under moto: botocore's Stubber plays EC2's refusal, then success."""
    ec2 = aws.client("ec2")
    run = {"ImageId": "ami-12345678", "MinCount": 1, "MaxCount": 1, "IamInstanceProfile": {"Name": "p"}}
    with Stubber(ec2) as stub:
        stub.add_client_error("run_instances", "InvalidParameterValue",
                              "Value (p) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name")
        stub.add_response("run_instances", {"Instances": [{"InstanceId": "i-0123456789abcdef0"}]}, run)
        assert _launch(ec2, run, poll_s=0.01, profile_wait_s=5) == "i-0123456789abcdef0"
    with Stubber(ec2) as stub:  # any other refusal fails at once, as a PctlError
        stub.add_client_error("run_instances", "UnauthorizedOperation", "not allowed")
        with pytest.raises(PctlError, match="launching the image builder"):
            _launch(ec2, run, poll_s=0.01, profile_wait_s=5)


def test_builder_subnet_given_default_or_a_clear_error(aws):
    ec2 = aws.client("ec2")
    assert builder_subnet(aws, "subnet-mine") == "subnet-mine"
    chosen = builder_subnet(aws)
    assert ec2.describe_subnets(SubnetIds=[chosen])["Subnets"][0]["DefaultForAz"]
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=s["SubnetId"])
    with pytest.raises(PctlError, match="no subnet for the image builder") as err:
        builder_subnet(aws)
    assert "--subnet-id" in err.value.hint
