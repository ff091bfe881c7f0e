"""pctl.aws.bucket against moto: secure settings, upload, delete.

Buckets that receive objects here are made with ``tls_only=False``: moto treats the TLS-only policy's
conditional Deny as an unconditional one and answers 403 to every object request
(test_moto_denies_objects_under_the_tls_policy pins that, so the day moto fixes it this file says so).
"""

from __future__ import annotations

import json

import pytest

from pctl.aws.bucket import (
    default_bucket_name,
    delete_bucket,
    delete_prefix,
    ensure_bucket,
    upload_files,
    upload_texts,
)
from pctl.aws.network import delete_resources
from pctl.aws.resource import Resource
from pctl.errors import PctlError


def test_default_name_uses_account_and_region(aws):
    assert default_bucket_name(aws, "eu-west-1") == "pctl-123456789012-eu-west-1"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_bucket_is_encrypted_private_and_tls_only(aws, region):
    import boto3

    session = boto3.Session(region_name=region)
    assert ensure_bucket(session, "pctl-test-bucket", region, {"pctl:cluster": "demo"}) is True
    s3 = session.client("s3")
    enc = s3.get_bucket_encryption(Bucket="pctl-test-bucket")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    pab = s3.get_public_access_block(Bucket="pctl-test-bucket")["PublicAccessBlockConfiguration"]
    assert all(pab[k] for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"))
    policy = json.loads(s3.get_bucket_policy(Bucket="pctl-test-bucket")["Policy"])
    deny = policy["Statement"][0]
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    tags = s3.get_bucket_tagging(Bucket="pctl-test-bucket")["TagSet"]
    assert {"Key": "pctl:cluster", "Value": "demo"} in tags
    loc = s3.get_bucket_location(Bucket="pctl-test-bucket")["LocationConstraint"]
    assert (loc or "us-east-1") == region
    # A second call finds it and reports no creation.
    assert ensure_bucket(session, "pctl-test-bucket", region) is False


def test_kms_encryption(aws):
    ensure_bucket(aws, "pctl-kms", "us-east-1", kms_key_id="alias/pctl")
    rule = aws.client("s3").get_bucket_encryption(Bucket="pctl-kms")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/pctl"}


def test_shared_bucket_has_no_cluster_tag_only_its_creators_owner_id(aws):
    ensure_bucket(aws, "pctl-shared", "us-east-1", owner="0123456789abcdef")
    tags = aws.client("s3").get_bucket_tagging(Bucket="pctl-shared")["TagSet"]
    assert tags == [{"Key": "pctl:owner", "Value": "0123456789abcdef"}]


def test_upload_and_delete_prefix(aws, tmp_path):
    ensure_bucket(aws, "pctl-up", "us-east-1", tls_only=False)
    (tmp_path / "a.sh").write_text("echo a\n")
    urls = upload_files(aws, "pctl-up", "clusters/demo/", {"scripts/a.sh": str(tmp_path / "a.sh")})
    assert urls == {"scripts/a.sh": "s3://pctl-up/clusters/demo/scripts/a.sh"}
    upload_texts(aws, "pctl-up", "clusters/demo", {"b.sh": "echo b\n"})
    upload_texts(aws, "pctl-up", "clusters/other", {"c.sh": "echo c\n"})
    s3 = aws.client("s3")
    assert s3.get_object(Bucket="pctl-up", Key="clusters/demo/scripts/a.sh")["Body"].read() == b"echo a\n"
    assert s3.get_object(Bucket="pctl-up", Key="clusters/demo/b.sh")["Body"].read() == b"echo b\n"
    assert delete_prefix(aws, "pctl-up", "clusters/demo/") == 2
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="pctl-up").get("Contents", [])]
    assert keys == ["clusters/other/c.sh"]
    assert delete_prefix(aws, "pctl-up", "clusters/demo/") == 0


def test_upload_missing_file_is_a_pctl_error(aws, tmp_path):
    ensure_bucket(aws, "pctl-up", "us-east-1", tls_only=False)
    with pytest.raises(PctlError, match="uploading"):
        upload_files(aws, "pctl-up", "x", {"a": str(tmp_path / "missing")})


def test_delete_bucket_removes_all_versions(aws):
    ensure_bucket(aws, "pctl-ver", "us-east-1", tls_only=False)
    s3 = aws.client("s3")
    s3.put_bucket_versioning(Bucket="pctl-ver", VersioningConfiguration={"Status": "Enabled"})
    for body in (b"1", b"2"):
        s3.put_object(Bucket="pctl-ver", Key="k", Body=body)
    s3.delete_object(Bucket="pctl-ver", Key="k")  # leaves a delete marker too
    delete_bucket(aws, "pctl-ver")
    assert "pctl-ver" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    delete_bucket(aws, "pctl-ver")  # already gone: fine


def test_bucket_resources_through_delete_resources(aws):
    ensure_bucket(aws, "pctl-res", "us-east-1", tls_only=False)
    upload_texts(aws, "pctl-res", "p", {"x": "1"})
    res = [Resource("bucket", "pctl-res", "us-east-1"), Resource("bucket_objects", "pctl-res", "us-east-1", {"prefix": "p"})]
    assert {r.kind for r in delete_resources(aws, res, poll_s=0.01, timeout_s=5)} == {"bucket", "bucket_objects"}
    assert delete_resources(aws, res, poll_s=0.01, timeout_s=5) == []


def test_moto_denies_objects_under_the_tls_policy(aws):
    """Why other tests pass tls_only=False (moto limitation, not pctl behaviour)."""
    from botocore.exceptions import ClientError
    from moto.s3.models import FakeBucket

    if getattr(FakeBucket.get_permission, "_pctl_tls", False):  # tests/fixtures/moto_server.py ran first
        pytest.skip("the moto_server fixture made moto TLS-aware for this session (as AWS is for TLS requests)")

    ensure_bucket(aws, "pctl-tls", "us-east-1")
    with pytest.raises(ClientError):
        aws.client("s3").put_object(Bucket="pctl-tls", Key="k", Body=b"x")
    ensure_bucket(aws, "pctl-notls", "us-east-1", tls_only=False)
    with pytest.raises(ClientError):
        aws.client("s3").get_bucket_policy(Bucket="pctl-notls")
