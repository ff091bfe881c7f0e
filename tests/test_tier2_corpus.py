"""Tier 2 over a corpus: whatever pctl accepts, ParallelCluster's create-time validators accept.

Every library template, every template file under tests/, the design documents' example formats (issue 10)
and a hypothesis-generated corpus of valid templates are rendered by pctl and run through pcluster's
`Cluster.validate_create_request` (pctl.pcluster_engine.validator_failures) under moto's mock_aws.
Zero ERROR-level failures. A template pctl itself refuses must be refused with located messages (every
error has a line), never passed on to pcluster.

The moto world is what a real account holds for such a cluster (see /work/shared/notes/parallelcluster.md):
official ParallelCluster AMIs for the installed pcluster version (the public OSes only, as in a real
region), an RSA and an ed25519 key pair (ubuntu images refuse RSA keys), a VPC with one subnet in every
availability zone, the S3 buckets a template names, and existing file systems created on demand. It is made
once per module: pcluster's caches are cleared once (AWSApi.reset, Cache.clear_all) and then kept, since the
world does not change between configs; that cuts ~1 s of client set-up per config. Only the two
launch-template validators are suppressed (pcluster_engine.SUPPRESSED_VALIDATORS: moto's dry-run
RunInstances rejects pcluster's block-device entries).

Existing resources a template names (an EBS volume, an EFS file system with a mount target and an NFS security
group) are made in the world first, in the zone the cluster will use.

CI budget: the corpus size and time are in /work/brief/notes/H4.md (CORPUS_SIZE examples, derandomized).
"""

from __future__ import annotations

import itertools
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from pctl import instance_types as it
from pctl.compute_resources import groups
from tests.conftest import REPO

# PCTL_TIER2_CORPUS=N runs a smaller corpus while developing; CI runs the full one (>= 300).
CORPUS_SIZE = int(os.environ.get("PCTL_TIER2_CORPUS", "320"))
REGIONS = ("us-east-1", "us-east-2")
SCRIPTS_BUCKET = "pctl-tier2-scripts"
# The public OS images pcluster publishes (pcluster.constants: rocky8/rocky9 are PRIVATE_OSES: no official AMI).
PUBLIC_OS_IMAGES = {"alinux2023": "amzn2023-hvm", "ubuntu2204": "ubuntu-2204-lts-hvm", "ubuntu2404": "ubuntu-2404-lts-hvm",
                    "rhel8": "rhel8-hvm", "rhel9": "rhel9-hvm"}
ED25519_ONLY_OSES = frozenset({"ubuntu2204", "ubuntu2404"})  # pcluster KeyPairValidator

# ---- the world --------------------------------------------------------------------------------------


@dataclass
class World:
    session: object
    subnets: dict[str, dict[str, str]]  # region -> zone -> public subnet id (head node; compute with public_only)
    private: dict[str, dict[str, str]]  # region -> zone -> private subnet id (compute nodes)
    buckets: set[str] = field(default_factory=set)

    def bucket(self, name: str, region: str) -> None:
        if name in self.buckets:
            return
        s3 = self.session.client("s3", region_name=region)
        if region == "us-east-1":
            s3.create_bucket(Bucket=name)
        else:
            s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
        self.buckets.add(name)



@pytest.fixture(scope="module")
def world():
    import boto3
    import moto.ec2.models.amis as moto_amis
    from moto import mock_aws

    from pctl import pcluster_engine
    from tests.fixtures.aws import official_ami_entries

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(moto_amis, "AMIS", [*moto_amis.AMIS, *official_ami_entries(tuple(PUBLIC_OS_IMAGES.values()))])
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            session = boto3.Session(region_name="us-east-1")
            subnets: dict[str, dict[str, str]] = {}
            private: dict[str, dict[str, str]] = {}
            for region in REGIONS:
                ec2 = session.client("ec2", region_name=region)
                vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
                ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsSupport={"Value": True})
                ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
                igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
                ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
                rt = ec2.create_route_table(VpcId=vpc)["RouteTable"]["RouteTableId"]
                ec2.create_route(RouteTableId=rt, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw)
                zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
                subnets[region], private[region] = {}, {}
                for n, zone in enumerate(zones):
                    sid = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=zone)["Subnet"]["SubnetId"]
                    ec2.modify_subnet_attribute(SubnetId=sid, MapPublicIpOnLaunch={"Value": True})
                    ec2.associate_route_table(RouteTableId=rt, SubnetId=sid)
                    subnets[region][zone] = sid
                    private[region][zone] = ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{100 + n}.0/24",
                                                              AvailabilityZone=zone)["Subnet"]["SubnetId"]
                ec2.create_key_pair(KeyName="tier2-rsa", KeyType="rsa")
                ec2.create_key_pair(KeyName="tier2-ed25519", KeyType="ed25519")
            w = World(session, subnets, private)
            for region in REGIONS:
                w.bucket(f"{SCRIPTS_BUCKET}-{region}", region)
            pcluster_engine._reset_caches()  # once for this world; then pcluster's caches stay valid
            mp.setattr(pcluster_engine, "_reset_caches", lambda: None)
            yield w


