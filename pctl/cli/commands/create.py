"""`pctl create TEMPLATE`: validate, estimate the cost, then create the cluster (or only plan it)."""

from __future__ import annotations

import click


@click.command("create")
@click.argument("template")
@click.option("--name", help="Cluster name (default: cluster.name in the template).")
@click.option("--region", help="AWS region (default: cluster.region, then the global config).")
@click.option("--key-name", help="EC2 key pair for SSH (default: cluster.key_name, then the global config).")
@click.option("--subnet-id", help="Use this existing subnet: pctl then creates no network and never deletes it.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the cluster is ready.")
@click.option("--dry-run", is_flag=True, help="Validate, render and print the plan; create nothing (no AWS account needed).")
@click.option("--rollback/--no-rollback", default=True, show_default=True,
              help="On failure delete what this run created. --no-rollback keeps it, and a re-run resumes.")
@click.option("--verify/--no-verify", default=True, show_default=True, help="Check software, users and a job afterwards.")
@click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 600), default=90, show_default=True,
              help="Minutes to wait for the cluster.")
@click.option("-v", "--verbose", is_flag=True, help="Also show Prefect's own log lines.")
def cli(template: str, name: str | None, region: str | None, key_name: str | None, subnet_id: str | None,
        wait: bool, dry_run: bool, rollback: bool, verify: bool, timeout_minutes: int, verbose: bool) -> None:
    """Create a cluster from TEMPLATE (a path or a library name).

    Start with --dry-run: it validates the template, renders the ParallelCluster config, checks it with
    ParallelCluster's own schema, estimates the cost and prints what would be created.
    """
    from pctl.lifecycle.runner import prepare, run_flow
    from pctl.requests import CreateRequest, TemplateSource

    target = prepare(verbose)
    click.echo(target, err=True)
    fields = {"template": TemplateSource(path=template), "name": name, "region": region, "key_name": key_name,
              "subnet_id": subnet_id, "dry_run": dry_run, "wait": wait, "verify": verify,
              "timeout_minutes": timeout_minutes}
    if "rollback" in CreateRequest.model_fields:
        fields["rollback"] = rollback
    request = CreateRequest(**fields)

    from flows.create import create_cluster

    result = run_flow(create_cluster, request)
    if dry_run:
        from pctl.lifecycle.plan import Plan

        plan = Plan(**{k: v for k, v in result.items() if k in Plan.__dataclass_fields__})
        click.echo(plan.text())
        return
    click.echo(f"cluster {result['name']}: {result['status']}")
    if result.get("head_node_public_ip"):
        click.echo(f"head node: {result['head_node_public_ip']}  (`pctl status {result['name']}` for next steps)")
