"""Where the cache lives, and the least access a node needs to it.

Layout: ``s3://<bucket>/spack-cache/v<spack version>/build_cache/...``. One prefix per Spack release: a
buildcache's layout and its spec hashes belong to the Spack that wrote them, and `pctl cache list` reads the
Spack version from the prefix (Spack 0.23's spec files do not carry it).
"""

from __future__ import annotations

import re
from typing import Any

CACHE_PREFIX = "spack-cache"
MIRROR_NAME = "pctl-account"
SECRET_NAME = "pctl/spack-cache/signing-key"
_VERSION_RE = re.compile(r"[0-9]+(\.[0-9A-Za-z_-]+)*")
_BUCKET_RE = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")


def version_prefix(spack_version: str) -> str:
    """``spack-cache/v0.23.1``: the mirror root of one Spack release (no trailing slash).

    Raises ValueError for a version that is not dotted digits/letters (it becomes part of an S3 key)."""
    if not _VERSION_RE.fullmatch(spack_version):
        raise ValueError(f"not a Spack version: {spack_version!r}")
    return f"{CACHE_PREFIX}/v{spack_version}"


def cache_url(bucket: str, spack_version: str) -> str:
    """The mirror URL Spack uses, ``s3://bucket/spack-cache/v<version>``. ValueError on a bad bucket name."""
    if not _BUCKET_RE.fullmatch(bucket):
        raise ValueError(f"not an S3 bucket name: {bucket!r}")
    return f"s3://{bucket}/{version_prefix(spack_version)}"


def user_bucket(url: str) -> str:
    """The bucket of a template's ``binary_cache: s3://BUCKET`` (a trailing ``/`` is allowed).

    Raises ValueError naming what is wrong: no ``s3://``, a key prefix (the cache's prefix is always
    ``spack-cache/``), or a name that breaks AWS's bucket naming rules."""
    from pctl.validation.rules import s3_bucket_problem

    if not url.startswith("s3://"):
        raise ValueError("must be s3://BUCKET")
    bucket, _, rest = url.removeprefix("s3://").partition("/")
    if rest:
        raise ValueError(f"must name the bucket only, not a key prefix (the cache goes under {CACHE_PREFIX}/)")
    problem = s3_bucket_problem(bucket)
    if problem or not _BUCKET_RE.fullmatch(bucket):
        raise ValueError(f"bucket {bucket!r} {problem or 'is not a bucket name'}")
    return bucket


def cache_bucket_for(binary_cache: bool | str, pctl_bucket: str | None) -> str | None:
    """Where a template's cache lives: its own ``s3://BUCKET``, else pctl's bucket; None when turned off
    (``binary_cache: false``) or when pctl's bucket is not known yet (a render with no scripts bucket)."""
    if binary_cache is False:
        return None
    if isinstance(binary_cache, str):
        return user_bucket(binary_cache)
    return pctl_bucket


def s3_access(bucket: str) -> dict[str, Any]:
    """The ParallelCluster ``S3Access`` entry (pctl.render.context shape): write on the cache prefix only.

    pcluster turns ``KeyName`` into the policy resource ``arn:aws:s3:::bucket/spack-cache/*``; nothing else
    of the bucket is readable or writable through this entry."""
    return {"bucket": bucket, "write": True, "key": f"{CACHE_PREFIX}/*"}


def bucket_access(bucket: str) -> Any:
    """The PCS node-policy entry: ``BucketAccess(bucket, write=True, prefix="spack-cache")``."""
    from pctl.pcs.nodes import BucketAccess

    return BucketAccess(bucket, True, CACHE_PREFIX)


def secret_policy(secret_arn: str) -> dict[str, Any]:
    """IAM statement that lets the head node (the node that pushes) read the signing key, and nothing else."""
    return {"Sid": "SpackCacheSigningKey", "Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
            "Resource": secret_arn}
