"""The EC2 and IAM pieces a PCS cluster needs in the user's account, made and removed by pctl.

- a security group shared by the cluster and its nodes: all traffic among its members (Slurm's
  controller <-> slurmd, MPI between nodes), SSH only from the template's range (AWS PCS User Guide,
  "Security group requirements and considerations");
- two instance profiles whose roles sit under the path `/aws-pcs/` (PCS refuses other roles), one for
  the compute node groups and one for the login group, each with `pcs:RegisterComputeNodeGroupInstance`,
  read on the template's buckets and write only where a mount asks for it (the same scoping as
  ParallelCluster's S3Access). The login node installs the software, so only its role reaches the Spack
  binary cache (objects, listing, signing key);
- one launch template per node group: IMDSv2 required, an encrypted gp3 root volume, the security
  group, and MIME user data that runs pctl's node setup (users and groups, mounts, modules).

Every create is idempotent by name and tagged `pctl:cluster`; `delete_node_resources` removes what a
cluster's tags show, so a crash between create and state save leaks nothing.
"""

from __future__ import annotations

import base64
import json
import shlex
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from pctl.errors import PctlError
from pctl.model.constants import CLUSTER_TAG
from pctl.pcs import limits

MIME_BOUNDARY = "==PCTL-PCS-NODE-SETUP=="
ROOT_VOLUME_GB = 64
TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}],
}


@dataclass(frozen=True)
class BucketAccess:
    """A bucket the nodes read (and write when `write`); `prefix` limits both to bucket/prefix/."""

    bucket: str
    write: bool
    prefix: str | None = None

    def objects(self, arn_partition: str) -> str:
        key = f"{self.prefix.strip('/')}/*" if self.prefix else "*"
        return f"arn:{arn_partition}:s3:::{self.bucket}/{key}"


def names(cluster: str) -> dict[str, str]:
    """Deterministic names of the cluster's node resources (IAM role/profile names <= 64 chars)."""
    base = f"pctl-{cluster}"[:50]
    return {"security_group": f"{base}-pcs", "role": f"{base}-nodes", "profile": f"{base}-nodes",
            "login_role": f"{base}-login", "login_profile": f"{base}-login",
            "launch_template_prefix": f"{base}-"}


def node_policy(buckets: list[BucketAccess], arn_partition: str = "aws") -> dict[str, Any]:
    """Register with PCS; read the named buckets; write only those whose mount is read-write."""
    statements: list[dict[str, Any]] = [
        {"Sid": "RegisterWithPcs", "Effect": "Allow", "Action": ["pcs:RegisterComputeNodeGroupInstance"],
         "Resource": "*"},
    ]
    if buckets:
        statements.append({"Sid": "ReadObjects", "Effect": "Allow", "Action": ["s3:GetObject"],
                           "Resource": sorted({b.objects(arn_partition) for b in buckets})})
        whole = sorted({f"arn:{arn_partition}:s3:::{b.bucket}" for b in buckets if not b.prefix})
        if whole:
            statements.append({"Sid": "ListBuckets", "Effect": "Allow", "Action": ["s3:ListBucket"],
                               "Resource": whole})
        for i, b in enumerate(b for b in buckets if b.prefix):
            statements.append({"Sid": f"ListPrefix{i}", "Effect": "Allow", "Action": ["s3:ListBucket"],
                               "Resource": f"arn:{arn_partition}:s3:::{b.bucket}",
                               "Condition": {"StringLike": {"s3:prefix": [f"{b.prefix.strip('/')}/*"]}}})
    writable = [b for b in buckets if b.write]
    if writable:
        statements.append({"Sid": "WriteObjects", "Effect": "Allow",
                           "Action": ["s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                           "Resource": sorted({b.objects(arn_partition) for b in writable})})
    return {"Version": "2012-10-17", "Statement": statements}


def _env() -> Environment:
    env = Environment(loader=PackageLoader("pctl.pcs", "templates"), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False)
    env.filters["sh"] = lambda v: shlex.quote(str(v))
    # A comment holds no line break or control character (validated values never do; this is a guard).
    env.filters["sh_comment"] = lambda v: "".join(c if c.isprintable() else "?" for c in str(v))
    return env


def bootstrap_script(*, cluster: str, group: str, region: str, mounts: list[dict[str, str]],
                     script_url: str) -> str:
    """The first-boot script of a node group: mount `mounts` ([{mount_point, file_system_id}], parents
    first), then fetch `script_url` (s3://...) and run it as root."""
    return _env().get_template("node-bootstrap.sh.j2").render(
        cluster=cluster, group=group, region=region, script_url=script_url,
        mounts=sorted(mounts, key=lambda m: m["mount_point"].count("/")))


def user_data(script: str) -> str:
    """The node setup `script` as base64 MIME multi-part user data (what RunInstances takes)."""
    if MIME_BOUNDARY in script:
        raise PctlError("the node script contains pctl's MIME boundary", "this is a bug in pctl: report it")
    text = _env().get_template("user-data.mime.j2").render(boundary=MIME_BOUNDARY, script=script.rstrip("\n"))
    return base64.b64encode(text.encode()).decode()


def _tags(cluster: str, extra: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in {**extra, CLUSTER_TAG: cluster}.items()]


def _code(exc: BaseException) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def ensure_security_group(ec2: Any, cluster: str, vpc_id: str, ssh_cidr: str, tags: dict[str, str]) -> str:
    name = names(cluster)["security_group"]
    found = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": [name]},
                                                  {"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    if found:
        return found[0]["GroupId"]
    sg = ec2.create_security_group(
        GroupName=name, VpcId=vpc_id, Description=f"pctl PCS cluster {cluster}: cluster and nodes",
        TagSpecifications=[{"ResourceType": "security-group", "Tags": _tags(cluster, tags)}])["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": sg, "Description": "cluster members"}]},
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
         "IpRanges": [{"CidrIp": ssh_cidr, "Description": "SSH to the login nodes"}]},
    ])
    return sg


