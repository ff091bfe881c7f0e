"""`install: ami` through the flows: create bakes (or reuses) the image, cleans up after faults, rebuilds.

Against the session Prefect server and the moto server (tests/fixtures/moto_server.py). Two stand-ins:
- ParallelCluster's CloudFormation stack cannot run under moto: `fake_pcluster` (tests/fixtures/lifecycle.py).
- No real builder instance boots under moto, so nothing runs the bake script: the `builder` fixture's thread
  plays the instance's part. When a builder instance is running it records what the instance was given
  (subnet, IMDS, root volume, instance profile and its policy) and then writes the completion marker object
  into moto's S3, exactly where the real user-data script would (as tests/test_aws_ami.py does).
The pcluster version is changed only through `pctl.pcluster_engine.installed_version` (the installed
package's version), for the rebuild test.
"""

from __future__ import annotations

import threading
import time
import types

import boto3
import pytest

from pctl import state
from pctl.model.constants import CLUSTER_TAG
from pctl.requests import AmiRebuildRequest, CreateRequest, DeleteRequest, TemplateSource
from tests.fixtures.aws import official_ami_entries, pcluster_version
from tests.fixtures.moto_server import reset_moto

pytestmark = [pytest.mark.prefect]

REGION = "us-east-1"
NEXT_VERSION = "3.99.0"  # a pcluster release the rebuild test pretends to upgrade to
TEMPLATE = """
cluster: {name: amitest, region: us-east-1, os: alinux2023, key_name: mykey}
compute:
  head_node: t3.medium
  queues:
    - {name: compute, instance_types: [c6i.large], max_count: 4}
software: {spack_packages: [zlib], install: ami}
users: [{name: alice, uid: 2001, gid: 2001}]
networking: {ssh_allowed_cidr: 203.0.113.0/24}
"""


