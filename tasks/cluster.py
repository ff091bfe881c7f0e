"""The cluster itself: pcluster's create, then polling describe_cluster until it is ready (bounded).

This module is the boundary where flow tests mock `pctl.pcluster_engine`: ParallelCluster's own
CloudFormation stack cannot run under moto (see docs/lifecycle.md).
"""

from __future__ import annotations

import time
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.errors import AwsError, PctlError
from pctl.lifecycle import interrupt
from pctl.lifecycle.pcluster_view import describe
from pctl.lifecycle.pcluster_view import failures_of as _failures
from pctl.lifecycle.pcluster_view import status_of as _status
from pctl.words import plural
from tasks._common import (
    AWS_RETRIES,
    AWS_RETRY_DELAYS,
    AWS_TAGS,
    log,
    log_live,
    poll_seconds,
    transient_failure,
)

IN_PROGRESS = {"CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"}
READY = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}
GONE = {"DELETE_COMPLETE"}


class ClusterFailed(PctlError):
    pass



class _StackWatch:
    """Progress of the cluster's CloudFormation stack while pcluster works: a live line each poll, a run-log
    line when the status, the count or the latest event changes (and once a minute)."""

    def __init__(self, name: str, region: str, start: float, deleting: bool = False) -> None:
        self.name, self.region, self.start, self.deleting = name, region, start, deleting
        self.last: tuple | None = None
        self.last_logged = start
        self.session = None

    def poll(self, status: str | None) -> None:
        from pctl.lifecycle.stack_progress import StackProgress, read

        elapsed = time.monotonic() - self.start
        found = None
        try:
            if self.session is None:
                from pctl.aws.session import make_session

                self.session = make_session(self.region)
            found = read(self.session, self.name, deleting=self.deleting)
        except Exception:  # progress is nice to have: never fail the wait for it
            found = None
        prog = StackProgress(status, found.done, found.total, found.event) if found else StackProgress(status, 0, 0, None)
        key = (prog.status, prog.done, prog.total, prog.event)
        changed = key != self.last or time.monotonic() - self.last_logged >= 60
        if changed:
            self.last, self.last_logged = key, time.monotonic()
        log_live(prog.line(self.name, elapsed), changed)


__all__ = ["describe", "create", "wait_created", "delete", "ClusterFailed"]


@task(name="cluster-create", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def create(name: str, config_text: str, region: str) -> str:
    """Start pcluster's create; a re-run finds the cluster already creating (or created) and does nothing."""
    from pctl import pcluster_engine

    status = _status(describe(name, region))
    if status in IN_PROGRESS | READY:
        log(f"cluster {name} already exists ({status}): not creating it again")
        return status
    if status is not None:
        raise ClusterFailed(f"a cluster named {name} already exists in {region} with status {status}",
                            f"delete it first (`pctl delete {name}`) or pick another --name")
    log(f"creating cluster {name} with ParallelCluster (this takes 10-20 minutes)")
    pcluster_engine.create_cluster(name, config_text, region, notice=log)  # the CDK's Node.js warnings, as text
    return "CREATE_IN_PROGRESS"


@task(name="cluster-wait", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def wait_created(name: str, region: str, timeout_minutes: int) -> dict[str, Any]:
    """Poll describe_cluster, logging each status change and a heartbeat line each minute."""
    start = time.monotonic()
    deadline = start + timeout_minutes * 60
    watch = _StackWatch(name, region, start)
    while True:
        info = describe(name, region)
        status = _status(info)
        watch.poll(status)
        if info is None:
            raise ClusterFailed(f"cluster {name} disappeared while it was being created")
        if status in READY:
            return info
        if status not in IN_PROGRESS:
            raise ClusterFailed(f"cluster {name} failed: {status}: {_failures(info)}",
                                "the CloudFormation events say more: `pcluster get-cluster-stack-events "
                                f"--cluster-name {name} --region {region}`")
        if time.monotonic() >= deadline:
            raise AwsError(f"cluster {name} is still {status} after {plural(timeout_minutes, 'minute')}",
                           "raise --timeout, or check the stack in the CloudFormation console")
        interrupt.sleep(poll_seconds(15))


@task(name="cluster-delete", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def delete(name: str, region: str, timeout_minutes: int = 60, wait: bool = True) -> bool:
    """Delete the cluster and (with wait) poll until pcluster no longer knows it. False: it did not exist."""
    from pctl import pcluster_engine

    info = describe(name, region)
    if info is None:
        log(f"cluster {name}: not in ParallelCluster (already deleted)")
        return False
    if _status(info) != "DELETE_IN_PROGRESS":
        log(f"deleting cluster {name}")
        pcluster_engine.delete_cluster(name, region)
    if not wait:
        return True
    start = time.monotonic()
    deadline = start + timeout_minutes * 60
    watch = _StackWatch(name, region, start, deleting=True)
    while True:
        status = _status(describe(name, region))
        watch.poll(status or "deleted")
        if status is None or status in GONE:
            return True
        if status == "DELETE_FAILED":
            raise ClusterFailed(f"ParallelCluster could not delete {name} (DELETE_FAILED)",
                                "see the CloudFormation stack events; then `pctl delete` again")
        if time.monotonic() >= deadline:
            raise AwsError(f"cluster {name} is still {status} after {plural(timeout_minutes, 'minute')}",
                           f"`pctl delete {name}` again later; it resumes")
        interrupt.sleep(poll_seconds(15))


@task(name="head-node-host-keys", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def record_host_keys(name: str, region: str, info: dict[str, Any], attempts: int = 3) -> list[str]:
    """Record the head node's instance id and SSH host key fingerprints (from its console output) in state.

    Never fails the create: without fingerprints `pctl verify` asks for --fingerprint or
    --accept-new-host-key instead. The console output can lag the boot by a minute, hence a few tries.
    """
    from pctl import state
    from pctl.aws.hostkeys import console_fingerprints, head_node_instance_id
    from pctl.aws.session import make_session

    session = make_session(region)
    instance_id = head_node_instance_id(session, name, info)
    if instance_id is None:
        log(f"head node of {name}: instance not found; host key fingerprints not recorded")
        return []
    fingerprints: list[str] = []
    for attempt in range(attempts):
        fingerprints = console_fingerprints(session, instance_id)
        if fingerprints or attempt == attempts - 1:
            break
        time.sleep(poll_seconds(20))

    def _record(s: state.ClusterState) -> None:
        s.head_node_instance_id = instance_id
        s.host_key_fingerprints = fingerprints

    state.update(name, _record)
    if fingerprints:
        log(f"head node {instance_id}: recorded {plural(len(fingerprints), 'SSH host key fingerprint')} from its "
            "console output")
    else:
        log(f"head node {instance_id}: no SSH host key fingerprints in its console output; `pctl verify {name}` "
            "will need --fingerprint (see `aws ec2 get-console-output`) or --accept-new-host-key")
    return fingerprints
