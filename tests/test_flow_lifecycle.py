"""The lifecycle flows end to end, against one shared Prefect server and a moto server on 127.0.0.1.

THE ONE MOCK: ParallelCluster's own CloudFormation stack cannot run under moto (see
docs/lifecycle.md), so `pctl.pcluster_engine`'s create/describe/delete are replaced at the task boundary
by `FakePcluster` (tests/fixtures/lifecycle.py). Everything pctl itself creates (VPC, subnets, gateways, security group, bucket,
objects) is real boto3 against moto.
"""

from __future__ import annotations

import sys
import threading
import types
from collections import Counter

import boto3
import pytest
from botocore.exceptions import ClientError

from pctl import state
from pctl.errors import AwsError, StateError
from pctl.requests import CreateRequest, DeleteRequest, TemplateSource

pytestmark = [pytest.mark.prefect]

TEMPLATE = """
cluster: {name: flowtest, region: us-east-1, os: alinux2023, key_name: mykey}
compute:
  head_node: t3.medium
  queues:
    - {name: compute, instance_types: [c6i.large], max_count: 4}
software: {spack_packages: [zlib]}
users: [{name: alice, uid: 2001, gid: 2001}]
networking: {ssh_allowed_cidr: 203.0.113.0/24}
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    return tmp_path / "pctl"


@pytest.fixture
def env(prefect_server, aws_endpoint, home, fake_pcluster, fast_task_retries, aws_calls):
    boto3.client("ec2", region_name="us-east-1").create_key_pair(KeyName="mykey", KeyType="rsa")
    return types.SimpleNamespace(pcluster=fake_pcluster, calls=aws_calls, home=home, endpoint=aws_endpoint)


def _request(**kw) -> CreateRequest:
    return CreateRequest(template=TemplateSource(yaml=TEMPLATE), verify=False, timeout_minutes=1, **kw)


def _pctl_tagged() -> dict[str, list[str]]:
    """Everything in moto that carries pctl's tag (or is a bucket at all), by kind."""
    ec2 = boto3.client("ec2", region_name="us-east-1")
    tag = [{"Name": "tag-key", "Values": ["pctl:cluster"]}]
    out = {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tag)["Subnets"]],
        "igws": [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]],
        "nats": [n["NatGatewayId"] for n in ec2.describe_nat_gateways(Filters=tag)["NatGateways"]
                 if n["State"] not in ("deleted", "deleting")],
        "sgs": [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]],
        "instances": [i["InstanceId"] for r in ec2.describe_instances(Filters=tag)["Reservations"]
                      for i in r["Instances"] if i["State"]["Name"] != "terminated"],
        "images": [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]],
        "buckets": [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]],
        "policies": [p["Arn"] for p in boto3.client("iam").list_policies(Scope="Local")["Policies"]],
    }
    return {k: v for k, v in out.items() if v}


# ---- dry run --------------------------------------------------------------------------------------

def test_dry_run_is_offline_and_creates_nothing(prefect_server, home, monkeypatch):
    from flows.create import create_cluster

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = create_cluster(_request(dry_run=True))
    assert result["dry_run"] is True
    checks = {c.name: c.outcome for c in result["checks"]}
    assert checks["template (offline)"] == "passed"
    assert checks["ParallelCluster validators (tier 2)"] == "skipped"
    assert [s.key for s in result["steps"]] == ["network", "bootstrap", "cache", "ami", "cluster", "verify"]
    assert (home / "rendered" / "flowtest" / "cluster-config.yaml").exists()
    assert state.list_all() == []  # a plan leaves no state behind


def test_invalid_template_fails_at_once_with_the_line(prefect_server, home):
    from flows.create import create_cluster
    from tasks.validate import ValidationFailed

    bad = TEMPLATE.replace("max_count: 4", "max_count: 0")
    with pytest.raises(ValidationFailed, match="max_count"):
        create_cluster(CreateRequest(template=TemplateSource(yaml=bad), dry_run=True))


# ---- create and delete ----------------------------------------------------------------------------