# ---- one template through pctl and pcluster ---------------------------------------------------------


@dataclass
class Outcome:
    source: str
    refused: list[str] = field(default_factory=list)  # pctl's own errors (must be located)
    unlocated: list[str] = field(default_factory=list)
    pcluster_errors: list[str] = field(default_factory=list)
    config: str = ""


S3_URL_BUCKET = re.compile(r"s3://([a-z0-9][a-z0-9.-]+)")


def run(world: World, text: str, source: str) -> Outcome:
    """validate (pctl) -> render -> validate_create_request (pcluster) for one template text."""
    from pctl import pcluster_engine
    from pctl.render import RenderOptions, render
    from pctl.validation import validate_text

    out = Outcome(source)
    report, loaded = validate_text(text, source)
    if report.errors or loaded.template is None:
        out.refused = [i.render(source) for i in report.errors]
        out.unlocated = [i.render(source) for i in report.errors if not i.line]
        return out
    t = loaded.template
    region = t.cluster.region
    if region not in world.subnets:
        pytest.fail(f"{source}: the tier-2 world has no {region}: add it to REGIONS")
    names = [t.compute.head_node, *(n for q in t.compute.queues for n in q.instance_types)]
    zones = it.common_zones(names, region)
    assert zones, f"{source}: pctl accepted types no zone of {region} offers together: {names}"
    subnet = world.subnets[region][zones[0]]
    # As pctl's network makes it: compute nodes in a private subnet, unless networking.public_only.
    compute_subnet = subnet if t.networking.public_only else world.private[region][zones[0]]
    key = "tier2-ed25519" if t.cluster.os in ED25519_ONLY_OSES else "tier2-rsa"
    for bucket in set(S3_URL_BUCKET.findall(text)) | {m.bucket for m in t.data.s3_mounts}:
        world.bucket(bucket, region)
    rendered = render(t, RenderOptions(subnet_id=subnet, compute_subnet_id=compute_subnet, key_name=key,
                                       scripts_s3_prefix=f"s3://{SCRIPTS_BUCKET}-{region}/{t.cluster.name}"))
    for bucket in set(S3_URL_BUCKET.findall(rendered.config_text)):
        world.bucket(bucket, region)
    out.config = rendered.config_text
    failures = pcluster_engine.validator_failures(rendered.config_text, t.cluster.name, region)
    out.pcluster_errors = [f"{kind}: {message}" for level, kind, message in failures if level == "ERROR"]
    return out


def problems(outcomes: list[Outcome]) -> str:
    lines = []
    for o in outcomes:
        for e in o.pcluster_errors:
            lines.append(f"{o.source}: pctl accepted it, ParallelCluster refused: {e}")
        for e in o.unlocated:
            lines.append(f"{o.source}: pctl refused it without a line: {e}")
    return "\n".join(lines)


# ---- library, tests/, the design formats ----------------------------------------------------------------


def test_every_library_template_passes_tier2(world):
    from pctl import library

    outcomes = [run(world, library.path_of(n).read_text(), f"templates/{n}.yaml") for n in library.names()]
    assert len(outcomes) >= 6
    refused = [o for o in outcomes if o.refused]
    assert not refused, "library templates must validate:\n" + "\n".join(r for o in refused for r in o.refused)
    assert not problems(outcomes), problems(outcomes)


def _test_templates() -> list[Path]:
    out = []
    for path in sorted((REPO / "tests").rglob("*.y*ml")):
        try:
            data = yaml.safe_load(path.read_text())
        except yaml.YAMLError:
            continue
        if isinstance(data, dict) and "cluster" in data and "compute" in data:
            out.append(path)
    return out


