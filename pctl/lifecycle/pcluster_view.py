"""ParallelCluster's view of a cluster (plain Python: used by tasks and by `pctl status` without Prefect)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

from pctl.errors import NotFound


def is_missing(exc: BaseException) -> bool:
    if isinstance(exc, NotFound):
        return True
    text = f"{type(exc).__name__} {exc}".lower()
    return "does not exist" in text or "not found" in text or "notfound" in text


def describe(name: str, region: str) -> dict[str, Any] | None:
    """pcluster's describe_cluster, or None when there is no such cluster."""
    from pctl import pcluster_engine

    try:
        return pcluster_engine.describe_cluster(name, region)
    except Exception as exc:
        if is_missing(exc):
            return None
        raise


def status_of(info: dict[str, Any] | None) -> str | None:
    return None if info is None else (info.get("clusterStatus") or info.get("status"))


def failures_of(info: dict[str, Any]) -> str:
    reasons = [f.get("failureReason") or f.get("failureCode") for f in info.get("failures") or []]
    return "; ".join(r for r in reasons if r) or info.get("cloudFormationStackStatus") or "no reason given"


def head_ips(info: dict[str, Any]) -> tuple[str | None, str | None]:
    head = info.get("headNode") or {}
    return head.get("publicIpAddress"), head.get("privateIpAddress")


@contextlib.contextmanager
def quiet_pcluster_logs() -> Iterator[None]:
    """pcluster and botocore log to the console on a failed call (a stray "Unable to locate credentials"
    line): while pctl reports the error itself, those loggers stay quiet."""
    names = ("pcluster", "botocore", "boto3", "")
    saved = [(logging.getLogger(n), logging.getLogger(n).level) for n in names]
    for logger, _ in saved:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in saved:
            logger.setLevel(level)
