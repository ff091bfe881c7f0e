"""PCS node resources (security group, instance profile, launch templates) under moto's EC2 and IAM."""

from __future__ import annotations

import base64
import json

import boto3
import pytest
from moto import mock_aws

from pctl.pcs import nodes

CLUSTER = "pcs-demo"
SCRIPT = "#!/bin/bash\nset -euo pipefail\necho 'node setup'\n"


@pytest.fixture()
def aws(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        ec2 = boto3.client("ec2", region_name="us-east-1")
        iam = boto3.client("iam", region_name="us-east-1")
        vpc = ec2.create_vpc(CidrBlock="10.42.0.0/16")["Vpc"]["VpcId"]
        yield ec2, iam, vpc


def make_all(ec2, iam, vpc):
    sg = nodes.ensure_security_group(ec2, CLUSTER, vpc, "203.0.113.0/24", {})
    arn = nodes.ensure_instance_profile(iam, CLUSTER, [nodes.BucketAccess("lab-data", False),
                                                      nodes.BucketAccess("lab-scratch", True)], {})
    lt = nodes.ensure_launch_template(ec2, CLUSTER, "cpu", security_group=sg,
                                      user_data_b64=nodes.user_data(SCRIPT), tags={})
    return sg, arn, lt


def test_launch_template_requires_imdsv2_encrypts_and_runs_the_node_setup(aws):
    ec2, iam, vpc = aws
    _sg, _arn, lt = make_all(ec2, iam, vpc)
    data = ec2.describe_launch_template_versions(LaunchTemplateId=lt)["LaunchTemplateVersions"][0]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["BlockDeviceMappings"][0]["Ebs"]["Encrypted"] is True
    mime = base64.b64decode(data["UserData"]).decode()
    assert "Content-Type: multipart/mixed" in mime and "text/x-shellscript" in mime
    assert "echo 'node setup'" in mime and mime.rstrip().endswith(f"--{nodes.MIME_BOUNDARY}--")


def test_instance_profile_is_one_pcs_accepts_and_scoped_to_the_buckets(aws):
    ec2, iam, vpc = aws
    _sg, arn, _lt = make_all(ec2, iam, vpc)
    assert ":instance-profile/aws-pcs/" in arn
    role = iam.get_role(RoleName=nodes.names(CLUSTER)["role"])["Role"]
    assert role["Path"] == "/aws-pcs/"
    policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName="pctl-pcs-node")["PolicyDocument"]
    policy = policy if isinstance(policy, dict) else json.loads(policy)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["RegisterWithPcs"]["Action"] == ["pcs:RegisterComputeNodeGroupInstance"]
    assert by_sid["WriteObjects"]["Resource"] == ["arn:aws:s3:::lab-scratch/*"]  # read-only bucket not writable
    assert by_sid["ReadObjects"]["Resource"] == ["arn:aws:s3:::lab-data/*", "arn:aws:s3:::lab-scratch/*"]


def test_a_prefix_limits_reads_and_listing_to_that_prefix():
    policy = nodes.node_policy([nodes.BucketAccess("pctl-123-us-east-1", False, "pctl/pcs-demo/")])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["ReadObjects"]["Resource"] == ["arn:aws:s3:::pctl-123-us-east-1/pctl/pcs-demo/*"]
    assert by_sid["ListPrefix0"]["Condition"] == {"StringLike": {"s3:prefix": ["pctl/pcs-demo/*"]}}
    assert "WriteObjects" not in by_sid and "ListBuckets" not in by_sid


def test_bootstrap_script_mounts_parents_first_and_passes_shellcheck(tmp_path):
    import shutil
    import subprocess

    script = nodes.bootstrap_script(
        cluster=CLUSTER, group="cpu", region="us-east-1", script_url="s3://b/pctl/pcs-demo/scripts/compute-node.sh",
        mounts=[{"mount_point": "/shared/data", "file_system_id": "fs-0123456789abcdef0"},
                {"mount_point": "/shared", "file_system_id": "fs-0fedcba9876543210"}])
    assert script.index("fs-0fedcba9876543210 /shared\n") < script.index("fs-0123456789abcdef0 /shared/data")
    path = tmp_path / "bootstrap.sh"
    path.write_text(script)
    assert subprocess.run(["bash", "-n", str(path)]).returncode == 0
    checker = shutil.which("shellcheck")
    if checker is None:
        pytest.skip("shellcheck is not installed (scripts/setup --system installs it)")
    result = subprocess.run([checker, "-S", "warning", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_security_group_opens_ssh_only_to_the_named_range(aws):
    ec2, iam, vpc = aws
    sg, _arn, _lt = make_all(ec2, iam, vpc)
    perms = ec2.describe_security_groups(GroupIds=[sg])["SecurityGroups"][0]["IpPermissions"]
    cidrs = [r["CidrIp"] for p in perms for r in p.get("IpRanges", [])]
    assert cidrs == ["203.0.113.0/24"]


def test_creates_are_idempotent_and_delete_leaves_nothing(aws):
    ec2, iam, vpc = aws
    first = make_all(ec2, iam, vpc)
    assert make_all(ec2, iam, vpc) == first  # a resumed create reuses, never duplicates
    done = nodes.delete_node_resources(ec2, iam, CLUSTER)
    assert len(done) == 4
    assert ec2.describe_launch_templates()["LaunchTemplates"] == []
    assert iam.list_instance_profiles(PathPrefix="/aws-pcs/")["InstanceProfiles"] == []
    assert iam.list_roles(PathPrefix="/aws-pcs/")["Roles"] == []
    names = [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]]
    assert nodes.names(CLUSTER)["security_group"] not in names
    assert nodes.delete_node_resources(ec2, iam, CLUSTER) == []  # a second delete finds nothing to do


def test_user_data_refuses_a_script_holding_the_boundary():
    from pctl.errors import PctlError

    with pytest.raises(PctlError):
        nodes.user_data(f"echo {nodes.MIME_BOUNDARY}")


def test_pcs_image_step_verifies_and_installs_agent_and_slurm(tmp_path):
    import shutil
    import subprocess

    from pctl.pcs.image import fingerprint_payload, pcs_software_script

    script = pcs_software_script("us-east-1", "25.11")
    assert "gpg --batch --verify" in script and "aws-pcs-slurm-$SLURM_VERSION-installer" in script
    assert "SLURM_VERSION=25.11" in script
    assert fingerprint_payload("25.11") == {"pcs_agent": "v1", "pcs_slurm": "25.11"}
    path = tmp_path / "pcs.sh"
    path.write_text(script)
    checker = shutil.which("shellcheck")
    if checker is None:
        pytest.skip("shellcheck is not installed (scripts/setup --system installs it)")
    result = subprocess.run([checker, "-S", "warning", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_a_missing_sample_ami_is_named(aws):
    """(Found by name: tests/test_flow_pcs.py, whose moto carries AWS's sample images.)"""
    from pctl.errors import PctlError
    from pctl.pcs.image import find_sample_ami

    ec2, _iam, _vpc = aws
    with pytest.raises(PctlError, match="aws-pcs-sample_ami-\\*-x86_64-slurm-25.11"):
        find_sample_ami(ec2, "x86_64", "25.11")
