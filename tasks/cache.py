"""The binary cache step of a create: the signing key and the head node's managed cache policy (issue 15).

A ParallelCluster head node with ``install: shared`` is the node that builds and pushes. It needs the
cache's objects, a listing of its prefix and the signing key's secret: pctl.cache.access makes one managed
policy per cluster for that, which the rendered config attaches under ``HeadNode/Iam/AdditionalIamPolicies``.
The policy is recorded in state the moment it exists and goes with the cluster (teardown's leftovers step,
after ParallelCluster has deleted the role that held it).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from tasks._common import AWS_RETRIES, AWS_RETRY_DELAYS, AWS_TAGS, log, poll_seconds, transient_failure


@task(name="binary-cache-access", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def ensure_access(name: str, region: str, bucket: str, owner: str) -> dict[str, Any]:
    """The signing key (made once per account and region) and the head node's cache policy for cluster NAME.

    ``bucket``: the cache's bucket (pctl's, or the template's ``binary_cache: s3://BUCKET``), which must
    exist. Returns {"policy_arn", "secret_arn", "bucket", "fingerprint"}. Raises PctlError with a hint."""
    from pctl import state
    from pctl.aws.ownership import OWNER_TAG
    from pctl.aws.session import make_session
    from pctl.cache.access import cluster_policy_name, ensure_cluster_policy
    from pctl.model.constants import CLUSTER_TAG

    session = make_session(region)
    key, secret_arn = _key(session, bucket)
    tags = {CLUSTER_TAG: name, OWNER_TAG: owner, "pctl:role": "spack-cache-head-node"}
    arn = ensure_cluster_policy(session, name, bucket, secret_arn, tags)
    state.update(name, lambda s: s.add_resource("iam_policy", arn, region, {"name": cluster_policy_name(name),
                                                                                 "bucket": bucket}))
    log(f"binary cache s3://{bucket}/spack-cache/: the head node may read and push it, signing with key "
        f"{key.fingerprint[-16:]} (IAM policy {cluster_policy_name(name)})")
    return {"policy_arn": arn, "secret_arn": secret_arn, "bucket": bucket, "fingerprint": key.fingerprint}


@task(name="binary-cache-key", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def signing_key(name: str, region: str, bucket: str) -> dict[str, Any]:
    """The cache's bucket checked and the signing key made once (PCS: the login role gets the grant itself).

    Returns {"secret_arn", "bucket", "fingerprint"}. Raises PctlError with a hint."""
    from pctl.aws.session import make_session

    key, secret_arn = _key(make_session(region), bucket)
    log(f"binary cache s3://{bucket}/spack-cache/ for {name}: signing key {key.fingerprint[-16:]}")
    return {"secret_arn": secret_arn, "bucket": bucket, "fingerprint": key.fingerprint}


def _key(session: Any, bucket: str) -> tuple[Any, str]:
    from pctl.aws.bucket import bucket_exists
    from pctl.cache.keys import ensure_signing_key
    from pctl.errors import PctlError

    if not bucket_exists(session, bucket):
        raise PctlError(f"the binary cache's bucket s3://{bucket} does not exist (software.binary_cache)",
                        "create it (`aws s3 mb s3://BUCKET`), or set binary_cache: true to use pctl's bucket")
    return ensure_signing_key(session)


@task(name="delete-binary-cache-access", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def remove_access(name: str, region: str) -> list[str]:
    """Delete the cluster's cache policy (recorded in state); the key and the cache itself stay (shared)."""
    from pctl.aws.session import make_session
    from tasks._common import delete_and_forget, state_resources

    policies = state_resources(name, "iam_policy")
    if not policies:
        return []
    return [r.id for r in delete_and_forget(make_session(region), name, policies, 15)]


@task(name="cache-warm", cache_policy=NO_CACHE, tags=AWS_TAGS)
def warm(template: Any, region: str, bucket: str, timeout_minutes: int, subnet_id: str | None) -> dict[str, Any]:
    """Build TEMPLATE's packages into the cache on a temporary builder (pctl.cache.warm): no retries, since
    a retry would start a second builder of hours; the builder, its role and prefix go whatever happens.

    ``bucket``: pctl's bucket (the builder's script and markers). Returns {"builder", "seconds", "id"}."""
    from pctl.aws.ami_bake import builder_subnet
    from pctl.aws.session import make_session
    from pctl.cache.warm import warm as do_warm
    from pctl.pcluster_engine import installed_version

    session = make_session(region)
    return do_warm(session, template, bucket=bucket, pcluster_version=installed_version(),
                   timeout_s=timeout_minutes * 60, subnet_id=builder_subnet(session, subnet_id), log=log,
                   poll_s=poll_seconds(30), profile_wait_s=120)