class Builder:
    """Plays every bake-builder instance: records what it got, then writes `outcome` (None: stays silent)."""

    def __init__(self) -> None:
        self.outcome: str | None = "done"
        self.seen: list[dict] = []
        self.errors: list[str] = []
        self._stop = threading.Event()
        session = boto3.Session(region_name=REGION)
        self.ec2, self.s3, self.iam = session.client("ec2"), session.client("s3"), session.client("iam")
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        handled: set[str] = set()
        while not self._stop.is_set():
            reservations = self.ec2.describe_instances(Filters=[
                {"Name": "tag:pctl:role", "Values": ["bake-builder"]},
                {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
            for inst in (i for r in reservations for i in r["Instances"]):
                # moto lists an instance before RunInstances has attached its profile and volumes: wait.
                if inst["InstanceId"] in handled or not inst.get("IamInstanceProfile") \
                        or not inst.get("BlockDeviceMappings"):
                    continue
                handled.add(inst["InstanceId"])
                try:
                    self._play(inst)
                except Exception as exc:  # the bake then times out; the test shows this error
                    self.errors.append(repr(exc))
            time.sleep(0.02)

    def _play(self, inst: dict) -> None:
        tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
        fp = tags["pctl:fingerprint"]
        profile = inst.get("IamInstanceProfile", {}).get("Arn", "").rsplit("/", 1)[-1]
        volumes = self.ec2.describe_volumes(
            Filters=[{"Name": "attachment.instance-id", "Values": [inst["InstanceId"]]}])["Volumes"]
        roles = self.iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
        role = roles[0]["RoleName"]
        policies = {n: self.iam.get_role_policy(RoleName=role, PolicyName=n)["PolicyDocument"]
                    for n in self.iam.list_role_policies(RoleName=role)["PolicyNames"]}
        trust = self.iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
        bucket = next(b["Name"] for b in self.s3.list_buckets()["Buckets"]
                      if self.s3.list_objects_v2(Bucket=b["Name"], Prefix=f"pctl-bakes/{fp}/bake.sh")["KeyCount"])
        self.seen.append({"instance": inst["InstanceId"], "fingerprint": fp, "subnet": inst.get("SubnetId"),
                          "imds": inst["MetadataOptions"]["HttpTokens"], "encrypted": [v["Encrypted"] for v in volumes],
                          "profile": profile, "role": role, "policies": policies, "trust": trust, "bucket": bucket,
                          "role_tags": self.iam.list_role_tags(RoleName=role)["Tags"]})
        if self.outcome:
            prefix = f"pctl-bakes/{fp}"
            self.s3.put_object(Bucket=bucket, Key=f"{prefix}/log", Body=b"==> zlib: installed\nfull log\n")
            self.s3.put_object(Bucket=bucket, Key=f"{prefix}/{self.outcome}", Body=b"last lines of the log\n")

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(5)


def _as_version(entries: list[dict], version: str, tag: str) -> list[dict]:
    current = pcluster_version()
    return [{**e, "ami_id": e["ami_id"].replace("0fc", tag, 1), "name": e["name"].replace(current, version)}
            for e in entries]


@pytest.fixture
def official_amis(moto_server, monkeypatch):
    """moto's EC2 gets ParallelCluster's official AMIs (installed version and NEXT_VERSION) on its next reset."""
    import moto.ec2.models.amis as moto_amis

    entries = official_ami_entries()
    monkeypatch.setattr(moto_amis, "AMIS", [*moto_amis.AMIS, *entries, *_as_version(entries, NEXT_VERSION, "0fd")])
    reset_moto(moto_server)


@pytest.fixture
def env(prefect_server, official_amis, aws_endpoint, tmp_path, monkeypatch, fake_pcluster, fast_task_retries,
        aws_calls):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    boto3.client("ec2", region_name=REGION).create_key_pair(KeyName="mykey", KeyType="rsa")
    builder = Builder()
    builder.thread.start()
    yield types.SimpleNamespace(pcluster=fake_pcluster, calls=aws_calls, builder=builder)
    builder.stop()
    assert builder.errors == []


def _request(text: str = TEMPLATE, **kw) -> CreateRequest:
    return CreateRequest(template=TemplateSource(yaml=text), verify=False, timeout_minutes=1, **kw)


def _pctl_tagged() -> dict[str, list[str]]:
    """Everything in moto that pctl could have left: tagged EC2 resources, images, IAM, buckets."""
    ec2, iam = boto3.client("ec2", region_name=REGION), boto3.client("iam")
    tag = [{"Name": "tag-key", "Values": [CLUSTER_TAG]}]
    out = {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]],
        "instances": [i["InstanceId"] for r in ec2.describe_instances(Filters=tag)["Reservations"]
                      for i in r["Instances"] if i["State"]["Name"] != "terminated"],
        "images": [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]],
        "roles": [r["RoleName"] for r in iam.list_roles()["Roles"]],
        "instance_profiles": [p["InstanceProfileName"] for p in iam.list_instance_profiles()["InstanceProfiles"]],
        "buckets": [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]],
    }
    return {k: v for k, v in out.items() if v}


def _tags(image_id: str) -> dict[str, str]:
    image = boto3.client("ec2", region_name=REGION).describe_images(ImageIds=[image_id])["Images"][0]
    return {t["Key"]: t["Value"] for t in image.get("Tags", [])}


# ---- (a) a create that bakes --------------------------------------------------------------------

