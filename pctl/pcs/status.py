"""`pctl status NAME --live` for a PCS cluster: PCS's own states of the cluster, node groups and queues."""

from __future__ import annotations

from typing import Any


def live_status(name: str, region: str) -> dict[str, Any] | None:
    """`{"cluster": {name, id, status}, "node_groups": [...], "queues": [...]}`; None: no such PCS cluster.

    Raises botocore errors (no credentials, no network) for the caller to show as "unreachable".
    """
    from pctl.aws.session import client, make_session
    from pctl.pcs.executor import Executor
    from pctl.pcs.limits import CLUSTER_NAME_MAX
    from pctl.pcs.plan import pcs_name

    return Executor(client(make_session(region), "pcs")).status(pcs_name(name, CLUSTER_NAME_MAX))


def rows(status: dict[str, Any] | None) -> list[tuple[str, str]]:
    """Status table rows: one for the cluster, one per node group and queue."""
    if status is None:
        return [("PCS cluster", "not found in AWS")]
    out = [("PCS cluster", f"{status['cluster']['status']} ({status['cluster']['id']})")]
    out += [(f"node group {g['name']}", g["status"]) for g in status["node_groups"]]
    out += [(f"queue {q['name']}", q["status"]) for q in status["queues"]]
    return out
