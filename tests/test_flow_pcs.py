"""platform: pcs through the create and delete flows, against the session's Prefect server and moto.

Everything pctl creates in EC2, IAM, EFS and S3 is real boto3 against the moto server. THE BOUNDARY:
moto has no `pcs`; `pcs_service` (tests/fixtures/pcs.py) answers the `pcs` client in memory while the
real client checks every request, and the fake checks every answer, against AWS's service model.
"""

from __future__ import annotations

import boto3
import pytest

from pctl import state
from pctl.errors import PctlError
from pctl.requests import CreateRequest, DeleteRequest, TemplateSource

pytestmark = [pytest.mark.prefect]

TEMPLATE = """
cluster: {name: pcsflow, region: us-east-1, platform: pcs, key_name: mykey}
compute:
  head_node: t3.medium
  queues:
    - {name: cpu, instance_types: [c6i.large, c6i.xlarge], max_count: 4}
    - {name: spot, instance_types: [c6a.large], max_count: 6, capacity_type: spot}
software: {spack_packages: [zlib]}
users: [{name: alice, uid: 2001, gid: 2001}]
networking: {ssh_allowed_cidr: 203.0.113.0/24}
"""


def add_pcs_sample_amis(monkeypatch: pytest.MonkeyPatch) -> None:
    import moto.ec2.models.amis as moto_amis

    from tests.fixtures.pcs import pcs_sample_ami_entries

    monkeypatch.setattr(moto_amis, "AMIS", [*moto_amis.AMIS, *pcs_sample_ami_entries()])


@pytest.fixture
def pcs_amis(monkeypatch):
    """Like a real region: AWS's PCS sample AMIs are there, owned by Amazon. Requested before
    aws_endpoint, whose reset empties moto: the EC2 backend built next loads moto's AMI list, this one."""
    add_pcs_sample_amis(monkeypatch)


@pytest.fixture
def world(prefect_server, pcs_amis, aws_endpoint, tmp_path, monkeypatch, fast_task_retries, pcs_service):
    import tasks.pcs

    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    for attr in ("node_resources", "apply", "delete"):
        monkeypatch.setattr(tasks.pcs, attr, getattr(tasks.pcs, attr).with_options(retry_delay_seconds=0))
    boto3.client("ec2", region_name="us-east-1").create_key_pair(KeyName="mykey", KeyType="rsa")
    return pcs_service


def request(**kw) -> CreateRequest:
    return CreateRequest(template=TemplateSource(yaml=TEMPLATE), verify=False, timeout_minutes=1, **kw)


def left_in_aws() -> dict[str, list[str]]:
    ec2 = boto3.client("ec2", region_name="us-east-1")
    tag = [{"Name": "tag-key", "Values": ["pctl:cluster"]}]
    out = {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]],
        "sgs": [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]],
        "launch_templates": [t["LaunchTemplateName"] for t in ec2.describe_launch_templates()["LaunchTemplates"]],
        "efs": [f["FileSystemId"] for f in boto3.client("efs").describe_file_systems()["FileSystems"]],
        "profiles": [p["InstanceProfileName"] for p in boto3.client("iam").list_instance_profiles()["InstanceProfiles"]],
        "roles": [r["RoleName"] for r in boto3.client("iam").list_roles(PathPrefix="/aws-pcs/")["Roles"]],
        "instances": [i["InstanceId"] for r in ec2.describe_instances(Filters=tag)["Reservations"]
                      for i in r["Instances"] if i["State"]["Name"] != "terminated"],
        "objects": [o["Key"] for b in boto3.client("s3").list_buckets()["Buckets"]
                    for o in boto3.client("s3").list_objects_v2(Bucket=b["Name"]).get("Contents", [])],
    }
    return {k: v for k, v in out.items() if v}


