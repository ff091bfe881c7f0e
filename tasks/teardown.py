"""Teardown's last steps: leftover builder instances, and forgetting the cluster's state."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.words import plural
from tasks._common import (
    AWS_RETRIES,
    AWS_RETRY_DELAYS,
    AWS_TAGS,
    delete_and_forget,
    log,
    state_resources,
    transient_failure,
)


@task(name="delete-leftovers", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def delete_leftovers(name: str, region: str, timeout_minutes: int = 15) -> list[str]:
    """Instances, instance profiles and roles an interrupted AMI bake left, and the head node's cache policy
    (recorded in state; run after the cluster is gone, so nothing holds the policy any more)."""
    from pctl.aws.session import make_session

    session = make_session(region)
    leftovers = state_resources(name, "instance", "instance_profile", "iam_role", "iam_policy")
    try:  # also a builder instance or role whose state write was lost (found by tags, this owner's only)
        from pctl.aws.tagged import tagged_leftovers

        leftovers = list(dict.fromkeys(leftovers + tagged_leftovers(session, name)))
    except Exception as exc:  # e.g. no iam:ListRoles: what state recorded is still deleted
        log(f"could not list builder roles tagged for {name}: {str(exc).splitlines()[0]}")
    if not leftovers:
        return []
    log(f"deleting {plural(len(leftovers), 'leftover resource')}: {', '.join(str(r) for r in leftovers)}")
    deleted = delete_and_forget(session, name, leftovers, timeout_minutes)
    return [r.id for r in deleted]


@task(name="forget-state", cache_policy=NO_CACHE)
def forget_state(name: str) -> list[str]:
    """Remove the state file; returns the images kept (baked AMIs are shared by fingerprint, reused later)."""
    from pctl import state

    st = state.load(name)
    kept = [r.id for r in st.resources_of("image")] if st else []
    state.remove(name)
    log(f"state of {name} removed" + (f"; kept images {', '.join(kept)} (`pctl ami delete`)" if kept else ""))
    return kept
