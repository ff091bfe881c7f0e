"""Sharing and copying baked images under moto (in-process), checked with EC2's own attribute calls.

The images come from pctl's bake (tests/test_aws_ami.py: a thread plays the builder's user data).
moto has no GetImageBlockPublicAccessState: where a test needs the account to block public AMIs, that one
call is replaced on the client (said at the test); the state parsing itself is checked with botocore's
Stubber against the real service model.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from pctl.aws import ami_share
from pctl.aws.ami import FINGERPRINT_TAG, PCLUSTER_BUILD_STATUS_TAG, find_baked_image, tag_dict
from pctl.aws.ami_copy import COPIED_FROM_TAG, copy_image, find_in_other_regions, recorded_copies
from pctl.aws.bucket import ensure_bucket
from pctl.aws.session import client
from pctl.errors import PctlError
from tests.test_aws_ami import BUCKET, play_instance, run_bake

OTHER = "210987654321"
ORG = "arn:aws:organizations::123456789012:organization/o-abcd123456"
OU = "arn:aws:organizations::123456789012:ou/o-abcd123456/ou-ab12-cd345678"


@pytest.fixture
def image(aws):
    ensure_bucket(aws, BUCKET, "us-east-1", tls_only=False)
    thread = play_instance(aws, "done")
    image_id, _ = run_bake(aws)
    thread.join(5)
    return image_id


def _launch(session, image_id):
    return session.client("ec2").describe_image_attribute(ImageId=image_id, Attribute="launchPermission")[
        "LaunchPermissions"]


def _volume_perms(session, image_id):
    ec2 = session.client("ec2")
    snaps = ami_share.snapshot_ids(ec2.describe_images(ImageIds=[image_id])["Images"][0])
    assert snaps
    return [ec2.describe_snapshot_attribute(SnapshotId=s, Attribute="createVolumePermission")[
        "CreateVolumePermissions"] for s in snaps]


def test_share_with_an_account_and_an_org_then_unshare(aws, image):
    result = ami_share.share(aws, image, ami_share.audience([OTHER], [ORG]))
    assert {"UserId": OTHER} in _launch(aws, image) and {"OrganizationArn": ORG} in _launch(aws, image)
    assert all(perms == [{"UserId": OTHER}] for perms in _volume_perms(aws, image))
    assert any("organizations" in n for n in result.notes)  # snapshots are not shared with an org: said
    assert ami_share.permissions(aws, image)["launch"] == _launch(aws, image)

    ami_share.unshare(aws, image, ami_share.audience([OTHER]))
    assert _launch(aws, image) == [{"OrganizationArn": ORG}]
    assert all(perms == [] for perms in _volume_perms(aws, image))
    ami_share.unshare(aws, image, ami_share.audience(org_arns=[ORG]))
    assert _launch(aws, image) == []


def test_share_with_an_ou(aws, image):
    ami_share.share(aws, image, ami_share.audience(ou_arns=[OU]))
    assert _launch(aws, image) == [{"OrganizationalUnitArn": OU}]
    assert ami_share.audience_of(aws, image).ou_arns == (OU,)


@pytest.mark.parametrize("kw, flag", [({"accounts": ["12345"]}, "--account"),
                                      ({"org_arns": ["arn:aws:organizations::1:organization/o-x"]}, "--org-arn"),
                                      ({"ou_arns": [ORG]}, "--ou-arn"), ({}, "nobody")])
def test_bad_audience_is_refused_before_any_call(kw, flag):
    with pytest.raises(PctlError, match=flag):
        ami_share.audience(**kw)


def test_only_the_owner_shares_and_only_images(aws, image):
    with pytest.raises(PctlError, match="not an image id"):
        ami_share.share(aws, "ami-x; rm", ami_share.audience([OTHER]))
    with pytest.raises(PctlError, match="not an image of this account"):
        ami_share.share(aws, "ami-0123456789abcdef0", ami_share.audience([OTHER]))
    official = aws.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    with pytest.raises(PctlError, match="not an image of this account") as err:
        ami_share.share(aws, official, ami_share.audience([OTHER]))
    assert "only the owner" in err.value.hint


def test_public_share_when_the_account_cannot_tell_then_unshare(aws, image):
    """moto lacks GetImageBlockPublicAccessState: pctl says it could not tell, and AWS itself would refuse."""
    result = ami_share.share(aws, image, ami_share.audience(public=True))
    assert {"Group": "all"} in _launch(aws, image)
    assert all({"Group": "all"} in perms for perms in _volume_perms(aws, image))
    assert any("could not read" in n for n in result.notes)
    ami_share.unshare(aws, image, ami_share.audience(public=True))
    assert _launch(aws, image) == [] and all(perms == [] for perms in _volume_perms(aws, image))


def test_public_share_refused_when_the_account_blocks_it(aws, image, monkeypatch):
    """Stand-in (moto has no such call): the account's GetImageBlockPublicAccessState says block-new-sharing."""
    ec2 = client(aws, "ec2")
    monkeypatch.setattr(ec2, "get_image_block_public_access_state",
                        lambda: {"ImageBlockPublicAccessState": "block-new-sharing"}, raising=False)
    with pytest.raises(PctlError, match="blocks public AMIs"):
        ami_share.share(aws, image, ami_share.audience(public=True))
    assert _launch(aws, image) == []  # nothing changed
    ami_share.share(aws, image, ami_share.audience([OTHER]))  # an account share is still fine
    assert _launch(aws, image) == [{"UserId": OTHER}]