def test_create_bakes_tags_the_image_and_removes_the_builder(env):
    from flows.create import create_cluster

    result = create_cluster(_request())
    assert result["status"] == "active"
    st = state.get("amitest")
    image = st.ami_id
    assert image and result["ami_id"] == image
    assert image in env.pcluster.configs["amitest"]  # the rendered config points at the baked image
    tags = _tags(image)
    [seen] = env.builder.seen
    assert tags["pctl:fingerprint"] == seen["fingerprint"]
    assert tags["parallelcluster:version"] == pcluster_version() == st.ami_pcluster_version
    # The builder: in the cluster's public subnet, IMDSv2, encrypted root, terminated afterwards.
    ec2 = boto3.client("ec2", region_name=REGION)
    public = [r.id for r in st.resources_of("subnet")
              if ec2.describe_subnets(SubnetIds=[r.id])["Subnets"][0]["MapPublicIpOnLaunch"]]
    assert seen["subnet"] in public
    assert seen["imds"] == "required" and seen["encrypted"] == [True]
    state_of = ec2.describe_instances(InstanceIds=[seen["instance"]])["Reservations"][0]["Instances"][0]["State"]
    assert state_of["Name"] == "terminated"
    # Its role: trusted by EC2 only, tagged with the cluster, S3 read/write on exactly this bake's prefix.
    assert seen["trust"]["Statement"] == [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                           "Action": "sts:AssumeRole"}]
    assert {"Key": CLUSTER_TAG, "Value": "amitest"} in seen["role_tags"]
    assert set(seen["policies"]) == {"pctl-bake-s3", "pctl-spack-cache"}
    [statement] = seen["policies"]["pctl-bake-s3"]["Statement"]
    assert statement["Action"] == ["s3:GetObject", "s3:PutObject"]
    assert statement["Resource"] == f"arn:aws:s3:::{seen['bucket']}/pctl-bakes/{seen['fingerprint']}/*"
    # issue 15: the account's Spack cache prefix and its signing key, nothing else
    cache = {st_["Sid"]: st_ for st_ in seen["policies"]["pctl-spack-cache"]["Statement"]}
    assert cache["CacheObjects"]["Resource"] == f"arn:aws:s3:::{seen['bucket']}/spack-cache/*"
    assert cache["SpackCacheSigningKey"]["Resource"].split(":secret:")[1].startswith("pctl/spack-cache/signing-key")
    # Role, profile and the bake's S3 objects are gone; state keeps only the image of the bake.
    iam = boto3.client("iam")
    assert iam.list_roles()["Roles"] == [] and iam.list_instance_profiles()["InstanceProfiles"] == []
    assert boto3.client("s3").list_objects_v2(Bucket=seen["bucket"], Prefix="pctl-bakes/")["KeyCount"] == 0
    assert {r.kind for r in st.resources} & {"instance", "iam_role", "instance_profile"} == set()
    assert [r.id for r in st.resources_of("image")] == [image]


# ---- (b) faults at the bake ---------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["failed", "timeout"])
def test_a_failed_or_timed_out_bake_leaves_nothing(env, monkeypatch, fault):
    import pctl.aws.ami as ami
    from flows.create import CreateFailed, create_cluster

    if fault == "failed":
        env.builder.outcome = "failed"
    else:
        env.builder.outcome = None  # the builder never reports; the bake's bound runs out
        real = ami.bake_image
        monkeypatch.setattr(ami, "bake_image", lambda session, **kw: real(session, **{**kw, "timeout_s": 0.3}))
    with pytest.raises(CreateFailed) as err:
        create_cluster(_request())
    message = str(err.value)
    assert "failed at step 'AMI bake'" in message
    if fault == "failed":
        assert "last lines of the log" in message
        saved = next((state.home() / "logs").glob("bake-*.log"))  # the full log, kept locally
        assert "full log" in saved.read_text() and str(saved) in err.value.hint
    else:
        assert "Timed out" in message
    assert len(env.builder.seen) == 1  # one builder ran: the failure was not retried as transient
    assert _pctl_tagged() == {}
    st = state.get("amitest")
    assert st.status == state.Status.ROLLED_BACK and st.resources == []


# ---- (c) resume: the same fingerprint reuses the image ------------------------------------------

def test_a_second_run_reuses_the_baked_image(env):
    from flows.create import CreateFailed, create_cluster
    from flows.delete import delete_cluster

    env.pcluster.fail_create = True
    with pytest.raises(CreateFailed, match="cluster create"):
        create_cluster(_request(rollback=False))
    image = state.get("amitest").ami_id
    assert env.calls["RunInstances"] == 1 and env.calls["CreateRole"] == 1

    env.pcluster.fail_create = False
    env.calls.clear()
    assert create_cluster(_request(rollback=False))["status"] == "active"  # resume
    assert env.calls["RunInstances"] == 0 and env.calls["CreateRole"] == 0
    assert state.get("amitest").ami_id == image

    # Another cluster with the same software, after the first is gone: the kept image again.
    assert delete_cluster(DeleteRequest(name="amitest", timeout_minutes=1))["kept"] == [image]
    env.calls.clear()
    result = create_cluster(_request(name="amitwo"))
    assert result["ami_id"] == image and result["warnings"] == []
    assert env.calls["RunInstances"] == 0
    assert len(env.builder.seen) == 1


