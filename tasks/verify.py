"""The verify step: SSH to the head node, check software/users/mounts/jobs, publish the table.

`verify_node` is the Prefect task (a markdown artifact per run); `verify_cluster(name)` is what the
create flow calls after the cluster is up: it resolves the node from the cluster's state and raises
VerifyFailed (listing exactly what is missing) when a check fails.
"""

from __future__ import annotations

import re
from typing import Any

from prefect import task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pctl.verify import VerifyTarget, failure, resolve_target, run_verify
from tasks._common import log, poll_seconds


def artifact_key(name: str) -> str:
    """Prefect artifact keys allow lowercase letters, digits and dashes only."""
    return "verify-" + (re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-") or "cluster")


@task(name="verify", cache_policy=NO_CACHE)  # a verification is only worth anything when it runs
def verify_node(
    target: VerifyTarget,
    accept_new_host_key: bool = False,
    wait_timeout_s: float = 3600,
    job_timeout_s: float = 900,
) -> dict[str, Any]:
    log(f"verify: connecting to {target.user}@{target.host}:{target.port} "
        f"(template {target.template_label}); waiting up to {wait_timeout_s:.0f}s for the software install")
    report = run_verify(target, accept_new_host_key=accept_new_host_key, wait_timeout_s=wait_timeout_s,
                        poll_s=poll_seconds(10), job_timeout_s=job_timeout_s)
    create_markdown_artifact(
        markdown=report.markdown(), key=artifact_key(target.name),
        description=f"pctl verify of {target.name}: {'passed' if report.ok else 'FAILED'}",
    )
    log("verify results:\n" + report.table())
    return report.to_dict()


def raise_if_failed(result: dict[str, Any]) -> dict[str, Any]:
    if not result["ok"]:
        from pctl.verify import Check, VerifyReport

        raise failure(VerifyReport(result["target"], [Check(**c) for c in result["checks"]]))
    return result


def verify_cluster(name: str, timeout_minutes: int = 60, accept_new_host_key: bool = False) -> dict[str, Any]:
    """By cluster name (the create flow's last step): state gives the head node and the template."""
    target = resolve_target(name, accept_new_host_key=accept_new_host_key)
    return raise_if_failed(verify_node(target, accept_new_host_key, wait_timeout_s=timeout_minutes * 60))