@pytest.mark.parametrize("state, blocked", [("block-new-sharing", True), ("unblocked", False)])
def test_block_public_access_state_against_the_service_model(state, blocked):
    import boto3
    from botocore.stub import Stubber

    session = boto3.Session(region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="y")
    ec2 = client(session, "ec2")
    with Stubber(ec2) as stub:
        stub.add_response("get_image_block_public_access_state", {"ImageBlockPublicAccessState": state})
        assert ami_share.public_sharing_blocked(session) is blocked


def test_public_share_of_an_encrypted_image_is_refused(aws, image, monkeypatch):
    """An image with encrypted snapshots can never be public (AWS refuses): pctl says so first."""
    ec2 = client(aws, "ec2")
    real = ec2.describe_snapshots

    def encrypted(**kw):
        out = real(**kw)
        for s in out["Snapshots"]:
            s["Encrypted"] = True
        return out

    monkeypatch.setattr(ec2, "describe_snapshots", encrypted)  # moto's image snapshots are never encrypted
    with pytest.raises(PctlError, match="encrypted snapshots"):
        ami_share.share(aws, image, ami_share.audience(public=True))


def test_cli_public_share_needs_the_name_typed(aws, image, monkeypatch):
    from pctl.cli import cli

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    out = CliRunner().invoke(cli, ["ami", "share", image, "--public"], input="wrong\n")
    assert out.exit_code == 1 and "did not match" in str(out.exception) and "readable by anyone" in out.output
    assert _launch(aws, image) == []
    out = CliRunner().invoke(cli, ["ami", "share", image, "--public"], input="demo\n")
    assert out.exit_code == 0, out.output
    assert {"Group": "all"} in _launch(aws, image)
    out = CliRunner().invoke(cli, ["ami", "permissions", image, "--json"])
    assert out.exit_code == 0 and '"Group": "all"' in out.output


