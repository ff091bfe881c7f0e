"""IAM for the cache: what a node that installs (and pushes) needs, and nothing more.

One policy document, ``cache_policy``: read and write objects under ``spack-cache/`` of the cache's bucket,
list that prefix only (Spack rebuilds the index from the listing), and read the signing key's secret.
Nothing else of the bucket, no other secret, no delete.

- A builder role (AMI bake, cache warm) gets it inline (``grant_builder``).
- A ParallelCluster head node (``install: shared``: the only node that installs) gets it as a managed policy
  pctl creates at create time, ``/parallelcluster/pctl/pctl-<cluster>-spack-cache``, rendered under
  ``HeadNode/Iam/AdditionalIamPolicies`` and deleted with the cluster. The ``/parallelcluster/`` path is
  what ParallelCluster's documented user policy lets ``pcluster create-cluster`` attach
  (``iam:PolicyARN`` like ``arn:*:iam::<account>:policy/parallelcluster/*``). S3Access cannot do this job:
  its ``KeyName`` form gives no ``s3:ListBucket``, and nothing in it reaches Secrets Manager.
- Compute nodes never install, so they get no cache access at all.
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


CLUSTER_POLICY_PATH = "/parallelcluster/pctl/"


def cluster_policy_name(cluster: str) -> str:
    """``pctl-<cluster>-spack-cache`` (cluster names are at most 60 characters: within IAM's 128)."""
    return f"pctl-{cluster}-spack-cache"


def cluster_policy_arn(account: str, cluster: str, arn_partition: str = "aws") -> str:
    return f"arn:{arn_partition}:iam::{account}:policy{CLUSTER_POLICY_PATH}{cluster_policy_name(cluster)}"


def ensure_cluster_policy(session: boto3.Session, cluster: str, bucket: str, secret_arn: str,
                          tags: dict[str, str]) -> str:
    """Create (or bring up to date) the head node's managed cache policy; returns its ARN.

    Idempotent: an existing policy whose default version differs gets a new default version (the oldest
    non-default one goes first when IAM's five are used). ``tags`` go on a new policy (pctl:cluster,
    pctl:owner). Raises PctlError (AwsError) from the IAM calls, with a hint."""
    from pctl.aws.errors import error_code, to_pctl_error
    from pctl.aws.iam import partition
    from pctl.aws.session import account_id, client

    iam = client(session, "iam")
    arn_partition = partition(session)
    arn = cluster_policy_arn(account_id(session), cluster, arn_partition)
    document = cache_policy(bucket, secret_arn, arn_partition)
    try:
        try:
            iam.create_policy(PolicyName=cluster_policy_name(cluster), Path=CLUSTER_POLICY_PATH,
                              PolicyDocument=json.dumps(document),
                              Description=f"pctl: the Spack binary cache s3://{bucket}/{CACHE_PREFIX}/ for cluster {cluster}",
                              Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
            return arn
        except Exception as exc:
            if error_code(exc) != "EntityAlreadyExists":
                raise
        policy = iam.get_policy(PolicyArn=arn)["Policy"]
        current = iam.get_policy_version(PolicyArn=arn, VersionId=policy["DefaultVersionId"])["PolicyVersion"]
        if _document(current["Document"]) == document:
            return arn
        versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
        old = sorted((v for v in versions if not v["IsDefaultVersion"]), key=lambda v: v["CreateDate"])
        if len(versions) >= 5 and old:
            iam.delete_policy_version(PolicyArn=arn, VersionId=old[0]["VersionId"])
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(document), SetAsDefault=True)
        return arn
    except Exception as exc:
        raise to_pctl_error(exc, f"creating the IAM policy {cluster_policy_name(cluster)} (the head node's "
                                 "access to the Spack binary cache)") from exc


def _document(doc: Any) -> Any:
    """A policy version's document as a dict (boto3 decodes it; some endpoints return URL-encoded JSON)."""
    if isinstance(doc, str):
        from urllib.parse import unquote

        return json.loads(unquote(doc))
    return doc


def grant_builder(session: boto3.Session, role_name: str, bucket: str, secret_arn: str | None) -> None:
    """Put the cache policy on an existing builder role (re-written on every call)."""
    from pctl.aws.iam import partition
    from pctl.aws.session import client

    client(session, "iam").put_role_policy(RoleName=role_name, PolicyName=POLICY_NAME,
                                           PolicyDocument=json.dumps(cache_policy(bucket, secret_arn,
                                                                                  partition(session))))
