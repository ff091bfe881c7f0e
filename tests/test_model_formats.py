"""Issue 10: the design documents' template formats load unchanged, render, and pass ParallelCluster's
schema (tier 1) and its create-time validators under moto (tier 2, tests/fixtures/aws.py::pcluster_world).

Examples 2 and 3 of the design are sections (a `shared_storage` block; a `cluster` + `software` block with no
`compute`): each is dropped unchanged into example 1, the canonical template, replacing what it names.
"""

from __future__ import annotations

import textwrap

import pytest
import yaml

from pctl import pcluster_engine as engine
from pctl.render import RenderOptions, render
from pctl.validation import Level, validate_text

CANONICAL = textwrap.dedent("""\
    # 1. the canonical example: an S3 bucket mounted under the shared volume
    cluster: {name: my-hpc-cluster, region: us-east-1}
    compute:
      head_node: t3.xlarge
      queues: [{name: compute, instance_types: [c5.4xlarge], min_count: 0, max_count: 10}]
    software: {spack_packages: [gcc@11.3.0, openmpi@4.1.4, python@3.10]}
    users: [{name: researcher1, uid: 5001, gid: 5001}]
    data: {s3_mounts: [{bucket: my-data-bucket, mount_point: /shared/data}]}
    """)
SHARED_STORAGE = textwrap.dedent("""\
    # 2. the shared-storage form, with ParallelCluster's own words
    shared_storage:
      - name: spack-storage
        storage_type: Ebs
        mount_dir: /shared
        ebs_settings: {volume_type: gp3, size: 500, encrypted: true, iops: 3000, throughput: 125}
    """)
PLATFORM = textwrap.dedent("""\
    # 3. the platform and container form
    cluster: {name: my-cluster, region: us-east-1, platform: pcs}
    software:
      containers:
        - name: bioinformatics
          image: 123456789012.dkr.ecr.us-east-1.amazonaws.com/bio:v1
          packages: [samtools, bwa, gatk]
      spack_packages: [samtools@1.17, bwa@0.7.17, gatk@4.3.0]
    """)


def with_section(base: str, section: str) -> str:
    """`base` with the top-level keys of `section` replaced by `section`'s text, unchanged."""
    keys = set(yaml.safe_load(section))
    kept = [block for block in _blocks(base) if block.split(":", 1)[0] not in keys]
    return "".join(kept) + section


def _blocks(text: str) -> list[str]:
    blocks: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("#"):
            continue
        if line[:1].isspace() and blocks:
            blocks[-1] += line
        else:
            blocks.append(line)
    return blocks


FORMATS = {
    "canonical": CANONICAL,
    "shared-storage": with_section(CANONICAL, SHARED_STORAGE),
    "platform-containers": with_section(CANONICAL, PLATFORM),
}


def load(text: str):
    report, loaded = validate_text(text, "design.yaml")
    assert report.ok(), report.render()
    return report, loaded.template


@pytest.mark.parametrize("name", FORMATS)
def test_design_format_validates_and_passes_tier1(name):
    report, t = load(FORMATS[name])
    r = render(t)
    assert engine.schema_errors(r.config_text, t.cluster.name) is None


def test_canonical_keeps_the_s3_mount_inside_the_shared_volume():
    _, t = load(CANONICAL)
    cfg = yaml.safe_load(render(t).config_text)
    assert [s["MountDir"] for s in cfg["SharedStorage"]] == ["/shared"]  # pcluster's volume; S3 is pctl's mount
    script = render(t).files["scripts/compute-node.sh"]
    assert "mount_bucket my-data-bucket /shared/data --read-only" in script
    assert t.spack_root == "/shared/spack"


def test_pcluster_spellings_reach_every_ebs_setting():
    _, t = load(FORMATS["shared-storage"])
    [s] = t.shared_storage
    assert (s.name, s.mount_point, s.type.value, s.size_gb) == ("spack-storage", "/shared", "ebs", 500)
    [cfg] = yaml.safe_load(render(t).config_text)["SharedStorage"]
    assert cfg["EbsSettings"] == {"VolumeType": "gp3", "Size": 500, "Iops": 3000, "Throughput": 125, "Encrypted": True}
    assert t.spack_root == "/shared/spack"