def test_create_then_delete_leaves_nothing(world):
    from flows.create import create_cluster
    from flows.delete import delete_cluster

    out = create_cluster(request())
    assert out["status"] == "active" or out["status"] == state.Status.ACTIVE
    assert out["platform"] == "pcs"
    # one group per vCPU count of cpu (2 and 4 vCPUs), one for spot, one login group; two queues
    assert len(world.groups) == 4 and len(world.queues) == 2
    assert all(g["status"] == "ACTIVE" for g in world.groups.values())
    spot = next(g for g in world.groups.values() if g["name"] == "spot")
    assert spot["purchaseOption"] == "SPOT" and spot["spotOptions"] == {"allocationStrategy": "price-capacity-optimized"}
    ec2 = boto3.client("ec2", region_name="us-east-1")
    lt_ids = {g["customLaunchTemplate"]["id"] for g in world.groups.values()}
    for lt in lt_ids:
        data = ec2.describe_launch_template_versions(LaunchTemplateId=lt)["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        assert data["MetadataOptions"]["HttpTokens"] == "required"
        assert data["ImageId"].startswith("ami-0bc")  # the PCS sample AMI, found by name
    assert left_in_aws()["efs"]  # /shared is an EFS on PCS
    st = state.get("pcsflow")
    assert st.platform == "pcs"
    # PCS ran the login group's instance from pctl's launch template: verify finds it in state
    login = next(g for g in world.groups.values() if g["name"] == "login")
    assert st.head_node_instance_id == world.instances[login["id"]][0] and st.head_node_private_ip
    # The binary cache (issue 15): the login node installs, so only the login group's profile reaches it
    iam = boto3.client("iam")
    roles = {}
    for g in world.groups.values():
        profile = g["iamInstanceProfileArn"].rsplit("/", 1)[1]
        [role] = iam.get_instance_profile(InstanceProfileName=profile)["InstanceProfile"]["Roles"]
        roles[g["name"]] = sorted(iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"])
    assert roles.pop("login") == ["pctl-pcs-node", "pctl-spack-cache"]
    assert set(map(tuple, roles.values())) == {("pctl-pcs-node",)}

    delete_cluster(DeleteRequest(name="pcsflow", yes=True, timeout_minutes=1))
    assert world.left() == 0
    assert left_in_aws() == {}
    assert state.load("pcsflow") is None


def test_the_sample_amis_are_there_whatever_the_previous_test_touched(moto_server, monkeypatch):
    """A previous test used EC2 and then autoscaling (moto's autoscaling backend holds EC2's): its reset
    must not leave an EC2 backend built before pcs_amis ran (tests/fixtures/moto_reset.py). Was: after
    tests/test_hostile_aws.py in one process, the create found no sample AMI."""
    from pctl.pcs.image import find_sample_ami
    from tests.fixtures.moto_server import reset_moto
    from tests.fixtures.pcs import pcs_sample_ami_entries

    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    reset_moto(moto_server)
    boto3.client("ec2", region_name="us-east-1").describe_vpcs()  # EC2 first...
    boto3.client("autoscaling", region_name="us-east-1").describe_auto_scaling_groups()  # ...then autoscaling
    reset_moto(moto_server)  # the previous test's world ends (or the next one's begins)
    add_pcs_sample_amis(monkeypatch)
    reset_moto(moto_server)  # aws_endpoint's reset, after pcs_amis
    found = find_sample_ami(boto3.client("ec2", region_name="us-east-1"), "x86_64", "25.11")
    assert found["image_id"] == pcs_sample_ami_entries()[0]["ami_id"]


def test_failure_at_the_node_group_step_rolls_back_to_nothing(world):
    from flows.create import create_cluster

    world.fail_next("create_compute_node_group")
    with pytest.raises(PctlError, match="PCS cluster"):
        create_cluster(request())
    assert world.left() == 0
    assert left_in_aws() == {}
    assert state.get("pcsflow").status == state.Status.ROLLED_BACK


def _no_sample_ami(monkeypatch):
    import pctl.pcs.image
    from pctl.errors import AwsError

    def missing(*_a, **_k):
        raise AwsError("no AWS PCS sample AMI for Slurm 25.11 in us-east-1")

    monkeypatch.setattr(pctl.pcs.image, "find_sample_ami", missing)


def test_a_failure_before_pcs_was_asked_rolls_back_without_pcs(world, monkeypatch):
    """H13's case: the image step fails before CreateCluster, in an account where PCS refuses every call
    (no pcs:* permission). pctl never requested a cluster (written ahead in state), so the rollback asks PCS
    nothing and removes the node resources it made: EFS, roles, profiles, security group."""
    from flows.create import create_cluster

    _no_sample_ami(monkeypatch)
    world.deny_all = True
    with pytest.raises(PctlError, match="PCS node resources") as err:
        create_cluster(request())
    assert "COULD NOT" not in str(err.value)
    assert sum(world.calls.values()) == 0
    assert left_in_aws() == {}
    assert state.get("pcsflow").status == state.Status.ROLLED_BACK


def test_from_tags_finds_what_a_lost_pcs_state_left(world, monkeypatch):
    """The state file is gone after a failed create with rollback off: --from-tags finds the EFS, the two
    /aws-pcs/ roles and profiles and the security group by their tags and this installation's owner id."""
    from flows.create import create_cluster
    from pctl.aws.tagged import delete_from_tags

    _no_sample_ami(monkeypatch)
    with pytest.raises(PctlError):
        create_cluster(request(rollback=False))
    assert {"efs", "roles", "profiles", "sgs"} <= set(left_in_aws())
    state.remove("pcsflow")
    said: list[str] = []
    gone = delete_from_tags("pcsflow", "us-east-1", confirm=None, say=said.append, timeout_s=30, poll_s=0.05)
    kinds = {line.split()[0] for line in gone}
    assert {"efs", "iam_role", "instance_profile", "security_group"} <= kinds, gone
    assert left_in_aws() == {}, said


def test_resume_after_a_failure_with_rollback_off_creates_only_what_is_missing(world):
    from flows.create import create_cluster
    from flows.delete import delete_cluster

    world.fail_next("create_compute_node_group")
    with pytest.raises(PctlError):
        create_cluster(request(rollback=False))
    assert state.get("pcsflow").status == state.Status.CREATE_FAILED
    assert len(world.clusters) == 1 and not world.groups
    create_cluster(request(rollback=False))
    assert world.calls["create_cluster"] == 1  # resumed: the cluster was found, not made again
    assert len(world.groups) == 4 and len(world.queues) == 2
    delete_cluster(DeleteRequest(name="pcsflow", yes=True, timeout_minutes=1))
    assert world.left() == 0 and left_in_aws() == {}


def test_status_live_shows_pcs_states(world, monkeypatch):
    from click.testing import CliRunner

    import pctl.aws.session
    from flows.create import create_cluster
    from pctl.cli import cli

    create_cluster(request())
    real_client = pctl.aws.session.client
    monkeypatch.setattr(pctl.aws.session, "client",
                        lambda session, service, region=None: world.client if service == "pcs"
                        else real_client(session, service, region))
    out = CliRunner().invoke(cli, ["status", "pcsflow", "--live"])
    assert out.exit_code == 0, out.output
    assert "PCS cluster" in out.output and "ACTIVE" in out.output and "queue spot" in out.output
    out = CliRunner().invoke(cli, ["status", "pcsflow", "--live", "--json"])
    import json

    doc = json.loads(out.output)
    assert doc["pcs"]["cluster"]["status"] == "ACTIVE"
    assert {g["name"] for g in doc["pcs"]["node_groups"]} == {"cpu-1", "cpu-2", "spot", "login"}


def test_install_ami_bakes_the_pcs_agent_and_slurm_onto_amazon_linux(world, monkeypatch):
    """The builder instance is played by tests/test_flow_ami.py's Builder (no instance boots under moto)."""
    from flows.create import create_cluster
    from flows.delete import delete_cluster
    from tests.test_flow_ami import Builder

    scripts: list[str] = []

    class ReadingBuilder(Builder):  # also keeps the bake script it was given (pctl removes it after the bake)
        def _play(self, inst: dict) -> None:
            fp = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}["pctl:fingerprint"]
            for b in self.s3.list_buckets()["Buckets"]:
                if self.s3.list_objects_v2(Bucket=b["Name"], Prefix=f"pctl-bakes/{fp}/bake.sh")["KeyCount"]:
                    scripts.append(self.s3.get_object(Bucket=b["Name"], Key=f"pctl-bakes/{fp}/bake.sh")["Body"].read().decode())
            super()._play(inst)

    builder = ReadingBuilder()
    builder.thread.start()
    try:
        out = create_cluster(CreateRequest(template=TemplateSource(yaml=TEMPLATE.replace(
            "software: {spack_packages: [zlib]}", "software: {spack_packages: [zlib], install: ami}")),
            verify=False, timeout_minutes=1))
    finally:
        builder.stop()
    assert builder.errors == [] and len(builder.seen) == 1
    st = state.get("pcsflow")
    ec2 = boto3.client("ec2", region_name="us-east-1")
    image = ec2.describe_images(ImageIds=[st.ami_id])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in image.get("Tags", [])}
    base = ec2.describe_images(ImageIds=[tags["pctl:base-image"]])["Images"][0]
    assert base["Name"].startswith("al2023-ami-2023")  # PCS images start from Amazon Linux, not pcluster's
    (script,) = scripts
    assert "aws-pcs-agent" in script and "SLURM_VERSION=25.11" in script and "spack" in script
    for g in world.groups.values():  # every node group launches the baked image
        lt = g["customLaunchTemplate"]["id"]
        data = ec2.describe_launch_template_versions(LaunchTemplateId=lt)["LaunchTemplateVersions"][0]["LaunchTemplateData"]
        assert data["ImageId"] == st.ami_id
    assert out["status"] == state.Status.ACTIVE
    delete_cluster(DeleteRequest(name="pcsflow", yes=True, timeout_minutes=1))
    assert world.left() == 0


def test_preflight_stops_a_pcs_create_before_anything_exists(world):
    from flows.create import create_cluster

    no_cidr = TEMPLATE.replace("networking: {ssh_allowed_cidr: 203.0.113.0/24}\n", "")
    with pytest.raises(PctlError) as err:
        create_cluster(CreateRequest(template=TemplateSource(yaml=no_cidr), verify=False, timeout_minutes=1))
    assert "SSH" in str(err.value) or "ssh" in str(err.value)
    assert state.load("pcsflow") is None
    assert world.calls["create_cluster"] == 0 and left_in_aws() == {}


def test_dry_run_checks_the_pcs_requests_not_parallelclusters(world):
    from flows.create import create_cluster

    plan = create_cluster(request(dry_run=True))
    names = {c.name: c.outcome for c in plan["checks"]}
    assert names["PCS requests (service model)"] == "passed"
    assert not any(n.startswith("ParallelCluster") or n == "Node.js" for n in names)
    assert [s.key for s in plan["steps"]][-2:] == ["ami", "cluster"] and world.calls["create_cluster"] == 0
