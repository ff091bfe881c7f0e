"""Tier 2: an image made by pctl's bake passes ParallelCluster's own custom-AMI validators.

The bake runs under moto (tests/fixtures/aws.py); no real builder boots, so a thread plays the builder's
user data and writes the completion marker (as in tests/test_aws_ami.py). The config is pctl's own render
of the template with `Image.CustomAmi` set to the baked image, checked with pcluster's
`validate_create_request` (`pctl.pcluster_engine.validator_failures`), which suppresses only the two
launch-template validators moto cannot run: CustomAmiTagValidator, AmiOsCompatibleValidator and
InstanceTypeBaseAMICompatibleValidator all run. A control image without pcluster's build-status tag shows
the validators really look at the image (that one fails at ERROR level).
"""

from __future__ import annotations

import pytest

from pctl import pcluster_engine as engine
from pctl.aws.ami import PCLUSTER_BUILD_STATUS_TAG, PCLUSTER_OS_TAG, PCLUSTER_VERSION_TAG
from pctl.aws.bucket import ensure_bucket, upload_texts
from tests.fixtures.aws import pcluster_version
from tests.test_aws_ami import BUCKET, VERSION, make_template, play_instance, run_bake

AMI_VALIDATORS = {"CustomAmiTagValidator", "AmiOsCompatibleValidator", "InstanceTypeBaseAMICompatibleValidator",
                  "OsCustomAmiValidator"}


def _rendered_failures(world, template, image_id: str) -> list[tuple[str, str, str]]:
    from pctl.render.options import RenderOptions
    from pctl.render.renderer import render

    session = world.session
    ensure_bucket(session, "pctl-scripts", "us-east-1", tls_only=False)
    rendered = render(template, RenderOptions(
        subnet_id=world.subnet_id, compute_subnet_id=world.private_subnet_id, key_name=world.key_name,
        scripts_s3_prefix="s3://pctl-scripts/clusters/demo", custom_ami=image_id))
    for rel, url in rendered.script_urls.items():
        upload_texts(session, "pctl-scripts", "", {url.removeprefix("s3://pctl-scripts/"): rendered.files[rel]})
    assert f"CustomAmi: \"{image_id}\"" in rendered.config_text
    assert not set(engine.SUPPRESSED_VALIDATORS) & AMI_VALIDATORS
    return engine.validator_failures(rendered.config_text, "demo", "us-east-1")


@pytest.fixture
def baked(pcluster_world):
    assert pcluster_version() == VERSION  # the image must be tagged for the installed pcluster
    ensure_bucket(pcluster_world.session, BUCKET, "us-east-1", tls_only=False)
    thread = play_instance(pcluster_world.session, "done")
    image_id, _ = run_bake(pcluster_world.session)
    thread.join(5)
    return image_id


def test_a_baked_image_passes_pclusters_custom_ami_validators(pcluster_world, baked):
    template = make_template()
    tags = {t["Key"]: t["Value"] for t in pcluster_world.session.client("ec2").describe_images(
        ImageIds=[baked])["Images"][0]["Tags"]}
    assert tags[PCLUSTER_VERSION_TAG] == pcluster_version()
    assert tags[PCLUSTER_BUILD_STATUS_TAG] == "available"
    assert tags[PCLUSTER_OS_TAG] == template.cluster.os
    failures = _rendered_failures(pcluster_world, template, baked)
    assert [f for f in failures if f[0] == "ERROR"] == []
    assert [f for f in failures if f[1] in AMI_VALIDATORS] == []  # not even a warning


def test_without_the_build_status_tag_pcluster_refuses_the_image(pcluster_world, baked):
    """The control: the same image minus one tag fails CustomAmiTagValidator at ERROR level (issue 12)."""
    pcluster_world.session.client("ec2").delete_tags(Resources=[baked], Tags=[{"Key": PCLUSTER_BUILD_STATUS_TAG}])
    failures = _rendered_failures(pcluster_world, make_template(), baked)
    assert ("ERROR", "CustomAmiTagValidator") in {(f[0], f[1]) for f in failures}
    assert any("Unable to retrieve custom AMI build status" in f[2] for f in failures)


def test_an_os_tag_that_disagrees_is_refused(pcluster_world, baked):
    pcluster_world.session.client("ec2").create_tags(Resources=[baked], Tags=[{"Key": PCLUSTER_OS_TAG,
                                                                               "Value": "ubuntu2204"}])
    failures = _rendered_failures(pcluster_world, make_template(), baked)
    assert ("ERROR", "AmiOsCompatibleValidator") in {(f[0], f[1]) for f in failures}
