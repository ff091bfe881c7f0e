"""What every lifecycle task shares: the retry rule, logging that also reaches the CLI, cache keys."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from prefect import get_run_logger
from prefect.tasks import exponential_backoff

from pctl.lifecycle import progress

# Transient AWS errors (throttling, 5xx, timeouts) get three more tries, backing off 5, 10, 20 s.
AWS_RETRIES = 3
AWS_RETRY_DELAYS = exponential_backoff(backoff_factor=5)

# Every task that calls AWS carries this tag; `python -m deployments.register` puts a tag concurrency
# limit on it, so many parallel lifecycles on one server stay under the AWS API throttling limits.
AWS_API_TAG = "aws-api"
AWS_TAGS = [AWS_API_TAG]


def _causes(exc: BaseException | None) -> list[BaseException]:
    out = []
    while exc is not None and len(out) < 8:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def transient_failure(task: Any, task_run: Any, state: Any) -> bool:
    """retry_condition_fn: retry only transient AWS errors; validation and permission errors fail at once."""
    from pctl.aws.errors import is_transient

    try:
        exc = state.result(raise_on_failure=False)
    except Exception as err:  # the result itself could not be read: judge that error
        exc = err
    if not isinstance(exc, BaseException):
        return False
    return any(is_transient(e) for e in _causes(exc))


def log(message: str, live: bool = False) -> None:
    """Log to the Prefect run (UI) and to in-process listeners (the CLI). `live`: a status line that a
    terminal shows in place (the previous live line is replaced); the run log gets it as a plain line."""
    with contextlib.suppress(Exception):  # outside a run (plain-Python callers, tests)
        get_run_logger().info(message)
    progress.emit(message, live)


def log_live(message: str, to_run_log: bool) -> None:
    """A live status line: the terminal always gets it (in place); the run log only when `to_run_log`
    (when something other than the elapsed time changed), so the UI log is not one line per poll."""
    if to_run_log:
        with contextlib.suppress(Exception):
            get_run_logger().info(message)
    progress.emit(message, True)


def content_key(*parts: object) -> str:
    """A cache key from content only (template sha256, names, fingerprints, state epoch): never clients."""
    h = hashlib.sha256()
    for p in parts:
        h.update(repr(p).encode())
        h.update(b"\0")
    return h.hexdigest()


def poll_seconds(default: float = 5.0) -> float:
    """Seconds between AWS describes. PCTL_POLL_SECONDS shortens it (flow tests under moto use ~0.05)."""
    import os

    try:
        return float(os.environ.get("PCTL_POLL_SECONDS", default))
    except ValueError:
        return default


def record_created(cluster_name: str):  # -> Callable[[Resource], None]
    """An on_created callback: writes each new resource into the cluster's state the moment it exists."""
    from pctl import state

    def record(resource) -> None:
        state.update(cluster_name, lambda s: s.add_resource(resource.kind, resource.id, resource.region,
                                                            dict(resource.extra)))
        log(f"created {resource.kind} {resource.id}")

    return record


def forget(cluster_name: str, resources) -> None:
    """Drop deleted resources from the cluster's state (a missing state is fine: nothing to forget)."""
    from pctl import state

    ids = {r.id for r in resources}
    if ids and state.load(cluster_name) is not None:
        state.update(cluster_name, lambda s: s.remove_resources(ids))


def delete_and_forget(session: Any, cluster_name: str, resources: list, timeout_minutes: float) -> list:
    """Delete `resources` (dependents first) and drop them from state; on a partial failure state forgets
    only what really went, so a re-run retries the rest. Returns what was deleted."""
    from pctl.aws.errors import DeleteError
    from pctl.aws.network import delete_resources

    try:
        deleted = delete_resources(session, resources, wait=True, timeout_s=timeout_minutes * 60,
                                   poll_s=poll_seconds())
    except DeleteError as exc:
        forget(cluster_name, exc.deleted)
        raise
    forget(cluster_name, resources)  # gone now (or already gone before)
    return deleted


def state_resources(cluster_name: str, *kinds: str) -> list:
    """The cluster's recorded resources of these kinds, as pctl.aws Resources."""
    from pctl import state
    from pctl.aws.resource import Resource

    st = state.load(cluster_name)
    if st is None:
        return []
    return [Resource(r.kind, r.id, r.region, dict(r.extra)) for r in st.resources_of(*kinds)]
