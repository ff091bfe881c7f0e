"""Is AWS reachable from here? Decides whether a dry run adds the online checks (tier 2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Reach:
    ok: bool
    reason: str  # why not, or who we are


def aws_reachable(region: str, timeout_s: float = 4.0) -> Reach:
    """Credentials resolve AND STS answers within the timeout (one attempt, no retries)."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        return Reach(False, "boto3 is not installed")
    try:
        session = boto3.Session(region_name=region)
        if session.get_credentials() is None:
            return Reach(False, "no AWS credentials")
        sts = session.client("sts", config=Config(connect_timeout=timeout_s, read_timeout=timeout_s,
                                                   retries={"max_attempts": 1, "mode": "standard"}))
        arn = sts.get_caller_identity()["Arn"]
    except Exception as exc:
        return Reach(False, f"AWS did not answer ({type(exc).__name__})")
    return Reach(True, arn)