def test_create_then_delete_leaves_nothing(env):
    from flows.create import create_cluster
    from flows.delete import delete_cluster

    result = create_cluster(_request())
    assert result["status"] == "active"
    st = state.get("flowtest")
    assert st.head_node_public_ip == "198.51.100.10"
    kinds = Counter(r.kind for r in st.resources)
    assert kinds["vpc"] == 1 and kinds["subnet"] == 2 and kinds["nat_gateway"] == 1 and kinds["bucket_objects"] == 1
    assert env.calls["CreateVpc"] == 1
    s3 = boto3.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=st.bucket)["Contents"]]
    assert "pctl/flowtest/scripts/head-node.sh" in keys
    assert env.pcluster.calls["create"] == 1
    # The binary cache (issue 15): the head node, the only node that installs, gets pctl's managed cache
    # policy; the compute nodes get no access to the cache at all.
    import yaml

    [policy] = st.resources_of("iam_policy")
    assert policy.id.endswith(":policy/parallelcluster/pctl/pctl-flowtest-spack-cache")
    config = yaml.safe_load((env.home / "rendered" / "flowtest" / "cluster-config.yaml").read_text())
    assert config["HeadNode"]["Iam"]["AdditionalIamPolicies"] == [{"Policy": policy.id}]
    for node in [config["HeadNode"], *config["Scheduling"]["SlurmQueues"]]:
        assert all(not a.get("KeyName", "").startswith("spack-cache") for a in node["Iam"]["S3Access"])
    assert boto3.client("iam").get_policy(PolicyArn=policy.id)["Policy"]["Path"] == "/parallelcluster/pctl/"

    out = delete_cluster(DeleteRequest(name="flowtest", timeout_minutes=1))
    assert out["status"] == "deleted"
    assert state.load("flowtest") is None
    # The per-account bucket goes too: this cluster created it and it is empty now.
    assert _pctl_tagged() == {}


def test_user_subnet_is_used_and_never_deleted(env):
    from flows.create import create_cluster
    from flows.delete import delete_cluster

    ec2 = boto3.client("ec2", region_name="us-east-1")
    vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    # moto picks a random zone without one; c6i.large is not offered in every us-east-1 zone (us-east-1e)
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.9.1.0/24", AvailabilityZone="us-east-1a")["Subnet"]["SubnetId"]
    create_cluster(_request(subnet_id=subnet))
    assert env.calls["CreateVpc"] == 1  # only ours, above
    assert state.get("flowtest").user_supplied == {"subnet_id": subnet, "key_name": "mykey"}
    delete_cluster(DeleteRequest(name="flowtest", timeout_minutes=1))
    assert ec2.describe_subnets(SubnetIds=[subnet])["Subnets"][0]["SubnetId"] == subnet
    assert ec2.describe_vpcs(VpcIds=[vpc])["Vpcs"]


# ---- faults, rollback, resume ---------------------------------------------------------------------

def _boom(*_a, **_k):
    raise AwsError("injected failure")


FAULTS = {
    # step name in the message -> (object, attribute) that raises
    "network": ("pctl.aws.network", "_ensure_ssh_rule"),
    "bootstrap bucket": ("pctl.aws.bucket", "ensure_bucket"),
    "binary cache access": ("pctl.cache.access", "ensure_cluster_policy"),
    "render": ("pctl.render", "render"),
    "bootstrap upload": ("pctl.aws.bucket", "upload_texts"),
    "cluster create": None,  # FakePcluster.fail_create
    "cluster wait": None,  # FakePcluster.fail_status
}


@pytest.mark.parametrize("step", list(FAULTS))
def test_a_failing_step_rolls_back_everything(env, monkeypatch, step):
    from flows.create import CreateFailed, create_cluster

    if step == "cluster create":
        env.pcluster.fail_create = True
        expected = "cluster create"
    elif step == "cluster wait":
        env.pcluster.fail_status = "CREATE_FAILED"
        expected = "cluster wait"
    else:
        module, attr = FAULTS[step]
        mod = sys.modules[module] if module in sys.modules else __import__(module, fromlist=["x"])
        fault = _boom
        if step == "render":  # the preflight renders first (to find placeholders): fail the create's render
            calls = {"n": 0}
            real = getattr(mod, attr)

            def fault(*a, **k):
                calls["n"] += 1
                return real(*a, **k) if calls["n"] == 1 else _boom()

        monkeypatch.setattr(mod, attr, fault)
        expected = step
    with pytest.raises(CreateFailed) as err:
        create_cluster(_request())
    message = str(err.value)
    assert f"failed at step '{expected}'" in message
    assert "injected" in message
    assert _pctl_tagged() == {}
    st = state.get("flowtest")
    assert st.status == state.Status.ROLLED_BACK
    assert st.resources == []
    assert "cleaned up: " in message and "network of flowtest" in message


