"""Two installations, crash leaks and lost state (issue 14), against moto_server (real HTTP, TLS, boto3).

Each scenario ends with nothing of the cluster left in AWS and nothing of the other installation touched.
An installation is a PCTL_HOME: its owner id (pctl.state.owner_id) goes on every resource as pctl:owner.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from pctl import state
from pctl.aws.ownership import OWNER_TAG, ForeignResource, claim_for_create, read_claim, release_after_delete
from tests.conftest import REPO

REGION = "us-east-1"
SSH = "203.0.113.0/24"


def session():
    from pctl.aws.session import make_session

    return make_session(REGION)


def use_home(monkeypatch: pytest.MonkeyPatch, home: Path) -> str:
    monkeypatch.setenv("PCTL_HOME", str(home))
    return state.owner_id()


def tagged(cluster: str) -> dict[str, list[str]]:
    """Every EC2 resource carrying pctl:cluster=<cluster> (any owner), by kind."""
    ec2 = session().client("ec2")
    f = [{"Name": "tag:pctl:cluster", "Values": [cluster]}]
    instances = [i["InstanceId"] for r in ec2.describe_instances(Filters=f)["Reservations"] for i in r["Instances"]
                 if i["State"]["Name"] not in ("terminated", "shutting-down")]
    return {k: v for k, v in {
        "instance": instances,
        "vpc": [v["VpcId"] for v in ec2.describe_vpcs(Filters=f)["Vpcs"]],
        "subnet": [s["SubnetId"] for s in ec2.describe_subnets(Filters=f)["Subnets"]],
        "security_group": [g["GroupId"] for g in ec2.describe_security_groups(Filters=f)["SecurityGroups"]],
        "igw": [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=f)["InternetGateways"]],
        "route_table": [r["RouteTableId"] for r in ec2.describe_route_tables(Filters=f)["RouteTables"]],
        "eip": [a["AllocationId"] for a in ec2.describe_addresses(Filters=f)["Addresses"]],
        "nat": [n["NatGatewayId"] for n in ec2.describe_nat_gateways(Filters=f)["NatGateways"]
                if n["State"] not in ("deleted", "deleting")],
    }.items() if v}


def owner_of_vpcs(cluster: str) -> set[str]:
    ec2 = session().client("ec2")
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "tag:pctl:cluster", "Values": [cluster]}])["Vpcs"]
    return {t["Value"] for v in vpcs for t in v.get("Tags", []) if t["Key"] == OWNER_TAG}


def build_network(name: str):
    from pctl.aws.network import ensure_network

    return ensure_network(session(), name, ssh_cidr=SSH, poll_s=0.02)


def quiet(_line: str) -> None:
    pass


# ---- two installations, one cluster name ------------------------------------------------------------

def test_two_installations_never_adopt_or_delete_each_other(aws_endpoint, tmp_path, monkeypatch):
    from pctl.aws.errors import DeleteError
    from pctl.aws.network import delete_network, delete_resources, find_network, tagged_network_resources
    from pctl.aws.tagged import delete_from_tags

    alice = use_home(monkeypatch, tmp_path / "alice")
    claim_for_create("lab", REGION)
    net = build_network("lab")
    a_resources = tagged_network_resources(session(), "lab")
    assert owner_of_vpcs("lab") == {alice}

    bob = use_home(monkeypatch, tmp_path / "bob")
    assert bob != alice
    # the AWS-side lock: bob's create stops before making anything, and says whose the name is
    with pytest.raises(ForeignResource, match=f"claimed by another pctl installation {alice}"):
        claim_for_create("lab", REGION)
    # even past the claim (an older pctl, a hand-made claim loss): the network is never adopted
    with pytest.raises(ForeignResource, match=f"{net.vpc_id} of pctl installation {alice}"):
        build_network("lab")
    assert find_network(session(), "lab") is None
    assert tagged_network_resources(session(), "lab") == []
    assert delete_network(session(), "lab", poll_s=0.02) == []
    with pytest.raises(DeleteError, match=f"belong to another pctl installation.*{alice}") as refused:
        delete_resources(session(), a_resources, poll_s=0.02)  # a state file naming alice's ids: refused
    assert refused.value.deleted == [] and set(refused.value.remaining) == set(a_resources)
    said: list[str] = []
    assert delete_from_tags("lab", REGION, confirm=None, say=said.append, poll_s=0.02) == []
    assert any(f"belongs to pctl installation {alice}" in line for line in said)
    assert release_after_delete("lab", REGION) is False
    assert read_claim(session(), "lab")["owner"] == alice
    assert owner_of_vpcs("lab") == {alice} and len(tagged("lab")["subnet"]) == 2  # untouched

    use_home(monkeypatch, tmp_path / "alice")
    gone = delete_from_tags("lab", REGION, confirm=None, say=quiet, poll_s=0.02)
    assert f"vpc {net.vpc_id}" in gone and "claim on the cluster name lab" in gone
    assert tagged("lab") == {} and read_claim(session(), "lab") is None

    use_home(monkeypatch, tmp_path / "bob")  # the name is free again
    assert claim_for_create("lab", REGION).resumed is False
    assert release_after_delete("lab", REGION) is True


def test_racing_claims_exactly_one_wins(aws_endpoint, tmp_path):
    """Six installations claim one name at once (six processes): exactly one proceeds."""
    code = ("import sys\nfrom pctl.aws.ownership import claim_for_create\n"
            "try:\n    claim_for_create('race', 'us-east-1'); print('won')\n"
            "except Exception as e:\n    print('lost', type(e).__name__)\n")
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=REPO, env={**os.environ, "PCTL_HOME": str(tmp_path / f"h{i}")}) for i in range(6)]
    outs = [p.communicate(timeout=120)[0].strip() for p in procs]
    assert outs.count("won") == 1, outs
    assert all(o == "won" or o == "lost ForeignResource" for o in outs), outs


# ---- leaks after a crash ----------------------------------------------------------------------------

_KILL_AFTER_CREATE_BUCKET = """
import os, signal
import botocore.client
from pctl import state
state.save(state.ClusterState(name="crashy", region="us-east-1"))
real = botocore.client.BaseClient._make_api_call
def call(self, op, params):
    out = real(self, op, params)
    if op == "CreateBucket":
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 right after CreateBucket answered
    return out
