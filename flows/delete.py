"""The delete flow: the cluster (waiting until it is gone), then the network in dependency order, the
bootstrap objects, and the state. Never what the user supplied (their subnet, their buckets): only what
pctl recorded in state or tagged with pctl:cluster.

    python -m flows.delete NAME --yes
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows._run import announce, namer
from pctl import state
from pctl.errors import Interrupted, PctlError
from pctl.lifecycle import interrupt
from pctl.requests import DeleteRequest
from tasks._common import log


class DeleteFailed(PctlError):
    pass


@flow(name="delete-cluster", flow_run_name=namer("delete"), log_prints=False)
def delete_cluster(request: DeleteRequest) -> dict[str, Any]:
    from tasks import bootstrap, cluster, network, teardown
    from tasks import keypair as key_tasks

    announce(request)
    name = request.name
    with state.lock(name, "delete"):
        st = state.get(name)
        region = request.region or st.region
        st.set_status(state.Status.DELETING)
        state.save(st)
        step = "cluster"
        try:
            if st.platform == "pcs":
                from flows.pcs import delete_pcs

                existed = bool(delete_pcs(name, region, request.timeout_minutes))
            else:
                existed = cluster.delete(name, region, request.timeout_minutes, wait=request.wait)
            if not request.wait and existed:
                log(f"cluster {name} is deleting; run `pctl delete {name}` again to remove its network")
                return {"name": name, "status": state.Status.DELETING, "kept": []}
            step = "leftovers"
            teardown.delete_leftovers(name, region)
            step = "network"
            network.teardown(name, region, request.timeout_minutes)
            step = "bootstrap objects"
            bootstrap.teardown(name, region)
            step = "key pair"
            key_tasks.delete(name, region)
            step = "state"
            kept = teardown.forget_state(name)
            try:  # free the name for other installations (issue 14); everything else is gone already
                from pctl.aws.ownership import release_after_delete

                release_after_delete(name, region)
            except Exception as err:
                log(f"WARNING: could not release the claim on the name {name}: {err} "
                    f"(`pctl delete {name} --from-tags` releases it)")
        except BaseException as exc:
            interrupted = isinstance(exc, KeyboardInterrupt)
            interrupt.handled()
            reason = "interrupted (Ctrl-C)" if interrupted else (str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

            def _record(s: state.ClusterState) -> None:
                s.set_status(state.Status.DELETE_FAILED, f"{step}: {reason}")
                s.last_error = f"delete stopped at {step}: {reason}"

            for _ in range(3):  # a second Ctrl-C landing in the write: try again (the write is atomic)
                try:
                    if state.load(name) is not None:
                        state.update(name, _record)
                    break
                except KeyboardInterrupt:
                    continue
            remaining = state.load(name)
            left = ", ".join(f"{r.kind} {r.id}" for r in remaining.resources) if remaining else "nothing recorded"
            if interrupted:
                raise Interrupted(f"delete of {name} interrupted at {step}; still recorded: {left}",
                                  f"`pctl delete {name}` again finishes it") from None
            raise DeleteFailed(f"delete of {name} stopped at {step}: {reason}\nstill recorded: {left}",
                               getattr(exc, "hint", None) or f"fix the cause and run `pctl delete {name}` again: "
                               "it skips what is already gone") from exc
    log(f"cluster {name} deleted")
    return {"name": name, "status": "deleted", "kept": kept}


if __name__ == "__main__":
    from pctl.cli import run_command

    run_command("delete", prog_name="python -m flows.delete")