def test_reusing_an_image_of_another_pcluster_version_warns(env, monkeypatch):
    """The image's parallelcluster:version tag disagrees with the installed pcluster (issue 5)."""
    from click.testing import CliRunner

    from flows.create import create_cluster
    from pctl.aws.ami import (
        FINGERPRINT_TAG,
        PCLUSTER_BUILD_STATUS_TAG,
        PCLUSTER_VERSION_TAG,
        current_fingerprint,
    )
    from pctl.cli import cli as pctl_cli
    from pctl.model.loader import load_template

    ec2 = boto3.client("ec2", region_name=REGION)
    path = state.home() / "t.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(TEMPLATE)
    fp, _base = current_fingerprint(boto3.Session(region_name=REGION), load_template(path), pcluster_version())
    base = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["aws-parallelcluster-*"]}])
    inst = ec2.run_instances(ImageId=base["Images"][0]["ImageId"], MinCount=1, MaxCount=1)["Instances"][0]
    image = ec2.create_image(InstanceId=inst["InstanceId"], Name="elsewhere", TagSpecifications=[{
        "ResourceType": "image", "Tags": [{"Key": FINGERPRINT_TAG, "Value": fp},
                                          {"Key": PCLUSTER_VERSION_TAG, "Value": "3.15.0"},
                                          {"Key": PCLUSTER_BUILD_STATUS_TAG, "Value": "available"}]}])["ImageId"]
    ec2.terminate_instances(InstanceIds=[inst["InstanceId"]])

    result = create_cluster(_request())
    assert result["ami_id"] == image
    [warning] = result["warnings"]
    assert f"AMI {image} was made with pcluster 3.15.0" in warning and pcluster_version() in warning
    assert state.get("amitest").ami_pcluster_version == "3.15.0"
    out = CliRunner().invoke(pctl_cli, ["status", "amitest", "--no-refresh"])
    assert out.exit_code == 0 and f"WARNING: AMI {image} was made with pcluster 3.15.0" in out.output


# ---- (d) the scheduled rebuild ------------------------------------------------------------------

def test_rebuild_bakes_only_when_the_fingerprint_changes(env, monkeypatch):
    import pctl.pcluster_engine as engine
    from flows.ami import rebuild_amis
    from pctl.lifecycle import progress

    lines: list[str] = []
    request = AmiRebuildRequest(templates=[TemplateSource(yaml=TEMPLATE)])
    with progress.listening(lines.append):
        [first] = rebuild_amis(request)
    assert first["outcome"] == "re-baked" and env.calls["RunInstances"] == 1
    # Standalone: the builder ran in a default-VPC subnet.
    ec2 = boto3.client("ec2", region_name=REGION)
    assert ec2.describe_subnets(SubnetIds=[env.builder.seen[0]["subnet"]])["Subnets"][0]["DefaultForAz"]

    env.calls.clear()
    with progress.listening(lines.append):
        [same] = rebuild_amis(request)
    assert same["outcome"] == "unchanged (cached)" and same["image_id"] == first["image_id"]
    assert env.calls["RunInstances"] == 0
    assert any("unchanged (cached)" in line and first["image_id"] in line for line in lines)

    monkeypatch.setattr(engine, "installed_version", lambda: NEXT_VERSION)
    [upgraded] = rebuild_amis(request)
    assert upgraded["outcome"] == "re-baked" and upgraded["image_id"] != first["image_id"]
    assert _tags(upgraded["image_id"])["parallelcluster:version"] == NEXT_VERSION

    newer_spack = TEMPLATE.replace("install: ami}", "install: ami, spack_version: 0.22.2}")
    [respack] = rebuild_amis(AmiRebuildRequest(templates=[TemplateSource(yaml=newer_spack)]))
    assert respack["outcome"] == "re-baked" and respack["fingerprint"] not in (first["fingerprint"],
                                                                             upgraded["fingerprint"])
    assert len(env.builder.seen) == 3
    iam = boto3.client("iam")
    assert iam.list_roles()["Roles"] == [] and iam.list_instance_profiles()["InstanceProfiles"] == []


# ---- host keys after a create (moto's console output has no fingerprint block) -------------------