CACHE_POLICY_NAME = "pctl-spack-cache"


def ensure_instance_profile(iam: Any, cluster: str, buckets: list[BucketAccess], tags: dict[str, str],
                            arn_partition: str = "aws", *, login: bool = False,
                            cache_policy: dict[str, Any] | None = None) -> str:
    """The profile's ARN; role and profile under `/aws-pcs/`, created once and reused (policies re-written).

    Two per cluster: the compute node groups' (``login=False``) and the login group's (``login=True``). The
    login node is the one that installs the software, so only its role gets ``cache_policy`` (the binary
    cache's objects, listing and signing key: pctl.cache.access.cache_policy) as a second inline policy."""
    n = names(cluster)
    role_name, profile_name = (n["login_role"], n["login_profile"]) if login else (n["role"], n["profile"])
    iam_tags = _tags(cluster, tags)
    try:
        iam.create_role(RoleName=role_name, Path=limits.ROLE_PATH, Tags=iam_tags,
                        AssumeRolePolicyDocument=json.dumps(TRUST_POLICY))
    except Exception as exc:
        if _code(exc) != "EntityAlreadyExists":
            raise
    iam.put_role_policy(RoleName=role_name, PolicyName="pctl-pcs-node",
                        PolicyDocument=json.dumps(node_policy(buckets, arn_partition)))
    if cache_policy is not None:
        iam.put_role_policy(RoleName=role_name, PolicyName=CACHE_POLICY_NAME, PolicyDocument=json.dumps(cache_policy))
    else:
        try:
            iam.delete_role_policy(RoleName=role_name, PolicyName=CACHE_POLICY_NAME)
        except Exception as exc:
            if _code(exc) != "NoSuchEntity":
                raise
    try:
        profile = iam.create_instance_profile(InstanceProfileName=profile_name, Path=limits.ROLE_PATH,
                                              Tags=iam_tags)["InstanceProfile"]
    except Exception as exc:
        if _code(exc) != "EntityAlreadyExists":
            raise
        profile = iam.get_instance_profile(InstanceProfileName=profile_name)["InstanceProfile"]
    if not any(r["RoleName"] == role_name for r in profile.get("Roles", [])):
        iam.add_role_to_instance_profile(InstanceProfileName=profile_name, RoleName=role_name)
    return profile["Arn"]


def ensure_launch_template(ec2: Any, cluster: str, group: str, *, security_group: str, user_data_b64: str,
                           tags: dict[str, str], key_name: str | None = None, image_id: str | None = None) -> str:
    name = f"{names(cluster)['launch_template_prefix']}{group}"
    try:
        found = ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"]
    except Exception as exc:
        if _code(exc) not in ("InvalidLaunchTemplateName.NotFoundException", "InvalidLaunchTemplateName.NotFound"):
            raise
        found = []
    if found:
        return found[0]["LaunchTemplateId"]
    data: dict[str, Any] = {
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 2},
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {
            "VolumeSize": ROOT_VOLUME_GB, "VolumeType": "gp3", "Encrypted": True, "DeleteOnTermination": True}}],
        "SecurityGroupIds": [security_group],
        "UserData": user_data_b64,
        "TagSpecifications": [{"ResourceType": "instance", "Tags": _tags(cluster, {**tags, "pctl:node-group": group})}],
    }
    if key_name:
        data["KeyName"] = key_name
    if image_id:
        data["ImageId"] = image_id
    made = ec2.create_launch_template(
        LaunchTemplateName=name, LaunchTemplateData=data,
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": _tags(cluster, tags)}])
    return made["LaunchTemplate"]["LaunchTemplateId"]


def delete_node_resources(ec2: Any, iam: Any, cluster: str) -> list[str]:
    """Remove the cluster's launch templates, instance profile, role and security group (found by
    tag and by name, not only from state). Returns what was deleted; absent pieces are skipped."""
    n = names(cluster)
    done: list[str] = []
    templates = ec2.describe_launch_templates(
        Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]}])["LaunchTemplates"]
    for lt in templates:
        ec2.delete_launch_template(LaunchTemplateId=lt["LaunchTemplateId"])
        done.append(f"launch template {lt['LaunchTemplateName']}")
    for profile_name, role_name in ((n["profile"], n["role"]), (n["login_profile"], n["login_role"])):
        try:
            profile = iam.get_instance_profile(InstanceProfileName=profile_name)["InstanceProfile"]
            for role in profile.get("Roles", []):
                iam.remove_role_from_instance_profile(InstanceProfileName=profile_name, RoleName=role["RoleName"])
            iam.delete_instance_profile(InstanceProfileName=profile_name)
            done.append(f"instance profile {profile_name}")
        except Exception as exc:
            if _code(exc) != "NoSuchEntity":
                raise
        try:
            for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
                iam.delete_role_policy(RoleName=role_name, PolicyName=policy)
            iam.delete_role(RoleName=role_name)
            done.append(f"role {role_name}")
        except Exception as exc:
            if _code(exc) != "NoSuchEntity":
                raise
    for sg in ec2.describe_security_groups(
            Filters=[{"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
                     {"Name": "group-name", "Values": [n["security_group"]]}])["SecurityGroups"]:
        ec2.delete_security_group(GroupId=sg["GroupId"])
        done.append(f"security group {sg['GroupId']}")
    return done
