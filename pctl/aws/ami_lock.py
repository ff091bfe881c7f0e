"""One bake per fingerprint: a lock object in pctl's per-account bucket, taken with an S3 conditional write.

Two runs that need the same image (two creates, a create and the scheduled rebuild) would otherwise both
launch a builder, fight over one IAM role name (`pctl.aws.iam.builder_name` is derived from the
fingerprint) and over one S3 marker prefix. The first run writes ``pctl-bakes/<fingerprint>.lock`` with
``If-None-Match: *`` (S3 conditional writes: exactly one writer succeeds); the others wait for the image the
winner makes and reuse it. The lock names its holder and an expiry (the bake's own time bound plus a
margin): a lock past its expiry belongs to a run that died, and is taken over with ``If-Match: <its ETag>``,
so two waiters cannot both take it over. It lives next to, not inside, the bake's prefix, which
`_remove_builder` deletes.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pctl.aws.errors import to_pctl_error
from pctl.aws.waiting import wait_until

LOCK_MARGIN_S = 30 * 60  # stopping the builder and snapshotting 80 GB happen after the install bound


def lock_key(fingerprint: str) -> str:
    return f"pctl-bakes/{fingerprint}.lock"


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", "")) or str(response.get("ResponseMetadata", {}).get(
        "HTTPStatusCode", ""))


def _precondition_failed(exc: BaseException) -> bool:
    return _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409")


@dataclass
class BakeLock:
    """A held lock; `release` deletes it only while it is still ours."""

    s3: Any
    bucket: str
    fingerprint: str
    token: str

    def release(self) -> None:
        holder = read_lock(self.s3, self.bucket, self.fingerprint)
        if holder is not None and holder[0].get("token") == self.token:
            self.s3.delete_object(Bucket=self.bucket, Key=lock_key(self.fingerprint))


def read_lock(s3: Any, bucket: str, fingerprint: str) -> tuple[dict, str] | None:
    """(holder record, ETag) or None when nobody holds the lock."""
    try:
        obj = s3.get_object(Bucket=bucket, Key=lock_key(fingerprint))
    except Exception as exc:
        if _code(exc) in ("NoSuchKey", "404", "NotFound"):
            return None
        raise
    try:
        record = json.loads(obj["Body"].read())
    except ValueError:
        record = {}
    return (record if isinstance(record, dict) else {}), obj["ETag"]


def try_acquire(s3: Any, bucket: str, fingerprint: str, *, holder: str, hold_s: float,
                now: Callable[[], float] = time.time) -> BakeLock | None:
    """Take the lock (or a stale one) and return it; None when a live run holds it."""
    token = uuid.uuid4().hex
    body = json.dumps({"holder": holder, "token": token, "host": socket.gethostname(), "pid": os.getpid(),
                       "since": now(), "expires": now() + hold_s}).encode()
    key = lock_key(fingerprint)
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json")
        return BakeLock(s3, bucket, fingerprint, token)
    except Exception as exc:
        if not _precondition_failed(exc):
            raise to_pctl_error(exc, f"taking the bake lock s3://{bucket}/{key}") from exc
    current = read_lock(s3, bucket, fingerprint)
    if current is None:  # released between our write and our read: try once more
        return try_acquire(s3, bucket, fingerprint, holder=holder, hold_s=hold_s, now=now) if hold_s > 0 else None
    record, etag = current
    if float(record.get("expires", 0)) > now():
        return None
    try:  # stale: the holder died; only one taker wins the conditional overwrite
        s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=etag, ContentType="application/json")
        return BakeLock(s3, bucket, fingerprint, token)
    except Exception as exc:
        if _precondition_failed(exc) or _code(exc) in ("NoSuchKey", "404"):
            return None
        raise to_pctl_error(exc, f"taking over the stale bake lock s3://{bucket}/{key}") from exc


def describe_holder(s3: Any, bucket: str, fingerprint: str, now: Callable[[], float] = time.time) -> str:
    current = read_lock(s3, bucket, fingerprint)
    if current is None:
        return "nobody (released)"
    record = current[0]
    age = now() - float(record.get("since", now()))
    return f"{record.get('holder', '?')} on {record.get('host', '?')} (pid {record.get('pid', '?')}, {age:.0f} s ago)"


def acquire_or_wait(
    s3: Any,
    bucket: str,
    fingerprint: str,
    *,
    holder: str,
    hold_s: float,
    find_image: Callable[[], str | None],
    wait_s: float,
    poll_s: float,
    log: Callable[[str], None] = print,
) -> tuple[BakeLock | None, str | None]:
    """(lock, None): this run bakes. (None, image_id): another run baked it meanwhile; reuse it.

    While another run holds the lock this waits (bounded by ``wait_s``) for its image. If that run gives
    up (the lock goes away, or expires) without an image, this run takes the lock and bakes itself.
    """
    said = False

    def attempt() -> tuple[BakeLock | None, str | None] | None:
        nonlocal said
        image = find_image()
        if image:
            return None, image
        lock = try_acquire(s3, bucket, fingerprint, holder=holder, hold_s=hold_s)
        if lock is not None:
            image = find_image()  # the holder may have finished between our two looks
            if image:
                lock.release()
                return None, image
            return lock, None
        if not said:
            log(f"AMI: another bake of fingerprint {fingerprint[:12]} is running "
                f"({describe_holder(s3, bucket, fingerprint)}); waiting for its image instead of baking twice")
            said = True
        return None

    return wait_until(attempt, timeout_s=wait_s, poll_s=poll_s, what=f"the other bake of {fingerprint[:12]}",
                      hint=f"If no other pctl is baking, delete s3://{bucket}/{lock_key(fingerprint)} and retry.")