def test_create_records_the_head_node_and_verify_then_asks_for_a_host_key(env):
    from flows.create import create_cluster
    from pctl.verify import VerifyFailed, resolve_target

    ec2 = boto3.client("ec2", region_name=REGION)
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    env.pcluster.head_instance_id = ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    create_cluster(_request(text=TEMPLATE.replace("install: ami", "install: shared")))
    st = state.get("amitest")
    assert st.head_node_instance_id == env.pcluster.head_instance_id
    assert st.host_key_fingerprints == []
    assert (st.ssh_user, st.key_name) == ("ec2-user", "mykey") and "alice" in st.template_text
    with pytest.raises(VerifyFailed, match="no SSH host key fingerprint") as err:
        resolve_target("amitest")
    assert st.head_node_instance_id in err.value.hint
    target = resolve_target("amitest", expected_fingerprint="SHA256:" + "A" * 43)
    assert (target.host, target.user) == ("198.51.100.10", "ec2-user")


# ---- sharing and regions carry over; a create copies from a region that has the image --------------

OTHER_ACCOUNT = "210987654321"


def test_rebuild_shares_and_copies_the_new_image_like_the_one_it_replaces(env, monkeypatch):
    import pctl.pcluster_engine as engine
    from flows.ami import rebuild_amis
    from pctl.aws import ami_share
    from pctl.aws.ami_copy import copy_image

    request = AmiRebuildRequest(templates=[TemplateSource(yaml=TEMPLATE)])
    [first] = rebuild_amis(request)
    session = boto3.Session(region_name=REGION)
    old = first["image_id"]
    ami_share.share(session, old, ami_share.audience([OTHER_ACCOUNT]))
    old_copy = copy_image(session, old, "eu-west-1", poll_s=0.01, timeout_s=30, log=lambda _m: None).image_id
    eu = boto3.Session(region_name="eu-west-1")
    ami_share.share(eu, old_copy, ami_share.audience(org_arns=["arn:aws:organizations::123456789012:organization/"
                                                                "o-abcd123456"]))

    monkeypatch.setattr(engine, "installed_version", lambda: NEXT_VERSION)
    [upgraded] = rebuild_amis(request)
    new = upgraded["image_id"]
    assert upgraded["outcome"] == "re-baked" and new != old
    carried = upgraded["carried_over"]
    assert carried["replaces"] == old and carried["problems"] == []
    assert ami_share.permissions(session, new)["launch"] == [{"UserId": OTHER_ACCOUNT}]
    assert all(p == [{"UserId": OTHER_ACCOUNT}] for p in ami_share.permissions(session, new)["snapshots"].values())
    new_copy = carried["copies"]["eu-west-1"]
    assert _tags_in("eu-west-1", new_copy)["pctl:fingerprint"] == upgraded["fingerprint"]
    assert ami_share.permissions(eu, new_copy)["launch"] == ami_share.permissions(eu, old_copy)["launch"]
    assert ami_share.permissions(session, old)["launch"] == [{"UserId": OTHER_ACCOUNT}]  # the old one is kept

    [again] = rebuild_amis(request)  # nothing changed: no bake, nothing carried over
    assert again["outcome"] == "unchanged (cached)" and "carried_over" not in again


def _tags_in(region: str, image_id: str) -> dict[str, str]:
    image = boto3.client("ec2", region_name=region).describe_images(ImageIds=[image_id])["Images"][0]
    return {t["Key"]: t["Value"] for t in image.get("Tags", [])}


def test_create_in_another_region_copies_the_image_instead_of_baking(env, monkeypatch):
    from flows.ami import rebuild_amis
    from flows.create import create_cluster

    [baked] = rebuild_amis(AmiRebuildRequest(templates=[TemplateSource(yaml=TEMPLATE)]))
    assert len(env.builder.seen) == 1
    monkeypatch.setenv("PCTL_AMI_REGIONS", REGION)  # where to look (cluster states add their regions)
    boto3.client("ec2", region_name="eu-west-1").create_key_pair(KeyName="mykey", KeyType="rsa")
    env.calls.clear()
    result = create_cluster(_request(text=TEMPLATE.replace("region: us-east-1", "region: eu-west-1")))
    assert result["status"] == "active"
    copy = result["ami_id"]
    tags = _tags_in("eu-west-1", copy)
    assert tags["pctl:copied-from"] == f"{REGION}/{baked['image_id']}"
    assert tags["pctl:fingerprint"] == baked["fingerprint"] and tags["parallelcluster:build_status"] == "available"
    assert env.calls["RunInstances"] == 0 and env.calls["CopyImage"] == 1 and len(env.builder.seen) == 1
    assert copy in env.pcluster.configs["amitest"]