def test_copy_is_encrypted_tagged_and_found_again(aws, image):
    lines: list[str] = []
    first = copy_image(aws, image, "eu-west-1", poll_s=0.01, timeout_s=10, log=lines.append)
    assert first.created and first.region == "eu-west-1"
    ec2_eu = aws.client("ec2", region_name="eu-west-1")
    copy = ec2_eu.describe_images(ImageIds=[first.image_id])["Images"][0]
    source = aws.client("ec2").describe_images(ImageIds=[image])["Images"][0]
    tags = tag_dict(copy)
    assert tags[FINGERPRINT_TAG] == tag_dict(source)[FINGERPRINT_TAG]
    assert tags[PCLUSTER_BUILD_STATUS_TAG] == "available"
    assert tags[COPIED_FROM_TAG] == f"us-east-1/{image}"
    assert recorded_copies(source) == {"eu-west-1": first.image_id}
    assert find_baked_image(aws.__class__(region_name="eu-west-1"), tags[FINGERPRINT_TAG])["ImageId"] == first.image_id
    assert any("available" in line for line in lines)

    again = copy_image(aws, image, "eu-west-1", poll_s=0.01, timeout_s=10, log=lines.append)
    assert again.image_id == first.image_id and not again.created
    assert len(ec2_eu.describe_images(Owners=["self"])["Images"]) == 1
    region, found = find_in_other_regions(aws, tags[FINGERPRINT_TAG], ["us-east-1", "ap-south-1", "eu-west-1"])
    assert (region, found["ImageId"]) == ("eu-west-1", first.image_id)
    assert find_in_other_regions(aws, tags[FINGERPRINT_TAG], ["ap-south-1"]) is None


def test_copy_refuses_a_bad_region_and_the_same_region(aws, image):
    with pytest.raises(PctlError, match="not an AWS region"):
        copy_image(aws, image, "mars-1; x")
    with pytest.raises(PctlError, match="already in"):
        copy_image(aws, image, "us-east-1")


def test_cli_copy_twice(aws, image, monkeypatch):
    from pctl.cli import cli

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("PCTL_POLL_SECONDS", "0.01")
    out = CliRunner().invoke(cli, ["ami", "copy", image, "--to-region", "us-west-2"])
    assert out.exit_code == 0, out.output
    assert "us-west-2: ami-" in out.output and "(copied)" in out.output
    out = CliRunner().invoke(cli, ["ami", "copy", image, "--to-region", "us-west-2"])
    assert "found, copied earlier" in out.output


def test_cli_refuses_a_bad_region_and_an_org_with_an_ou(aws, image):
    from pctl.cli import cli

    out = CliRunner().invoke(cli, ["ami", "permissions", image, "--region", "us-east-1; rm -rf /"])
    assert out.exit_code == 1 and "not an AWS region" in str(out.exception)
    out = CliRunner().invoke(cli, ["ami", "share", image, "--region", "us-east-1", "--org-arn", ORG, "--ou-arn", OU])
    assert out.exit_code == 1 and "--org-arn and --ou-arn" in str(out.exception)


def test_carry_over_keeps_the_accounts_when_public_sharing_is_blocked_now(aws, image, monkeypatch):
    """The replaced image was public and shared with an account; since then the account blocks public AMIs."""
    from pctl.aws.ami_lineage import carry_over, replaced_image

    ami_share.share(aws, image, ami_share.audience([OTHER], public=True))
    ec2 = aws.client("ec2")
    base = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["aws-parallelcluster-*"]}])
    instance = ec2.run_instances(ImageId=base["Images"][0]["ImageId"], MinCount=1, MaxCount=1)["Instances"][0]
    newer = ec2.create_image(InstanceId=instance["InstanceId"], Name="newer", TagSpecifications=[{
        "ResourceType": "image", "Tags": [{"Key": "pctl:cluster", "Value": "demo"},
                                          {"Key": FINGERPRINT_TAG, "Value": "0" * 64}]}])["ImageId"]
    assert replaced_image(aws, newer)["ImageId"] == image
    # Stand-in (moto has no such call): the account now blocks public AMIs.
    monkeypatch.setattr(client(aws, "ec2"), "get_image_block_public_access_state",
                        lambda: {"ImageBlockPublicAccessState": "block-new-sharing"}, raising=False)
    done = carry_over(aws, image, newer, log=lambda _m: None, poll_s=0.01)
    assert len(done["problems"]) == 1 and "blocks public AMIs" in done["problems"][0]
    assert _launch(aws, newer) == [{"UserId": OTHER}]