def test_every_template_under_tests_passes_tier2_or_is_refused_with_a_line(world):
    paths = _test_templates()
    assert paths, "tests/ holds template files (tests/fixtures/headnode_template.yaml at least)"
    outcomes = [run(world, p.read_text(), str(p.relative_to(REPO))) for p in paths]
    assert not problems(outcomes), problems(outcomes)


DESIGN_FORMATS = {
    "canonical": """\
cluster: {name: my-hpc-cluster, region: us-east-1}
compute:
  head_node: t3.xlarge
  queues: [{name: compute, instance_types: [c5.4xlarge], min_count: 0, max_count: 10}]
software: {spack_packages: [gcc@11.3.0, openmpi@4.1.4, python@3.10]}
users: [{name: researcher1, uid: 5001, gid: 5001}]
data: {s3_mounts: [{bucket: my-data-bucket, mount_point: /shared/data}]}
""",
    "shared-storage": """\
cluster: {name: my-hpc-cluster, region: us-east-1}
compute:
  head_node: t3.xlarge
  queues: [{name: compute, instance_types: [c5.4xlarge], max_count: 10}]
shared_storage:
  - name: spack-storage
    storage_type: Ebs
    mount_dir: /shared
    ebs_settings: {volume_type: gp3, size: 500, encrypted: true, iops: 3000, throughput: 125}
""",
    "issue-10-mixed-gpu-queue": """\
cluster: {name: mixed, region: us-east-1}
compute:
  head_node: t3.medium
  queues: [{name: mix, instance_types: [m6i.2xlarge, g4dn.2xlarge], max_count: 10}]
""",
    "issue-10-persistent-fsx": """\
cluster: {name: fsx, region: us-east-1}
compute:
  head_node: t3.medium
  queues: [{name: q, instance_types: [c6i.2xlarge]}]
data: {fsx_lustre: [{mount_point: /fsx, deployment_type: PERSISTENT_2}]}
""",
}


@pytest.mark.parametrize("name", sorted(DESIGN_FORMATS))
def test_design_formats_validate_and_pass_tier2(world, name):
    """Issue 10: the design documents' formats (and its two accepted-then-refused cases) validate, render and
    pass pcluster's validators; the mixed GPU queue becomes two compute resources sharing max_count."""
    o = run(world, DESIGN_FORMATS[name], f"<{name}>")
    assert not o.refused, o.refused
    assert not problems([o]), problems([o])
    if name == "issue-10-mixed-gpu-queue":
        [queue] = yaml.safe_load(o.config)["Scheduling"]["SlurmQueues"]
        assert [(cr["InstanceType"], cr["MaxCount"]) for cr in queue["ComputeResources"]] == [
            ("m6i.2xlarge", 5), ("g4dn.2xlarge", 5)]
    if name == "issue-10-persistent-fsx":
        assert "PerUnitStorageThroughput" in o.config


@pytest.mark.parametrize("text", [
    "- {name: q, instance_types: [c6i.2xlarg]}",  # typo
    "- {name: q, instance_types: [c6i.2xlarge, c5n.18xlarge], efa: true}",  # EFA on a non-EFA type
    "- {name: q, instance_types: [hpc7a.96xlarge], efa: true}",  # not offered in us-east-1
    "- {name: q, instance_types: [c6i.2xlarge, c6i.4xlarge, c6i.8xlarge], max_count: 2}",  # 3 resources, cap 2
    "- {name: q, instance_types: [c5n.18xlarge], efa: true}\nnetworking: {public_only: true}",  # 2 NICs, public IP
])
def test_what_pcluster_would_refuse_pctl_refuses_with_a_line(world, text):
    source = "cluster: {name: refused, region: us-east-1}\ncompute:\n  head_node: t3.medium\n  queues:\n    " + text + "\n"
    o = run(world, source, "<refused>")
    assert o.refused and not o.unlocated, o


# ---- the generated corpus ---------------------------------------------------------------------------------

FEATURES: Counter[str] = Counter()


