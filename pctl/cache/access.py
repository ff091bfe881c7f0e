"""IAM for the cache beyond S3Access: what a builder (AMI bake, cache warm) needs to push.

A builder role gets one more inline policy, ``pctl-spack-cache``: read and write objects under
``spack-cache/`` of pctl's bucket, list that prefix (Spack rebuilds the index from the listing), and read the
signing key's secret. Nothing else of the bucket, no other secret.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from pctl.cache.location import CACHE_PREFIX, secret_policy

if TYPE_CHECKING:
    import boto3

POLICY_NAME = "pctl-spack-cache"


def cache_policy(bucket: str, secret_arn: str | None, arn_partition: str = "aws") -> dict[str, Any]:
    """Objects under s3://bucket/spack-cache/ (get, put), listing of that prefix only, the signing key."""
    statements: list[dict[str, Any]] = [
        {"Sid": "CacheObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": f"arn:{arn_partition}:s3:::{bucket}/{CACHE_PREFIX}/*"},
        {"Sid": "CacheList", "Effect": "Allow", "Action": ["s3:ListBucket"],
         "Resource": f"arn:{arn_partition}:s3:::{bucket}",
         "Condition": {"StringLike": {"s3:prefix": [f"{CACHE_PREFIX}/*"]}}},
    ]
    if secret_arn:
        statements.append(secret_policy(secret_arn))
    return {"Version": "2012-10-17", "Statement": statements}


def grant_builder(session: boto3.Session, role_name: str, bucket: str, secret_arn: str | None) -> None:
    """Put the cache policy on an existing builder role (re-written on every call)."""
    from pctl.aws.iam import partition
    from pctl.aws.session import client

    client(session, "iam").put_role_policy(RoleName=role_name, PolicyName=POLICY_NAME,
                                           PolicyDocument=json.dumps(cache_policy(bucket, secret_arn,
                                                                                  partition(session))))