def test_resume_after_a_failed_cluster_create_repeats_no_aws_work(env):
    from flows.create import CreateFailed, create_cluster

    env.pcluster.fail_create = True
    with pytest.raises(CreateFailed, match="rollback is off"):
        create_cluster(_request(rollback=False))
    assert env.calls["CreateVpc"] == 1
    assert state.get("flowtest").status == state.Status.CREATE_FAILED

    env.pcluster.fail_create = False
    env.calls.clear()
    result = create_cluster(_request(rollback=False))
    assert result["status"] == "active"
    assert env.calls["CreateVpc"] == 0
    assert env.calls["RunInstances"] == 0
    assert env.calls["CreateNatGateway"] == 0


def test_an_injected_throttling_error_is_survived(env, monkeypatch):
    import pctl.aws.network as network
    from flows.create import create_cluster

    real = network.ensure_network
    attempts = {"n": 0}

    def throttled_once(*a, **k):
        attempts["n"] += 1
        if attempts["n"] == 1:
            raise ClientError({"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "CreateVpc")
        return real(*a, **k)

    monkeypatch.setattr(network, "ensure_network", throttled_once)
    assert create_cluster(_request())["status"] == "active"
    assert attempts["n"] == 2
    assert env.calls["CreateVpc"] == 1


def test_a_permission_error_is_not_retried(env, monkeypatch):
    import pctl.aws.network as network
    from flows.create import CreateFailed, create_cluster

    attempts = {"n": 0}

    def denied(*a, **k):
        attempts["n"] += 1
        raise ClientError({"Error": {"Code": "UnauthorizedOperation", "Message": "no"}}, "CreateVpc")

    monkeypatch.setattr(network, "ensure_network", denied)
    with pytest.raises(CreateFailed, match="network"):
        create_cluster(_request())
    assert attempts["n"] == 1


def test_concurrent_creates_of_one_name_one_wins(env):
    from flows.create import create_cluster

    held, release = threading.Event(), threading.Event()

    def hold():
        with state.lock("flowtest", "create"):
            held.set()
            release.wait(30)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(5)
        with pytest.raises(StateError, match="locked by pid"):
            create_cluster(_request())
    finally:
        release.set()
        t.join(5)
    assert env.calls["CreateVpc"] == 0


# ---- preflight and the key pair pctl creates (issue 11) -------------------------------------------

def test_a_failed_preflight_leaves_no_state_and_no_resource(env):
    from flows.create import create_cluster
    from pctl.lifecycle.preflight import PreflightFailed

    lines: list[str] = []
    from pctl.lifecycle import progress

    bad = TEMPLATE.replace("key_name: mykey", "key_name: nosuch").replace(
        "networking: {ssh_allowed_cidr: 203.0.113.0/24}", "")
    with progress.listening(lines.append), pytest.raises(PreflightFailed) as err:
        create_cluster(CreateRequest(template=TemplateSource(yaml=bad), verify=False, timeout_minutes=1))
    message = str(err.value)
    assert "2 problems; nothing was created" in message
    assert "key pair: nosuch does not exist" in message and "SSH access" in message
    assert state.list_all() == []
    assert env.calls["CreateVpc"] == 0
    assert [k["KeyName"] for k in boto3.client("ec2", region_name="us-east-1").describe_key_pairs()["KeyPairs"]] == ["mykey"]
    assert _pctl_tagged() == {}
    # Each progress line reaches a listener once.
    assert len([x for x in lines if "preflight failed   key pair" in x]) == 1


def test_the_key_pair_pctl_made_goes_with_the_rollback(env, monkeypatch):
    import pctl.aws.network as network
    from flows.create import CreateFailed, create_cluster
    from pctl.lifecycle.keypair import private_key_path

    monkeypatch.setattr(network, "_ensure_ssh_rule", _boom)
    no_key = TEMPLATE.replace(", key_name: mykey", "")
    with pytest.raises(CreateFailed, match="failed at step 'network'") as err:
        create_cluster(CreateRequest(template=TemplateSource(yaml=no_key), verify=False, timeout_minutes=1))
    assert "key pair pctl-flowtest" in str(err.value)  # in the "cleaned up" list
    ec2 = boto3.client("ec2", region_name="us-east-1")
    assert [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]] == ["mykey"]  # the user's own stays
    assert not private_key_path("pctl-flowtest").exists()
    st = state.get("flowtest")
    assert st.status == state.Status.ROLLED_BACK and st.resources == []
    assert st.history[-1].detail.startswith("network: ")