def _pool(region: str, zone: str, arch: str, *, gpu: bool | None = None, efa: bool | None = None) -> list[str]:
    out = []
    for name in it.region_types(region):
        f = it.facts(name)
        if f.arch != arch or zone not in (it.zones(name, region) or ()):
            continue
        if gpu is not None and (f.gpus > 0) != gpu:
            continue
        if efa is not None and f.efa != efa:
            continue
        out.append(name)
    return out


@st.composite
def queue(draw, region: str, zone: str, arch: str, index: int, public_only: bool) -> dict:
    kind = draw(st.sampled_from(["efa", "cpu", "gpu", "cpu", "mixed"]))  # hypothesis favours the first
    pool = {"cpu": _pool(region, zone, arch, gpu=False), "gpu": _pool(region, zone, arch, gpu=True),
            "efa": _pool(region, zone, arch, efa=True), "mixed": _pool(region, zone, arch)}[kind] or _pool(region, zone, arch)
    if public_only:  # a public IP needs a single network interface (pctl refuses the others, tested above)
        pool = [t for t in pool if it.facts(t).network_cards == 1] or pool
    types = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=4, unique=True))
    ht_off = draw(st.booleans())
    capacity = draw(st.sampled_from(["ondemand", "ondemand", "spot"]))
    if capacity == "spot":
        types = [t for t in types if it.facts(t).spot] or [draw(st.sampled_from([t for t in pool if it.facts(t).spot]))]
    efa = kind == "efa" and not public_only and all(it.facts(t).efa and it.facts(t).cluster_placement for t in types) \
        and draw(st.integers(0, 3)) > 0
    needed = len(groups(types, ht_off))
    max_count = draw(st.integers(needed, 64))
    q = {"name": f"q{index}-{kind}", "instance_types": types, "min_count": draw(st.integers(0, min(max_count, 4))),
         "max_count": max_count, "capacity_type": capacity, "disable_hyperthreading": ht_off, "efa": efa}
    if capacity == "spot":
        q["min_count"] = 0
        strategy = draw(st.sampled_from([None, "lowest-price", "capacity-optimized", "price-capacity-optimized"]))
        if strategy:
            q["allocation_strategy"] = strategy
    FEATURES.update({f"kind-{kind}": 1, "spot": capacity == "spot", "efa": efa, "hyperthreading-off": ht_off,
                     "multi-type": len(types) > 1, "several-resources": needed > 1,
                     "gpu": any(it.facts(t).gpus for t in types)})
    return q


EXISTING_EBS, EXISTING_EFS = "vol-0e0e0e0e0e0e0e0e0", "fs-0e0e0e0e"  # replaced by real moto ids at run time
_TOKENS = itertools.count()


def with_existing_resources(world: World, data: dict) -> dict:
    """The template with EXISTING_* replaced by resources made in the world: an EBS volume in the zone the
    head node's subnet is in, an EFS file system with a mount target there."""
    text = yaml.safe_dump(data, sort_keys=False)
    if EXISTING_EBS not in text and EXISTING_EFS not in text:
        return data
    region = data["cluster"]["region"]
    names = [data["compute"]["head_node"], *(n for q in data["compute"]["queues"] for n in q["instance_types"])]
    zone = it.common_zones(names, region)[0]
    if EXISTING_EBS in text:
        volume = world.session.client("ec2", region_name=region).create_volume(
            Size=100, AvailabilityZone=zone, VolumeType="gp3", Encrypted=True)["VolumeId"]
        text = text.replace(EXISTING_EBS, volume)
    if EXISTING_EFS in text:
        efs = world.session.client("efs", region_name=region)
        fs = efs.create_file_system(CreationToken=f"tier2-{next(_TOKENS)}", Encrypted=True)["FileSystemId"]
        # As a site's EFS has it: a mount target in the zone, with a security group that lets NFS in from the VPC.
        ec2 = world.session.client("ec2", region_name=region)
        vpc = ec2.describe_subnets(SubnetIds=[world.private[region][zone]])["Subnets"][0]["VpcId"]
        sg = ec2.create_security_group(GroupName=f"tier2-efs-{fs}", Description="NFS from the VPC", VpcId=vpc)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 2049, "ToPort": 2049, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
        efs.create_mount_target(FileSystemId=fs, SubnetId=world.private[region][zone], SecurityGroups=[sg])
        text = text.replace(EXISTING_EFS, fs)
    return yaml.safe_load(text)


