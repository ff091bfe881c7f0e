"""Preflight: every problem that would stop a create, found before anything is created (one task, so the
UI shows them together). See pctl.lifecycle.preflight for the checks."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.lifecycle.plan import Check
from pctl.lifecycle.preflight import Preflight, run
from pctl.lifecycle.settings import CreateSettings
from pctl.model.template import Template
from tasks._common import AWS_TAGS, log


def _name_taken(settings: CreateSettings) -> Check | None:
    """A cluster of this name that ParallelCluster knows but pctl has no state for: refuse before creating."""
    from pctl.lifecycle.pcluster_view import describe, status_of

    try:
        info = describe(settings.name, settings.region)
    except Exception as exc:  # pcluster did not answer: the cluster step would say so again
        return Check("cluster name", "warning", f"ParallelCluster did not answer: {str(exc).splitlines()[0][:200]}")
    if info is None:
        return Check("cluster name", "passed", f"no cluster named {settings.name} in {settings.region}")
    return Check("cluster name", "failed",
                 f"ParallelCluster already has a cluster {settings.name} ({status_of(info)}) that pctl did not record",
                 "pick another --name, or delete that cluster with `pcluster delete-cluster`")


@task(name="preflight", cache_policy=NO_CACHE, tags=AWS_TAGS)
def preflight(template: Template, settings: CreateSettings, dry_run: bool = False,
              resumed_with: str | None = None, resuming: bool = False) -> Preflight:
    """All checks at once; logs each. Never raises for a failed check: the caller decides (a dry run
    prints them, a create stops)."""
    pf = run(template, settings, dry_run=dry_run, resumed_with=resumed_with)
    from pctl.model.template import Platform

    if pf.account is not None and not resuming and template.cluster.platform is not Platform.pcs:
        taken = _name_taken(settings)
        if taken is not None:
            pf.checks.append(taken)
    for line in pf.lines():
        log(line)
    return pf
