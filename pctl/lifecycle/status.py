"""What to tell the user about a cluster's state: the next command to run."""

from __future__ import annotations

from pctl.errors import PctlError
from pctl.state import ClusterState, Status, locked_by


class NameTaken(PctlError):
    pass


def refuse_existing(st: ClusterState | None, name: str, region: str, check_lock: bool = True) -> None:
    """A create over an existing, working cluster of this name (or one in another region) is refused.
    Plain Python: the CLI asks before Prefect starts, the flow again under the lock."""
    if st is None:
        return
    if st.status in (Status.ACTIVE, Status.DELETING, Status.DELETE_FAILED):
        raise NameTaken(f"cluster {name!r} already exists (status {st.status})",
                        f"`pctl status {name}`, or pick another --name")
    if st.region != region:
        raise NameTaken(f"cluster {name!r} was started in {st.region}, not {region}",
                        f"`pctl delete {name}` first, or pick another --name")
    if check_lock:
        refuse_locked(name)


def refuse_locked(name: str) -> None:
    """Another pctl process works on this cluster right now: say so before starting anything."""
    from pctl.errors import StateError

    holder = locked_by(name)
    if holder:
        raise StateError(f"cluster {name!r} is locked by {holder}",
                         f"another pctl run is working on it; wait for it (`pctl status {name}`)")


def next_step(st: ClusterState) -> str:
    n = st.name
    if st.status == Status.ACTIVE:
        if st.cluster_status and st.cluster_status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            return f"ParallelCluster reports {st.cluster_status}; check it, or `pctl delete {n}`"
        ip = st.head_node_public_ip or st.head_node_private_ip
        return (f"ready: ssh to the head node ({ip}), submit jobs with sbatch; `pctl delete {n}` when done"
                if ip else f"ready; `pctl delete {n}` when done")
    if st.status == Status.CREATING and not locked_by(n):
        return (f"the create stopped without recording why (its process ended); re-run `pctl create "
                f"{st.template_source or 'TEMPLATE'}` to resume, or `pctl delete {n}`")
    if st.status == Status.CREATING:
        return (f"a create is running or was interrupted; if none is running, re-run `pctl create "
                f"{st.template_source or 'TEMPLATE'}{'' if st.template_source and n in st.template_source else f' --name {n}'}` to resume, "
                f"or `pctl delete {n}`")
    if st.status == Status.CREATE_FAILED:
        return (f"fix the cause ({st.last_error or 'see history'}), then re-run `pctl create` to resume, "
                f"or `pctl delete {n}` to remove what exists")
    if st.status == Status.ROLLED_BACK:
        left = ("nothing is left in AWS" if not st.resources else
                "1 resource remains" if len(st.resources) == 1 else f"{len(st.resources)} resources remain")
        return f"the create was rolled back ({left}); fix the cause and re-run `pctl create`, or `pctl delete {n}`"
    if st.status == Status.DELETING:
        return f"a delete is running or was interrupted; run `pctl delete {n}` again to finish it"
    if st.status == Status.DELETE_FAILED:
        return f"the delete stopped ({st.last_error or 'see history'}); fix the cause and `pctl delete {n}` again"
    return f"`pctl delete {n}` to clean up"