def _accepts(text: str) -> bool:
    """Whether pctl's model and validators take this snippet (features landing in parallel are probed)."""
    from pctl.validation import validate_text

    base = ("cluster: {name: probe, region: us-east-1}\n"
            "compute: {head_node: t3.medium, queues: [{name: q, instance_types: [c6i.xlarge]}]}\n")
    report, loaded = validate_text(base + text, "<probe>")
    return loaded.template is not None and not report.errors


NESTED_MOUNTS = _accepts("data: {s3_mounts: [{bucket: tier2-probe, mount_point: /shared/data}]}\n")
HOME_ON_EFS = _accepts("shared_storage: [{name: shared, mount_point: /shared}, {name: home, mount_point: /home, type: efs}]\n")
SHARED_GROUPS = _accepts("groups: [{name: lab, gid: 7000}, {name: instruments, gid: 7001}]\n"
                         "users: [{name: ann, uid: 5001, group: lab}, {name: bob, uid: 5002, gid: 7000, groups: [instruments]}]\n")


@st.composite
def storage(draw) -> tuple[list[dict], dict]:
    """Shared volumes and data mounts; at most one created EFS and one created FSx (pctl's limit)."""
    shared_type = draw(st.sampled_from(["ebs", "ebs", "efs", "fsx_lustre"]))
    shared: dict = {"name": "shared", "mount_point": draw(st.sampled_from(["/shared", "/apps"])), "type": shared_type}
    if shared_type == "ebs":
        shared["size_gb"] = draw(st.integers(20, 4096))
    elif shared_type == "fsx_lustre":
        shared["size_gb"] = draw(st.sampled_from([1200, 2400, 4800]))
    volumes = [shared]
    used = {shared_type}
    if HOME_ON_EFS and "efs" not in used and draw(st.integers(0, 3)) == 0:
        volumes.append({"name": "home", "mount_point": "/home", "type": "efs"})
        used.add("efs")
        FEATURES.update({"home-on-efs": 1})
    if draw(st.booleans()):
        scratch = {"name": "scratch", "mount_point": "/scratch", "type": "ebs", "size_gb": draw(st.integers(20, 500))}
        if draw(st.integers(0, 3)) == 0:  # an existing volume: made in moto, in the cluster's zone, before the run
            scratch["file_system_id"] = EXISTING_EBS
            FEATURES.update({"existing-ebs": 1})
        volumes.append(scratch)
    data: dict = {"s3_mounts": [], "efs": [], "fsx_lustre": []}
    for i in range(draw(st.integers(0, 2))):
        nested = NESTED_MOUNTS and draw(st.booleans())
        FEATURES.update({"nested-mount": nested})
        data["s3_mounts"].append({"bucket": f"tier2-data-{draw(st.integers(0, 5))}",
                                  "mount_point": f"{shared['mount_point']}/data-{i}" if nested else f"/data/s3-{i}",
                                  "read_only": draw(st.booleans())})
    if draw(st.integers(0, 3)) == 0:  # an existing EFS file system (does not count as created)
        data["efs"].append({"mount_point": "/data/lab-efs", "file_system_id": EXISTING_EFS})
        FEATURES.update({"existing-efs": 1})
    if "efs" not in used and draw(st.booleans()):
        data["efs"].append({"mount_point": "/data/efs"})
    if "fsx_lustre" not in used and draw(st.booleans()):
        fsx: dict = {"mount_point": "/fsx", "deployment_type": draw(st.sampled_from(["SCRATCH_2", "PERSISTENT_2", "PERSISTENT_1"])),
                     "storage_capacity_gb": draw(st.sampled_from([1200, 2400]))}
        if fsx["deployment_type"] != "PERSISTENT_2" and draw(st.booleans()):
            fsx["import_path"] = f"s3://tier2-data-{draw(st.integers(0, 5))}"
        data["fsx_lustre"].append(fsx)
    FEATURES.update({"efs": any(v["type"] == "efs" for v in volumes) or bool(data["efs"]),
                     "fsx": any(v["type"] == "fsx_lustre" for v in volumes) or bool(data["fsx_lustre"]),
                     "s3": bool(data["s3_mounts"])})
    return volumes, data


