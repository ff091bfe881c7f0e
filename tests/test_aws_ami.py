"""pctl.aws.ami: fingerprints, official AMI lookup, and bakes under moto.

The builder's script cannot run under moto (no real instance boots), so the bake tests play the
instance's part: a thread waits for the builder to appear and then writes the completion marker
object into moto's S3, exactly where the real user-data script would.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from pctl.aws.ami import (
    FINGERPRINT_TAG,
    current_fingerprint,
    delete_image,
    find_baked_image,
    fingerprint,
    image_packages,
    list_images,
    marker_prefix,
    official_image,
    render_user_data,
    spack_target,
)
from pctl.aws.ami import bake_image as bake
from pctl.aws.bucket import ensure_bucket
from pctl.errors import PctlError
from pctl.model.template import Template

VERSION = "3.16.1"
BUCKET = "pctl-bake-test"


def make_template(**software) -> Template:
    return Template.model_validate({
        "cluster": {"name": "demo", "region": "us-east-1", "os": software.pop("os", "alinux2023")},
        "compute": {"head_node": software.pop("head_node", "c6i.xlarge"),
                    "queues": [{"name": "compute", "instance_types": software.pop("queue_types", ["c6i.2xlarge"])}]},
        "software": {"spack_packages": ["openmpi@4.1.6", "hdf5 +mpi"], "install": "ami", **software},
    })


def test_fingerprint_is_stable_and_order_insensitive():
    a = make_template(spack_packages=["openmpi@4.1.6", "hdf5 +mpi"])
    b = make_template(spack_packages=["hdf5 +mpi", "openmpi@4.1.6"])
    assert fingerprint(a, VERSION) == fingerprint(b, VERSION) == fingerprint(a, VERSION)
    assert len(fingerprint(a, VERSION)) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"spack_packages": ["openmpi@4.1.6"]},
        {"spack_version": "0.22.2"},
        {"os": "ubuntu2204"},
        {"head_node": "c7g.xlarge", "queue_types": ["c7g.2xlarge"]},  # arm64
        {"queue_types": ["c6i.2xlarge", "c5.large"]},  # an older node type: an older Spack target
    ],
)
def test_fingerprint_changes_with_each_input(change):
    assert fingerprint(make_template(**change), VERSION) != fingerprint(make_template(), VERSION)


def test_fingerprint_changes_with_pcluster_version():
    assert fingerprint(make_template(), "3.15.0") != fingerprint(make_template(), VERSION)


def test_official_image_newest_for_os_and_arch(aws):
    x86 = official_image(aws, "alinux2023", "x86_64", VERSION)
    arm = official_image(aws, "alinux2023", "arm64", VERSION)
    images = {i["ImageId"]: i for i in aws.client("ec2").describe_images(ImageIds=[x86, arm])["Images"]}
    assert images[x86]["Architecture"] == "x86_64" and images[arm]["Architecture"] == "arm64"
    assert images[x86]["Name"].startswith(f"aws-parallelcluster-{VERSION}-amzn2023-hvm-x86_64")


def test_official_image_missing_is_a_clear_error(aws):
    with pytest.raises(PctlError, match="No official ParallelCluster AMI") as info:
        official_image(aws, "rhel9", "x86_64", VERSION)
    assert "rhel9" in info.value.hint
    with pytest.raises(PctlError, match="publishes no AMI"):
        official_image(aws, "alinux2", "x86_64", VERSION)


def test_os_table_matches_pcluster():
    from pcluster.constants import OS_TO_IMAGE_NAME_PART_MAP

    from pctl.aws.ami import OS_IMAGE_NAME_PART

    assert OS_IMAGE_NAME_PART == OS_TO_IMAGE_NAME_PART_MAP


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_user_data_passes_shellcheck(tmp_path):
    path = tmp_path / "ud.sh"
    path.write_text(render_user_data("bucket; rm -rf /", "f" * 64, "us-east-1"))
    subprocess.run(["shellcheck", str(path)], check=True)
    assert "'s3://bucket; rm -rf /" in path.read_text()  # quoted, not executed


def play_instance(session, outcome: str, delay_s: float = 0.05) -> threading.Thread:
    """Stand in for the builder's user data: when the builder runs, write the marker to S3."""
    ec2, s3 = session.client("ec2"), session.client("s3")

    def run():
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reservations = ec2.describe_instances(
                Filters=[{"Name": "tag:pctl:role", "Values": ["bake-builder"]},
                         {"Name": "instance-state-name", "Values": ["pending", "running"]}])["Reservations"]
            if reservations:
                time.sleep(delay_s)
                fp, _base = current_fingerprint(session, make_template(), VERSION)
                s3.put_object(Bucket=BUCKET, Key=f"{marker_prefix(fp)}/{outcome}", Body=b"last lines of the log\n")
                return
            time.sleep(0.02)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def builder_states(session) -> list[str]:
    reservations = session.client("ec2").describe_instances(
        Filters=[{"Name": "tag:pctl:role", "Values": ["bake-builder"]}])["Reservations"]
    return [i["State"]["Name"] for r in reservations for i in r["Instances"]]


