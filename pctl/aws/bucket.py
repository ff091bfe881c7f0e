"""pctl's S3 bucket: scripts and baked-image markers live here. Private, encrypted, TLS-only.

Every call on an existing bucket passes ``ExpectedBucketOwner`` (this account): if the name ever
belongs to another account (deleted and re-created by someone else), S3 refuses instead of reading
from or writing to a stranger's bucket.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pctl.aws.errors import error_code, is_not_found, to_pctl_error
from pctl.aws.session import account_id, client
from pctl.errors import AwsError

if TYPE_CHECKING:
    import boto3


def default_bucket_name(session: boto3.Session, region: str) -> str:
    """pctl-<account>-<region>: one bucket per account and region, shared by its clusters."""
    try:
        return f"pctl-{account_id(session)}-{region}"
    except Exception as exc:
        raise to_pctl_error(exc, "finding the AWS account id") from exc


def expected_owner(session: boto3.Session) -> dict[str, str]:
    """``{"ExpectedBucketOwner": account}`` for every bucket call (cached per session)."""
    cache = session.__dict__.setdefault("_pctl_account", {})
    if "id" not in cache:
        try:
            cache["id"] = account_id(session)
        except Exception as exc:
            raise to_pctl_error(exc, "finding the AWS account id") from exc
    return {"ExpectedBucketOwner": cache["id"]}


def bucket_exists(session: boto3.Session, name: str) -> bool:
    """True if the bucket exists and is ours; AwsError if it exists but belongs to someone else."""
    s3 = client(session, "s3")
    try:
        s3.head_bucket(Bucket=name, **expected_owner(session))
        return True
    except Exception as exc:
        code = error_code(exc)
        if is_not_found(exc) or code in ("404", "NoSuchBucket"):
            return False
        if code in ("403", "AccessDenied"):
            raise AwsError(
                f"Bucket {name} exists but this AWS identity cannot use it (it may belong to another account).",
                "Set a different bucket name in pctl's config.",
            ) from exc
        raise


def _tls_only_policy(name: str) -> str:
    arn = f"arn:aws:s3:::{name}"
    return json.dumps({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, f"{arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }],
    })


def ensure_bucket(
    session: boto3.Session,
    name: str,
    region: str,
    tags: dict[str, str] | None = None,
    *,
    kms_key_id: str | None = None,
    tls_only: bool = True,
    owner: str | None = None,
    before_create: Callable[[], None] | None = None,
) -> bool:
    """Create the bucket if missing (True) and (re)apply its security settings either way.

    ``before_create`` runs just before CreateBucket (the caller records "this bucket may be mine" in
    its state first, so a kill right after CreateBucket cannot leak it). A bucket created here is tagged
    ``pctl:owner=<owner>`` (default: this installation) at once, so a delete from tags can find it.

    Default encryption is SSE-S3 (AES256), or SSE-KMS with ``kms_key_id``; all public access is blocked;
    a bucket policy denies non-TLS requests. Pass ``tags`` with pctl:cluster only for a per-cluster bucket.

    ``tls_only=False`` skips that policy. Only for moto: moto evaluates a Deny statement whose Condition
    it cannot resolve as a plain Deny, so the standard TLS-only policy blocks every object request there
    (in-process and moto_server alike). Real AWS always gets the policy.
    """
    s3 = client(session, "s3", region)
    doing = f"preparing bucket {name}"
    try:
        created = False
        if not bucket_exists(session, name):
            kwargs: dict = {"Bucket": name}
            if region != "us-east-1":  # us-east-1 rejects an explicit LocationConstraint
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            if before_create is not None:
                before_create()
            try:
                s3.create_bucket(**kwargs)
                created = True
            except Exception as exc:
                if error_code(exc) != "BucketAlreadyOwnedByYou":
                    raise
        own = expected_owner(session)
        if created:
            from pctl.aws.ownership import OWNER_TAG

            if owner is None:
                from pctl.state import owner_id

                owner = owner_id()
            tags = {**(tags or {}), OWNER_TAG: owner}
        rule: dict = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        if kms_key_id:
            rule = {
                "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id},
                "BucketKeyEnabled": True,
            }
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [rule]}, **own)
        s3.put_public_access_block(
            **own,
            Bucket=name,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )
        if tls_only:
            s3.put_bucket_policy(Bucket=name, Policy=_tls_only_policy(name), **own)
        if tags:
            s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
                                  **own)
        return created
    except AwsError:
        raise
    except Exception as exc:
        if error_code(exc) == "BucketAlreadyExists":
            raise AwsError(
                f"The bucket name {name} is taken by another AWS account.",
                "Bucket names are global; set another name in pctl's config.",
            ) from exc
        raise to_pctl_error(exc, doing) from exc


def s3_url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def _key(prefix: str, relpath: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{relpath.lstrip('/')}" if prefix else relpath.lstrip("/")


def upload_files(session: boto3.Session, bucket: str, prefix: str, files: dict[str, str]) -> dict[str, str]:
    """Upload local files: ``{relpath: local path}`` -> ``{relpath: s3://bucket/prefix/relpath}``."""
    s3 = client(session, "s3")
    out: dict[str, str] = {}
    for rel, local in files.items():
        key = _key(prefix, rel)
        try:
            s3.upload_file(str(Path(local)), bucket, key, ExtraArgs=expected_owner(session))
        except Exception as exc:
            raise to_pctl_error(exc, f"uploading {local} to {s3_url(bucket, key)}") from exc
        out[rel] = s3_url(bucket, key)
    return out


def upload_texts(session: boto3.Session, bucket: str, prefix: str, texts: dict[str, str]) -> dict[str, str]:
    """Upload in-memory text (e.g. rendered scripts): ``{relpath: content}`` -> ``{relpath: s3 url}``."""
    s3 = client(session, "s3")
    out: dict[str, str] = {}
    for rel, text in texts.items():
        key = _key(prefix, rel)
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=text.encode(), **expected_owner(session))
        except Exception as exc:
            raise to_pctl_error(exc, f"uploading {s3_url(bucket, key)}") from exc
        out[rel] = s3_url(bucket, key)
    return out