@st.composite
def accounts(draw) -> tuple[list[dict], list[dict]]:
    """Users with fixed UIDs; with shared groups (when pctl has them): a lab group as several users' primary
    group and site groups as supplementary groups."""
    n = draw(st.integers(0, 3))
    users = [{"name": f"user{i}", "uid": 5001 + i, "gid": 5001 + i} for i in range(n)]
    groups: list[dict] = []
    if SHARED_GROUPS and n and draw(st.booleans()):
        groups = [{"name": "lab", "gid": 7000}, {"name": "instruments", "gid": 7001}]
        for u in users:
            if draw(st.booleans()):
                del u["gid"]
                u["group"] = "lab"
            u["groups"] = [g for g in draw(st.lists(st.sampled_from(["instruments", "lab"]), unique=True))
                           if g != u.get("group")]
        FEATURES.update({"shared-groups": 1})
    FEATURES.update({"users": n > 0})
    return users, groups


@st.composite
def corpus_template(draw) -> dict:
    region = draw(st.sampled_from(["us-east-1", "us-east-1", "us-east-1", "us-east-2"]))
    zone = draw(st.sampled_from(sorted({z for n in ("c6i.2xlarge", "t3.medium") for z in it.zones(n, region)})))
    arch = draw(st.sampled_from(["x86_64", "x86_64", "arm64"]))
    os_name = draw(st.sampled_from(sorted(PUBLIC_OS_IMAGES)))
    head_pool = [n for n in _pool(region, zone, arch, gpu=False) if 2 <= it.facts(n).vcpus <= 16]
    public_only = draw(st.sampled_from([False, False, True]))
    volumes, data = draw(storage())
    users, groups = draw(accounts())
    n_queues = draw(st.integers(1, 3))
    t = {
        "cluster": {"name": f"corpus-{draw(st.integers(0, 10**6))}", "region": region, "os": os_name},
        "compute": {"head_node": draw(st.sampled_from(head_pool)),
                    "queues": [draw(queue(region, zone, arch, i, public_only)) for i in range(n_queues)]},
        "software": {"spack_packages": draw(st.lists(st.sampled_from(["zlib", "openmpi@4.1.6", "hdf5 +mpi"]), max_size=2, unique=True))},
        "users": users,
        "shared_storage": volumes,
        "data": data,
        "networking": {"public_only": public_only},
    }
    if groups:
        t["groups"] = groups
    FEATURES.update({"public-only": t["networking"]["public_only"]})
    FEATURES.update({f"os-{os_name}": 1, f"arch-{arch}": 1, f"region-{region}": 1})
    return t


OUTCOMES: list[Outcome] = []


@settings(max_examples=CORPUS_SIZE, derandomize=True, deadline=None, database=None,
          phases=(Phase.explicit, Phase.generate),  # no shrinking: a failure prints its template in full
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@given(data=corpus_template())
def test_generated_corpus_passes_tier2(world, data):
    text = yaml.safe_dump(with_existing_resources(world, data), sort_keys=False)
    o = run(world, text, f"<corpus {data['cluster']['name']}>")
    OUTCOMES.append(o)
    assert not o.unlocated, "\n".join(o.unlocated)
    assert not o.pcluster_errors, f"{problems([o])}\n--- template ---\n{text}--- config ---\n{o.config}"


def test_corpus_was_large_and_covered_every_feature():
    if not OUTCOMES:
        pytest.skip("runs after test_generated_corpus_passes_tier2 (same module)")
    accepted = [o for o in OUTCOMES if not o.refused]
    print(f"\ntier-2 corpus: {len(OUTCOMES)} templates, {len(accepted)} accepted by pctl and by ParallelCluster, "
          f"{len(OUTCOMES) - len(accepted)} refused by pctl with located messages; features drawn: {dict(FEATURES)}")
    assert len(OUTCOMES) >= min(300, CORPUS_SIZE) and len(accepted) >= 0.8 * len(OUTCOMES), (len(OUTCOMES), len(accepted))
    for feature in ("gpu", "efa", "hyperthreading-off", "multi-type", "several-resources", "spot", "fsx", "efs",
                    "s3", "users", "arch-arm64", "region-us-east-2", "public-only", "existing-ebs", "existing-efs",
                    *(["nested-mount"] if NESTED_MOUNTS else []), *(["home-on-efs"] if HOME_ON_EFS else []),
                    *(["shared-groups"] if SHARED_GROUPS else [])):
        assert FEATURES[feature] >= min(10, CORPUS_SIZE // 30), (feature, FEATURES)
