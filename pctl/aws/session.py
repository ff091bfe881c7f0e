"""Sessions and clients: one place that decides region, credentials, endpoint and retries."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import boto3

# Standard retry mode backs off on throttling and 5xx; 10 attempts rides out API bursts during creates.
_RETRIES = {"mode": "standard", "max_attempts": 10}


def make_session(region: str, profile: str | None = None, credentials: dict[str, Any] | None = None) -> boto3.Session:
    """A boto3 session for ``region``.

    ``credentials`` may use boto3 names (aws_access_key_id, aws_secret_access_key, aws_session_token) or
    STS names (AccessKeyId, SecretAccessKey, SessionToken). AWS_ENDPOINT_URL (e.g. a moto_server in flow
    tests) is honoured by botocore itself for every client made from the session.
    """
    import boto3

    kwargs: dict[str, Any] = {"region_name": region}
    if profile:
        kwargs["profile_name"] = profile
    if credentials:
        kwargs["aws_access_key_id"] = credentials.get("aws_access_key_id") or credentials.get("AccessKeyId")
        kwargs["aws_secret_access_key"] = credentials.get("aws_secret_access_key") or credentials.get(
            "SecretAccessKey"
        )
        token = credentials.get("aws_session_token") or credentials.get("SessionToken")
        if token:
            kwargs["aws_session_token"] = token
    try:
        return boto3.Session(**kwargs)
    except Exception as exc:  # ProfileNotFound and friends
        from pctl.aws.errors import to_pctl_error

        raise to_pctl_error(exc, f"opening an AWS session for {region}") from exc


def client(session: boto3.Session, service: str, region: str | None = None) -> Any:
    """A client with pctl's retry policy."""
    from botocore.config import Config

    # Clients are thread-safe and cost ~20 ms each to build: keep one per service and region per session.
    cache: dict = session.__dict__.setdefault("_pctl_clients", {})
    key = (service, region or session.region_name)
    if key not in cache:
        cache[key] = session.client(
            service,
            region_name=key[1],
            config=Config(retries=_RETRIES, user_agent_extra="pctl"),
        )
        if service == "s3":
            cache[key].meta.events.register("provide-client-params.s3.*", _expected_bucket_owner)
    return cache[key]


_PCTL_BUCKET = re.compile(r"pctl-(\d{12})-[a-z0-9-]+")


def _expected_bucket_owner(params: dict[str, Any], model: Any, **_: Any) -> None:
    """Every call on pctl's bucket `pctl-<account>-<region>` names that account as ExpectedBucketOwner:
    if the name ever belonged to someone else (deleted, then re-created by a stranger), S3 refuses (403)
    instead of pctl reading a stranger's scripts or writing into their bucket (issue 14)."""
    bucket = params.get("Bucket")
    if not isinstance(bucket, str) or "ExpectedBucketOwner" in params:
        return
    members = getattr(getattr(model, "input_shape", None), "members", {}) or {}
    match = _PCTL_BUCKET.fullmatch(bucket)
    if match and "ExpectedBucketOwner" in members:
        params["ExpectedBucketOwner"] = match.group(1)


def account_id(session: boto3.Session) -> str:
    return client(session, "sts").get_caller_identity()["Account"]
