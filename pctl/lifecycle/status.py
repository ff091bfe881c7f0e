"""What to tell the user about a cluster's state: the next command to run."""

from __future__ import annotations

from pctl.state import ClusterState, Status


def next_step(st: ClusterState) -> str:
    n = st.name
    if st.status == Status.ACTIVE:
        if st.cluster_status and st.cluster_status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            return f"ParallelCluster reports {st.cluster_status}; check it, or `pctl delete {n}`"
        ip = st.head_node_public_ip or st.head_node_private_ip
        return (f"ready: ssh to the head node ({ip}), submit jobs with sbatch; `pctl delete {n}` when done"
                if ip else f"ready; `pctl delete {n}` when done")
    if st.status == Status.CREATING:
        return (f"a create is running or was interrupted; if none is running, re-run `pctl create "
                f"{st.template_source or 'TEMPLATE'}{'' if st.template_source and n in st.template_source else f' --name {n}'}` to resume, "
                f"or `pctl delete {n}`")
    if st.status == Status.CREATE_FAILED:
        return (f"fix the cause ({st.last_error or 'see history'}), then re-run `pctl create` to resume, "
                f"or `pctl delete {n}` to remove what exists")
    if st.status == Status.ROLLED_BACK:
        left = "nothing is left in AWS" if not st.resources else f"{len(st.resources)} resources remain"
        return f"the create was rolled back ({left}); fix the cause and re-run `pctl create`, or `pctl delete {n}`"
    if st.status == Status.DELETING:
        return f"a delete is running or was interrupted; run `pctl delete {n}` again to finish it"
    if st.status == Status.DELETE_FAILED:
        return f"the delete stopped ({st.last_error or 'see history'}); fix the cause and `pctl delete {n}` again"
    return f"`pctl delete {n}` to clean up"
