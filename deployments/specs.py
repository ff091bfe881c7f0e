"""What pctl deploys: one entry per lifecycle flow. Plain data, shared by register.py, tests and docs.

Entrypoints are file paths relative to the repo root, the form `prefect deploy` and `Flow.from_source` use.
prefect.yaml at the repo root lists the same deployments for `prefect deploy --all`; a test keeps the two
in step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from tasks._common import AWS_API_TAG  # noqa: F401  (re-exported for register.py and the tests)

REPO_ROOT = Path(__file__).resolve().parent.parent
WORK_POOL = "pctl-local"
DEFAULT_REBUILD_CRON = "0 3 * * 0"  # weekly, Sunday 03:00 (PctlSettings.rebuild_cron has the same default)
REBUILD_CRON_ENV = "PCTL_REBUILD_CRON"
REBUILD_TEMPLATES_ENV = "PCTL_REBUILD_TEMPLATES"  # comma-separated template paths or library names

# Tasks that call AWS carry this tag (tasks/_common.py); a tag concurrency limit caps how many run at once
# across every flow run on the server, so N parallel creates stay under the AWS API throttling limits.
AWS_API_LIMIT_ENV = "PCTL_AWS_API_LIMIT"
DEFAULT_AWS_API_LIMIT = 8


@dataclass(frozen=True)
class DeploymentSpec:
    name: str
    entrypoint: str  # path/to/file.py:function
    description: str
    tags: tuple[str, ...] = ("pctl",)
    scheduled: bool = False
    job_variables: dict = field(default_factory=dict)

    @property
    def module_file(self) -> Path:
        return REPO_ROOT / self.entrypoint.split(":", 1)[0]


SPECS: tuple[DeploymentSpec, ...] = (
    DeploymentSpec("create-cluster", "flows/create.py:create_cluster",
                   "Create a cluster from a template. Tick dry_run to validate, render and plan only."),
    DeploymentSpec("delete-cluster", "flows/delete.py:delete_cluster",
                   "Delete a cluster and everything pctl created for it (never your own subnet or buckets)."),
    DeploymentSpec("verify-cluster", "flows/verify.py:verify_cluster",
                   "Check a running cluster: users, modules, a Slurm job per queue."),
    DeploymentSpec("bake-ami", "flows/ami.py:bake_ami",
                   "Bake a custom AMI with the template's Spack software."),
    DeploymentSpec("ami-rebuild", "flows/ami.py:rebuild_amis",
                   "Scheduled: re-bake only the templates whose AMI fingerprint changed; otherwise a no-op.",
                   scheduled=True),
    DeploymentSpec("cache-warm", "flows/cache.py:warm_cache",
                   "Build a template's Spack packages into the account's binary cache on a temporary builder."),
    DeploymentSpec("cluster-status", "flows/status.py:cluster_status",
                   "Show a cluster's state and what pctl created for it."),
)


def spec(name: str) -> DeploymentSpec:
    for s in SPECS:
        if s.name == name:
            return s
    raise KeyError(name)


def rebuild_cron(flag: str | None = None) -> str:
    """Flag, else $PCTL_REBUILD_CRON, else weekly."""
    return flag or os.environ.get(REBUILD_CRON_ENV) or DEFAULT_REBUILD_CRON


def rebuild_templates(flag: tuple[str, ...] | list[str] | None = None) -> list[str]:
    """Flag values, else $PCTL_REBUILD_TEMPLATES, else every library template."""
    if flag:
        return list(flag)
    env = os.environ.get(REBUILD_TEMPLATES_ENV)
    if env:
        return [t.strip() for t in env.split(",") if t.strip()]
    from pctl import library

    return library.names()


def aws_api_limit(flag: int | None = None) -> int:
    if flag is not None:
        return flag
    return int(os.environ.get(AWS_API_LIMIT_ENV) or DEFAULT_AWS_API_LIMIT)