botocore.client.BaseClient._make_api_call = call
from tasks.bootstrap import ensure_bucket
ensure_bucket.fn("crashy", "us-east-1", "epoch")
"""


def test_kill_9_right_after_create_bucket_leaves_no_bucket(aws_endpoint, tmp_path, monkeypatch):
    from pctl.aws import bucket as b
    from tasks.bootstrap import teardown

    use_home(monkeypatch, tmp_path / "home")
    proc = subprocess.run([sys.executable, "-c", _KILL_AFTER_CREATE_BUCKET], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    name = b.default_bucket_name(session(), REGION)
    assert b.bucket_exists(session(), name)  # the crash left it behind...
    assert [r.kind for r in state.get("crashy").resources] == ["bucket"]  # ...but state heard of it first
    teardown.fn("crashy", REGION)  # what rollback and `pctl delete` run
    assert not b.bucket_exists(session(), name)


def test_a_builder_the_state_never_heard_of_is_deleted_by_the_leftover_sweep(aws_endpoint, tmp_path, monkeypatch):
    """kill -9 right after RunInstances: the instance carries its tags from the first moment (TagSpecifications),
    so the delete's leftover sweep finds it by tag. Another installation's builder is left alone."""
    from pctl.aws.tagged import tagged_leftovers
    from tasks.teardown import delete_leftovers

    ec2 = session().client("ec2")
    ami = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]

    def launch(owner: str) -> str:
        # The builder's RunInstances tags (pctl.aws.ami.bake_image) with the owner id.
        tags = [{"Key": "pctl:cluster", "Value": "baker"}, {"Key": "pctl:role", "Value": "bake-builder"},
                {"Key": OWNER_TAG, "Value": owner}]
        return ec2.run_instances(ImageId=ami, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                                 TagSpecifications=[{"ResourceType": "instance", "Tags": tags}])["Instances"][0]["InstanceId"]

    other = use_home(monkeypatch, tmp_path / "other")
    theirs = launch(other)
    mine_owner = use_home(monkeypatch, tmp_path / "mine")
    mine = launch(mine_owner)
    state.save(state.ClusterState(name="baker", region=REGION))  # nothing recorded: the kill came first
    assert [r.id for r in tagged_leftovers(session(), "baker")] == [mine]
    assert delete_leftovers.fn("baker", REGION) == [mine]
    status = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=[mine, theirs])["Reservations"]
              for i in r["Instances"]}
    assert status == {mine: "terminated", theirs: "running"}


# ---- lost state: `pctl delete NAME --from-tags` --------------------------------------------------------

def test_lost_state_delete_from_tags_lists_asks_and_removes_everything(aws_endpoint, tmp_path, monkeypatch, capsys):
    from pctl.aws import bucket as b
    from pctl.cli import main
    from tasks._common import record_created

    owner = use_home(monkeypatch, tmp_path / "home")
    claim_for_create("lost", REGION)
    state.save(state.ClusterState(name="lost", region=REGION))
    from pctl.aws.network import ensure_network

    ensure_network(session(), "lost", ssh_cidr=SSH, poll_s=0.02, on_created=record_created("lost"))
    name = b.default_bucket_name(session(), REGION)
    assert b.ensure_bucket(session(), name, REGION, tls_only=True) is True
    b.upload_texts(session(), name, "pctl/lost", {"scripts/head-node.sh": "#!/bin/bash\n"})
    b.upload_texts(session(), name, "pctl/other-cluster", {"scripts/x.sh": "#!/bin/bash\n"})
    from pctl.lifecycle import keypair

    private_key = keypair.create(session(), keypair.default_name("lost"), "lost")
    # the state file is corrupt and moved aside, as the hint says
    path = state.path_for("lost")
    path.rename(path.with_suffix(".json.broken"))

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("wrong\n"))
    with pytest.raises(SystemExit) as exit_:
        main(["delete", "lost", "--from-tags", "--region", REGION])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "nothing was deleted" in err
    assert f"this installation's owner id ({owner})" in err and "vpc vpc-" in err and "pctl/lost/" in err
    assert f"key pair {keypair.default_name('lost')}" in err
    assert tagged("lost")

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO("lost\n"))
    main(["delete", "lost", "--from-tags", "--region", REGION])
    out = capsys.readouterr().out
    assert "deleted from tags" in out
    assert tagged("lost") == {} and read_claim(session(), "lost") is None
    assert session().client("ec2").describe_key_pairs()["KeyPairs"] == [] and not private_key.exists()
    s3 = session().client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
    assert keys == ["pctl/other-cluster/scripts/x.sh"]  # another cluster's objects stay, so does the bucket


def test_delete_from_tags_removes_the_empty_bucket_this_installation_created(aws_endpoint, tmp_path, monkeypatch):
    from pctl.aws import bucket as b
    from pctl.aws.tagged import delete_from_tags

    use_home(monkeypatch, tmp_path / "home")
    name = b.default_bucket_name(session(), REGION)
    b.ensure_bucket(session(), name, REGION)
    b.upload_texts(session(), name, "pctl/solo", {"scripts/head-node.sh": "#!/bin/bash\n"})
    gone = delete_from_tags("solo", REGION, confirm=None, say=quiet, poll_s=0.02)
    assert any(g.startswith(f"bucket {name}") for g in gone)
    assert not b.bucket_exists(session(), name)


def test_another_installations_bucket_is_never_deleted(aws_endpoint, tmp_path, monkeypatch):
    from pctl.aws import bucket as b

    use_home(monkeypatch, tmp_path / "a")
    name = b.default_bucket_name(session(), REGION)
    b.ensure_bucket(session(), name, REGION)
    use_home(monkeypatch, tmp_path / "b")
    with pytest.raises(ForeignResource, match="belongs to another pctl installation"):
        b.delete_bucket(session(), name)
    assert b.bucket_exists(session(), name)


# ---- ExpectedBucketOwner --------------------------------------------------------------------------------

def test_every_bucket_call_names_the_expected_owner(aws_endpoint, tmp_path, monkeypatch):
    """Each S3 call pctl.aws.bucket makes on a bucket carries ExpectedBucketOwner (this account)."""
    from pctl.aws import bucket as b
    from pctl.aws.session import account_id

    use_home(monkeypatch, tmp_path / "home")
    s = session()
    calls: list[tuple[str, str | None]] = []
    s.events.register("provide-client-params.s3.*",
                      lambda params, model, **_: calls.append((model.name, params.get("ExpectedBucketOwner"))))
    name = b.default_bucket_name(s, REGION)
    b.ensure_bucket(s, name, REGION, tags={"x": "y"})
    b.upload_texts(s, name, "pctl/e", {"a": "b"})
    src = tmp_path / "f.txt"
    src.write_text("f")
    b.upload_files(s, name, "pctl/e", {"f": str(src)})
    b.delete_prefix(s, name, "pctl/e")
    assert b.is_empty(s, name)
    b.delete_bucket(s, name)
    unnamed = {op for op, owner in calls if owner != account_id(s)}
    # CreateBucket has no such parameter
    assert unnamed <= {"CreateBucket"}, unnamed
    assert {"HeadBucket", "PutObject", "DeleteObjects", "DeleteBucket", "PutBucketPolicy"} <= {op for op, _ in calls}


_KILL_AFTER_RUN_INSTANCES = """
import os, signal
import botocore.client
real = botocore.client.BaseClient._make_api_call
def call(self, op, params):
    out = real(self, op, params)
    if op == "RunInstances":
        os.kill(os.getpid(), signal.SIGKILL)  # kill -9 right after RunInstances answered
    return out
