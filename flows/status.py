"""The status flow: what pctl recorded about a cluster, refreshed from ParallelCluster when reachable.

    python -m flows.status NAME
"""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows._run import namer
from pctl import state
from pctl.lifecycle.status import next_step


@task(name="describe-cluster", cache_policy=NO_CACHE)
def refresh(name: str, region: str) -> dict[str, Any] | None:
    """pcluster's view; None when ParallelCluster is unreachable or does not know the cluster."""
    from tasks.cluster import describe

    try:
        return describe(name, region)
    except Exception:  # status must answer even offline: state alone is still useful
        return None


@flow(name="cluster-status", flow_run_name=namer("status"), log_prints=False)
def cluster_status(name: str) -> dict[str, Any]:
    st = state.get(name)
    info = refresh(name, st.region)
    if info is not None:
        from flows.create import _record_cluster

        st = state.update(name, lambda s: _record_cluster(s, info))
    return {"state": st.model_dump(), "pcluster": info, "next_step": next_step(st)}


if __name__ == "__main__":
    from pctl.cli import run_command

    run_command("status", prog_name="python -m flows.status")