def run_bake(session, timeout_s=5, **kw):
    created = []
    image = bake(session, template=make_template(), pcluster_version=VERSION, script="echo installing\n",
                 bucket=BUCKET, timeout_s=timeout_s, poll_s=0.02, on_created=created.append, log=lambda _m: None, **kw)
    return image, created


@pytest.fixture
def bake_world(aws):
    ensure_bucket(aws, BUCKET, "us-east-1", tls_only=False)  # moto and the TLS policy: see test_aws_bucket.py
    return aws


def test_bake_success_tags_image_and_terminates_builder(bake_world):
    session = bake_world
    thread = play_instance(session, "done")
    image_id, created = run_bake(session)
    thread.join(5)
    image = session.client("ec2").describe_images(ImageIds=[image_id])["Images"][0]
    tags = {t["Key"]: t["Value"] for t in image["Tags"]}
    fp, _base = current_fingerprint(session, make_template(), VERSION)
    assert tags[FINGERPRINT_TAG] == fp
    assert tags["parallelcluster:version"] == VERSION
    assert tags["pctl:cluster"] == "demo"
    assert tags["parallelcluster:build_status"] == "available" and tags["parallelcluster:os"] == "alinux2023"
    assert tags["pctl:spack-target"] == spack_target(make_template()) and tags["pctl:arch"] == "x86_64"
    assert image_packages(image) == ["hdf5 +mpi", "openmpi@4.1.6"]
    assert builder_states(session) == ["terminated"]
    assert [r.kind for r in created] == ["instance", "image"]
    assert find_baked_image(session, fp)["ImageId"] == image_id
    assert [i["ImageId"] for i in list_images(session)] == [image_id]
    # The builder got IMDSv2 and an encrypted root volume.
    instance = session.client("ec2").describe_instances(InstanceIds=[created[0].id])["Reservations"][0]["Instances"][0]
    assert instance["MetadataOptions"]["HttpTokens"] == "required"
    script = session.client("s3").get_object(Bucket=BUCKET, Key=f"{marker_prefix(fp)}/bake.sh")["Body"].read()
    assert script == b"echo installing\n"


def test_bake_timeout_terminates_builder_and_keeps_no_image(bake_world):
    session = bake_world
    with pytest.raises(PctlError, match="Timed out"):
        run_bake(session, timeout_s=0.3)
    assert builder_states(session) == ["terminated"]
    assert list_images(session) == []


def test_bake_failure_reports_log_and_terminates_builder(bake_world):
    session = bake_world
    thread = play_instance(session, "failed")
    with pytest.raises(PctlError, match="last lines of the log"):
        run_bake(session)
    thread.join(5)
    assert builder_states(session) == ["terminated"]
    assert list_images(session) == []


def test_find_baked_image_none_and_delete_image(bake_world):
    session = bake_world
    assert find_baked_image(session, "0" * 64) is None
    thread = play_instance(session, "done")
    image_id, _ = run_bake(session)
    thread.join(5)
    deleted = delete_image(session, image_id)
    assert {r.kind for r in deleted} >= {"image"}
    assert list_images(session) == []
    assert delete_image(session, image_id) == []


def test_a_new_official_base_image_changes_the_fingerprint(monkeypatch):
    """AWS publishing a patched ParallelCluster AMI must trigger the scheduled re-bake (issue 6)."""
    import boto3
    import moto.ec2.models.amis as moto_amis
    from moto import mock_aws

    from tests.fixtures.aws import official_ami_entries

    template = make_template()
    assert fingerprint(template, VERSION, "ami-0aaa") != fingerprint(template, VERSION, "ami-0bbb")

    def fingerprint_in_a_world(entries):
        monkeypatch.setattr(moto_amis, "AMIS", [*moto_amis.AMIS, *entries])
        with mock_aws():
            return current_fingerprint(boto3.Session(region_name="us-east-1"), template, VERSION)

    old = official_ami_entries()
    newer = {**old[0], "ami_id": "ami-0fd" + "1" * 14, "name": old[0]["name"].replace("202501010000", "202611010000"),
             "creation_date": "2026-11-01T00:00:00.000Z"}
    fp_before, base_before = fingerprint_in_a_world(old)
    fp_after, base_after = fingerprint_in_a_world([*old, newer])
    assert base_before == old[0]["ami_id"] and base_after == newer["ami_id"]
    assert fp_before != fp_after


def test_the_bake_script_builds_for_the_fingerprinted_target():
    """The target in the fingerprint is the one the baked Spack compiles for: every named type runs it."""
    from pctl.aws.ami import spack_target
    from pctl.render import ami_software_script
    from pctl.targets import cluster_target

    template = make_template(queue_types=["c6i.2xlarge", "c5.large"])
    target = spack_target(template)
    assert target == cluster_target(["c6i.xlarge", "c6i.2xlarge", "c5.large"]) != spack_target(make_template())
    assert f"target={target}" in ami_software_script(template)


def test_mixed_architectures_are_a_clear_error():
    with pytest.raises(PctlError, match="no Spack target"):
        fingerprint(make_template(queue_types=["c7g.2xlarge"]), VERSION)