botocore.client.BaseClient._make_api_call = call
from pctl.aws.ami_bake import bake_image
from pctl.aws.session import make_session
from tests.test_aws_ami import BUCKET, VERSION, make_template
bake_image(make_session("us-east-1"), template=make_template(), pcluster_version=VERSION, script="echo\\n",
           bucket=BUCKET, timeout_s=5, poll_s=0.02, log=lambda m: None, client_token="attempt-1")
"""


def test_kill_9_right_after_the_builders_run_instances_the_rerun_reuses_it(aws_endpoint, tmp_path, monkeypatch):
    """The killed bake's builder keeps installing; the re-run finds it by its tags and waits for it instead of
    launching a second one (moto ignores ClientToken, so this is the tag lookup at work); it ends terminated."""
    from pctl.aws.ami_bake import bake_image
    from pctl.aws.bucket import ensure_bucket
    from tests.test_aws_ami import BUCKET, VERSION, make_template, play_instance

    use_home(monkeypatch, tmp_path / "home")
    ensure_bucket(session(), BUCKET, REGION)
    proc = subprocess.run([sys.executable, "-c", _KILL_AFTER_RUN_INSTANCES], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    ec2 = session().client("ec2")

    def builders() -> dict[str, str]:
        res = ec2.describe_instances(Filters=[{"Name": "tag:pctl:role", "Values": ["bake-builder"]}])["Reservations"]
        return {i["InstanceId"]: i["State"]["Name"] for r in res for i in r["Instances"]}

    [first] = builders()
    thread = play_instance(session(), "done")
    image = bake_image(session(), template=make_template(), pcluster_version=VERSION, script="echo\n", bucket=BUCKET,
                       timeout_s=10, poll_s=0.02, log=lambda m: None, client_token="attempt-2")
    thread.join(5)
    assert image.startswith("ami-")
    assert builders() == {first: "terminated"}  # one builder in all, and it is gone


def test_every_pctl_client_call_on_pctls_bucket_names_the_expected_owner(aws_endpoint, tmp_path, monkeypatch):
    """Code that calls S3 directly (the bake lock, the bake itself) goes through pctl's client: the header is
    added for `pctl-<account>-<region>` and for no other bucket (a user's dataset may be another account's)."""
    from pctl.aws import bucket as b
    from pctl.aws.ami_lock import try_acquire
    from pctl.aws.session import account_id, client

    use_home(monkeypatch, tmp_path / "home")
    s = session()
    name = b.default_bucket_name(s, REGION)
    b.ensure_bucket(s, name, REGION)
    s3 = client(s, "s3")
    seen: list[tuple[str, str | None]] = []
    s3.meta.events.register("before-call.s3.*", lambda model, params, **_: seen.append(
        (model.name, params["headers"].get("x-amz-expected-bucket-owner"))))
    lock = try_acquire(s3, name, "f" * 64, holder="test", hold_s=60)
    assert lock is not None
    lock.release()
    s3.put_object(Bucket=name, Key="x", Body=b"x")
    s3.delete_object(Bucket=name, Key="x")
    assert seen and all(owner == account_id(s) for _, owner in seen), seen
    seen.clear()
    s3.create_bucket(Bucket="someone-elses-data")
    s3.head_bucket(Bucket="someone-elses-data")
    assert [owner for _, owner in seen] == [None, None]