def test_every_ebs_option_is_reachable(cluster_schema):
    text = with_section(CANONICAL, textwrap.dedent("""\
        shared_storage:
          - name: apps
            type: ebs
            mount_point: /shared
            ebs_settings:
              volume_type: io2
              size_gb: 200
              iops: 6000
              encrypted: true
              kms_key_id: arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab
              snapshot_id: snap-0123456789abcdef0
              deletion_policy: Retain
        """))
    _, t = load(text)
    [cfg] = cluster_schema(render(t).config_text, t.cluster.name)["SharedStorage"]
    assert cfg["EbsSettings"] == {
        "VolumeType": "io2", "Size": 200, "Iops": 6000, "Encrypted": True,
        "KmsKeyId": "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-4567-89ab-0123456789ab",
        "SnapshotId": "snap-0123456789abcdef0", "DeletionPolicy": "Retain"}


def test_containers_and_pcs_are_kept_in_the_model():
    report, t = load(FORMATS["platform-containers"])
    assert t.cluster.platform == "pcs"
    [c] = t.software.containers
    assert (c.name, c.image, c.packages) == ("bioinformatics", "123456789012.dkr.ecr.us-east-1.amazonaws.com/bio:v1",
                                             ["samtools", "bwa", "gatk"])
    assert [i.code for i in report.issues if i.level is Level.ERROR] == []


def test_both_spellings_in_the_json_schema():
    from pctl.model.template import json_schema

    defs = json_schema()["$defs"]
    shared = defs["SharedStorage"]["properties"]
    assert {"mount_point", "mount_dir", "type", "storage_type", "file_system_id", "volume_id"} <= set(shared)
    assert "Same as `mount_point`" in shared["mount_dir"]["description"]
    assert {"size", "size_gb"} <= set(defs["EbsSettings"]["properties"])
    assert {"group", "primary_group", "groups", "supplementary_groups"} <= set(defs["User"]["properties"])
    assert "FsxLustre" in shared["storage_type"]["enum"]


def test_two_spellings_of_one_field_are_refused_with_a_hint():
    text = CANONICAL.replace("mount_point: /shared/data", "mount_point: /shared/data, mount_dir: /shared/data")
    report, _ = validate_text(text, "t.yaml")
    [issue] = report.errors
    assert issue.field == "data.s3_mounts[0].mount_dir" and "another spelling of `mount_point`" in issue.hint
    assert issue.line == 8


def test_issue_in_an_aliased_field_is_located_on_the_written_key():
    text = with_section(CANONICAL, SHARED_STORAGE.replace("mount_dir: /shared", "mount_dir: /etc/x"))
    report, _ = validate_text(text, "t.yaml")
    [issue] = [i for i in report.errors if i.code == "MountPoint"]
    assert issue.field == "shared_storage[0].mount_point"
    assert text.splitlines()[issue.line - 1].strip().startswith("mount_dir:")


# ---- tier 2: ParallelCluster's create-time validators under moto ------------------------------------

def tier2(text: str, world, *, bucket: str | None = "my-data-bucket") -> list[tuple[str, str, str]]:
    """ERROR-level failures of pcluster's validate_create_request on the render of `text`, in `world`.

    The world (moto) holds what a real account would: the VPC, subnets, key pair, official AMI and the
    data bucket the template mounts (pcluster checks S3Access buckets exist).
    """
    _, t = load(text)
    s3 = world.session.client("s3")
    if bucket:
        s3.create_bucket(Bucket=bucket)
    s3.create_bucket(Bucket="pctl-scripts")
    options = RenderOptions(subnet_id=world.subnet_id, compute_subnet_id=world.private_subnet_id,
                            key_name=world.key_name, ssh_allowed_cidr="10.0.0.0/16",
                            scripts_s3_prefix=f"s3://pctl-scripts/{t.cluster.name}/scripts")
    failures = engine.validator_failures(render(t, options).config_text, t.cluster.name, t.cluster.region)
    return [f for f in failures if f[0] == "ERROR"]


@pytest.mark.parametrize("name", FORMATS)
def test_design_format_passes_pcluster_validators(name, pcluster_world):
    assert tier2(FORMATS[name], pcluster_world) == []


def test_enum_typo_under_a_pcluster_spelling_gets_a_suggestion():
    text = with_section(CANONICAL, SHARED_STORAGE.replace("storage_type: Ebs", "storage_type: Ebz"))
    report, _ = validate_text(text, "t.yaml")
    [issue] = report.errors
    assert issue.field == "shared_storage[0].storage_type" and "did you mean `ebs`" in issue.hint
    assert text.splitlines()[issue.line - 1].strip().startswith("storage_type:")
