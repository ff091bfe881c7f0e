"""Bootstrap: pctl's encrypted bucket and the rendered node scripts the cluster config points at."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.words import plural
from tasks._common import AWS_RETRIES, AWS_RETRY_DELAYS, AWS_TAGS, forget, log, transient_failure


def prefix_for(name: str) -> str:
    return f"pctl/{name}"


@task(name="bootstrap-bucket", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def ensure_bucket(name: str, region: str, epoch: str) -> dict[str, Any]:
    """pctl's per-account bucket (private, encrypted, TLS-only); idempotent. Returns bucket, prefix, scripts URL."""
    from pctl import state
    from pctl.aws import bucket as b
    from pctl.aws.session import make_session

    session = make_session(region)
    bucket = b.default_bucket_name(session, region)

    def _pending() -> None:  # write-ahead (issue 14): a kill right after CreateBucket cannot leak the bucket
        state.update(name, lambda s: s.add_resource("bucket", bucket, region, {"shared": True, "created_by": name}))

    created = b.ensure_bucket(session, bucket, region, before_create=_pending)
    prefix = prefix_for(name)

    def _record(s: state.ClusterState) -> None:
        s.bucket, s.scripts_prefix = bucket, prefix
        s.add_resource("bucket_objects", bucket, region, {"prefix": prefix})
        if created:  # a fresh shared bucket: rollback may remove it if it is still empty then
            s.add_resource("bucket", bucket, region, {"shared": True, "created_by": name})
        else:  # someone else created it first: not ours to remove
            s.resources = [r for r in s.resources if not (r.kind == "bucket" and r.id == bucket)]

    state.update(name, _record)
    log(f"bucket s3://{bucket} ready" + (" (created)" if created else ""))
    return {"bucket": bucket, "prefix": prefix, "url": f"s3://{bucket}/{prefix}/scripts", "created": created}


@task(name="bootstrap-upload", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def upload(name: str, region: str, bucket: str, prefix: str, files: dict[str, str]) -> dict[str, str]:
    """Upload the rendered files under s3://bucket/prefix/ (scripts land where the config expects them)."""
    from pctl.aws.bucket import upload_texts
    from pctl.aws.session import make_session

    urls = upload_texts(make_session(region), bucket, prefix, files)
    log(f"uploaded {plural(len(urls), 'file')} to s3://{bucket}/{prefix}/")
    return urls


@task(name="delete-bootstrap", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def teardown(name: str, region: str) -> int:
    """Delete this cluster's objects; the shared bucket goes only if this cluster created it and it is empty."""
    from pctl import state
    from pctl.aws import bucket as b
    from pctl.aws.session import make_session

    st = state.load(name)
    if st is None:
        return 0
    session = make_session(region)
    deleted = 0
    for rec in st.resources_of("bucket_objects"):
        deleted += b.delete_prefix(session, rec.id, rec.extra.get("prefix") or prefix_for(name))
    forget(name, st.resources_of("bucket_objects"))
    for rec in st.resources_of("bucket"):
        if b.bucket_exists(session, rec.id) and _is_empty(session, rec.id):
            b.delete_bucket(session, rec.id)
            log(f"deleted the empty bucket s3://{rec.id} this cluster had created")
        forget(name, [rec])
    log(f"deleted {deleted} bootstrap objects")
    return deleted


def _is_empty(session: Any, bucket: str) -> bool:
    from pctl.aws.bucket import is_empty  # with ExpectedBucketOwner (issue 14)

    return is_empty(session, bucket)