def delete_prefix(session: boto3.Session, bucket: str, prefix: str) -> int:
    """Delete every object (all versions) under ``prefix``; returns how many were deleted."""
    s3 = client(session, "s3")
    prefix = prefix.lstrip("/")
    deleted = 0
    try:
        paginator = s3.get_paginator("list_object_versions")
        own = expected_owner(session)
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix, **own):
            batch = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for i in range(0, len(batch), 1000):
                chunk = batch[i : i + 1000]
                resp = s3.delete_objects(Bucket=bucket, Delete={"Objects": chunk, "Quiet": True}, **own)
                if resp.get("Errors"):
                    first = resp["Errors"][0]
                    raise AwsError(
                        f"Could not delete s3://{bucket}/{first['Key']}: {first.get('Message')} ({first.get('Code')}).",
                        "Check the bucket policy and your permissions, then re-run.",
                    )
                deleted += len(chunk)
    except AwsError:
        raise
    except Exception as exc:
        if is_not_found(exc):
            return deleted
        raise to_pctl_error(exc, f"deleting s3://{bucket}/{prefix}") from exc
    return deleted


def is_empty(session: boto3.Session, bucket: str) -> bool:
    """No object and no object version in the bucket."""
    s3 = client(session, "s3")
    own = expected_owner(session)
    return not s3.list_object_versions(Bucket=bucket, MaxKeys=1, **own).get("Versions") and \
        not s3.list_objects_v2(Bucket=bucket, MaxKeys=1, **own).get("KeyCount")


def delete_bucket(session: boto3.Session, bucket: str, owner: str | None = None) -> None:
    """Empty the bucket (every version) and delete it. A missing bucket is not an error.

    ForeignResource (nothing deleted) when the bucket's pctl:owner tag names another installation.
    """
    from pctl.aws.ownership import OWNER_TAG, ForeignResource, bucket_tags, describe_owner

    if owner is None:
        from pctl.state import owner_id

        owner = owner_id()
    try:
        theirs = bucket_tags(session, bucket).get(OWNER_TAG)
    except Exception as exc:
        if is_not_found(exc):
            return
        raise to_pctl_error(exc, f"reading the tags of bucket {bucket}") from exc
    if theirs is not None and theirs != owner:
        raise ForeignResource(f"bucket {bucket} belongs to another {describe_owner(theirs)}; not deleted",
                              "its owner deletes it")
    delete_prefix(session, bucket, "")
    try:
        client(session, "s3").delete_bucket(Bucket=bucket, **expected_owner(session))
    except Exception as exc:
        if is_not_found(exc):
            return
        raise to_pctl_error(exc, f"deleting bucket {bucket}") from exc
