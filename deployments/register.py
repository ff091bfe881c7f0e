"""Register pctl's deployments on the Prefect server at PREFECT_API_URL, then exit.

    python -m deployments.register [--pool pctl-local] [--cron "0 3 * * 0"] [--aws-api-limit 8]
                                   [--rebuild-template NAME ...] [--only create-cluster ...]

What it does, idempotently:
  1. ensures the process work pool (a worker serves it: `pctl server up` starts one);
  2. creates/updates the `aws-api` tag concurrency limit;
  3. deploys each lifecycle flow from this checkout (Flow.from_source with the repo directory, so the
     worker runs the code here); parameters are the pydantic request models, so the UI renders forms and
     the server validates them; ami-rebuild gets the cron schedule.
Needs a server: it refuses the ephemeral fallback, whose temporary server would vanish on exit.
"""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass, field

import click

from deployments.specs import (
    AWS_API_TAG,
    REPO_ROOT,
    SPECS,
    WORK_POOL,
    DeploymentSpec,
    aws_api_limit,
    rebuild_cron,
    rebuild_templates,
)


@dataclass
class Registered:
    deployments: dict[str, str] = field(default_factory=dict)  # "flow/deployment" -> id
    missing: list[str] = field(default_factory=list)  # specs whose flow module is not in this checkout
    work_pool: str = WORK_POOL
    aws_api_limit: int = 0
    cron: str | None = None


def ensure_work_pool(name: str) -> None:
    """A process work pool with Prefect's default job template (what `prefect work-pool create` makes)."""
    from prefect import get_client
    from prefect.client.schemas.actions import WorkPoolCreate
    from prefect.exceptions import ObjectAlreadyExists
    from prefect.workers.process import ProcessWorker

    with get_client(sync_client=True) as client, contextlib.suppress(ObjectAlreadyExists):
        client.create_work_pool(WorkPoolCreate(
            name=name, type="process",
            base_job_template=ProcessWorker.get_default_base_job_template(),
            description="pctl: runs lifecycle flows as local processes (see docs/scale-out.md for ECS)",
        ))


def ensure_aws_api_limit(limit: int, tag: str = AWS_API_TAG) -> int:
    """Create or update the tag concurrency limit; returns the limit now on the server."""
    from prefect import get_client

    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=tag, concurrency_limit=limit)  # upserts by tag
        return client.read_concurrency_limit_by_tag(tag).concurrency_limit


def request_parameters(s: DeploymentSpec, templates: list[str]) -> dict | None:
    if s.name == "ami-rebuild":
        from pctl.requests import AmiRebuildRequest, TemplateSource

        req = AmiRebuildRequest(templates=[TemplateSource(path=t) for t in templates])
        return {"request": req.model_dump(mode="json", exclude_none=True)}
    return None


def deploy_one(s: DeploymentSpec, pool: str, cron: str, templates: list[str]) -> tuple[str, str]:
    from prefect import Flow

    flow = Flow.from_source(source=str(REPO_ROOT), entrypoint=s.entrypoint)
    # deploy() prints a rich table per deployment; main() prints one line each instead.
    with contextlib.redirect_stdout(io.StringIO()):
        deployment_id = _deploy(flow, s, pool, cron, templates)
    return f"{flow.name}/{s.name}", str(deployment_id)


def _deploy(flow, s: DeploymentSpec, pool: str, cron: str, templates: list[str]):  # noqa: ANN001, ANN202
    return flow.deploy(
        name=s.name,
        work_pool_name=pool,
        cron=cron if s.scheduled else None,
        parameters=request_parameters(s, templates),
        description=s.description,
        tags=list(s.tags),
        job_variables=s.job_variables or None,
        enforce_parameter_schema=True,
        build=False,
        push=False,
        print_next_steps=False,
        ignore_warnings=True,
    )


def register(
    *,
    pool: str = WORK_POOL,
    cron: str | None = None,
    limit: int | None = None,
    templates: list[str] | None = None,
    only: list[str] | None = None,
) -> Registered:
    from pctl.errors import PctlError
    from pctl.prefect_env import configure

    target = configure()
    if target.mode == "ephemeral":
        raise PctlError("no Prefect server to register on",
                        "start one with `pctl server up`, or set PREFECT_API_URL")
    out = Registered(work_pool=pool, cron=rebuild_cron(cron), aws_api_limit=aws_api_limit(limit))
    ensure_work_pool(pool)
    out.aws_api_limit = ensure_aws_api_limit(out.aws_api_limit)
    wanted = [s for s in SPECS if not only or s.name in only]
    unknown = set(only or ()) - {s.name for s in SPECS}
    if unknown:
        raise PctlError(f"unknown deployment(s): {', '.join(sorted(unknown))}",
                        f"choose from {', '.join(s.name for s in SPECS)}")
    tmpl = rebuild_templates(templates) if any(s.scheduled for s in wanted) else []
    for s in wanted:
        if not s.module_file.exists():
            out.missing.append(s.name)
            continue
        full, dep_id = deploy_one(s, pool, out.cron, tmpl)
        out.deployments[full] = dep_id
    return out


@click.command()
@click.option("--pool", default=WORK_POOL, show_default=True, help="Process work pool to deploy to.")
@click.option("--cron", default=None, help="ami-rebuild schedule [env PCTL_REBUILD_CRON; default weekly '0 3 * * 0'].")
@click.option("--aws-api-limit", "limit", type=click.IntRange(1, 1000), default=None,
              help="At most this many AWS-heavy tasks at once [env PCTL_AWS_API_LIMIT; default 8].")
@click.option("--rebuild-template", "templates", multiple=True,
              help="Template (path or library name) the scheduled rebuild checks; repeat [env PCTL_REBUILD_TEMPLATES; "
                   "default: every library template].")
@click.option("--only", multiple=True, help="Register only these deployments (repeat).")
def main(pool: str, cron: str | None, limit: int | None, templates: tuple[str, ...], only: tuple[str, ...]) -> None:
    """Register pctl's deployments on the server at PREFECT_API_URL (or the `pctl server up` one)."""
    from pctl.errors import PctlError

    try:
        res = register(pool=pool, cron=cron, limit=limit, templates=list(templates), only=list(only))
    except PctlError as exc:
        click.echo(f"pctl: error: {exc}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(1)
    for full, dep_id in res.deployments.items():
        click.echo(f"registered {full}  ({dep_id})")
    click.echo(f"work pool {res.work_pool}; tag '{AWS_API_TAG}' limited to {res.aws_api_limit} concurrent tasks; "
               f"ami-rebuild cron '{res.cron}'")
    if res.missing:
        click.echo(f"not registered (flow module not in this checkout): {', '.join(res.missing)}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
