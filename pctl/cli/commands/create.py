"""`pctl create TEMPLATE`: validate, estimate the cost, then create the cluster (or only plan it)."""

from __future__ import annotations

import click

from pctl.cli.commands.completion import template_argument
from pctl.cli.output import emit_record, json_flag, wants_json


@click.command("create")
@template_argument()
@click.option("--name", help="Cluster name (default: cluster.name in the template).")
@click.option("--region", help="AWS region (default: cluster.region, then the global config).")
@click.option("--key-name", help="EC2 key pair for SSH (default: cluster.key_name, then the global config; "
              "with none, pctl creates pctl-NAME and keeps its private key under $PCTL_HOME/keys).")
@click.option("--subnet-id", help="Use this existing subnet: pctl then creates no network and never deletes it.")
@click.option("--ssh-cidr", help="CIDR allowed to SSH to the head node, e.g. your IP as A.B.C.D/32 "
              "(`curl -s https://checkip.amazonaws.com`); default: networking.ssh_allowed_cidr, then the global config.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until the cluster is ready.")
@click.option("--dry-run", is_flag=True, help="Validate, render, preflight and print the plan; create nothing "
              "(AWS checks run when credentials answer).")
@click.option("--rollback/--no-rollback", default=True, show_default=True,
              help="On failure delete what this run created. --no-rollback keeps it, and a re-run resumes. "
              "Ctrl-C asks (on a terminal; elsewhere PCTL_ON_INTERRUPT=rollback|keep, default rollback).")
@click.option("--verify/--no-verify", default=True, show_default=True, help="Check software, users and a job afterwards.")
@click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 600), default=90, show_default=True,
              help="Minutes to wait for the cluster.")
@click.option("-v", "--verbose", is_flag=True, help="Also show Prefect's own log lines.")
@json_flag("Print the plan (with --dry-run: pctl.plan/v1) or the result (pctl.create/v1) as one JSON document.")
def cli(template: str, name: str | None, region: str | None, key_name: str | None, subnet_id: str | None,
        ssh_cidr: str | None, wait: bool, dry_run: bool, rollback: bool, verify: bool, timeout_minutes: int,
        verbose: bool) -> None:
    """Create a cluster from TEMPLATE (a path or a library name).

    Start with --dry-run: it validates the template, renders the ParallelCluster config, checks it with
    ParallelCluster's own schema, runs the preflight (credentials, key pair, SSH CIDR, node, quotas,
    instance types) where AWS answers, estimates the cost and prints what would be created.
    """
    from pctl.requests import CreateRequest, TemplateSource

    request = CreateRequest(template=TemplateSource(path=template), name=name, region=region, key_name=key_name,
                            subnet_id=subnet_id, ssh_cidr=ssh_cidr, dry_run=dry_run, wait=wait, verify=verify,
                            rollback=rollback, timeout_minutes=timeout_minutes)
    settings = _check_before_prefect(request)

    from pctl.lifecycle.runner import prepare, run_flow

    click.echo(prepare(verbose), err=True)
    from flows.create import create_cluster

    result = run_flow(create_cluster, request)
    if dry_run:
        from pctl.lifecycle.plan import Plan

        plan = Plan(**{k: v for k, v in result.items() if k in Plan.__dataclass_fields__})
        if wants_json():
            emit_record("plan", plan)
            return
        click.echo(plan.text())
        return
    if wants_json():
        emit_record("create", result)
        return
    click.echo(f"cluster {result['name']}: {result['status']}")
    if result.get("head_node_public_ip"):
        from pctl.lifecycle.keypair import private_key_path

        key = private_key_path(result.get("key_name") or settings.key_name or "")
        login = f"ssh -i {key} " if key.exists() else "ssh "
        click.echo(f"head node: {result['head_node_public_ip']}  ({login}<user>@{result['head_node_public_ip']}; "
                   f"`pctl status {result['name']}` for next steps)")


def _check_before_prefect(request):  # -> CreateSettings
    """What needs neither AWS nor Prefect, in well under a second: the template's own checks, the flags,
    and (for a real create) that the name is free. Prefect starts only after these pass."""
    from pctl import state
    from pctl.lifecycle.settings import check_template, resolve
    from pctl.lifecycle.status import refuse_existing

    text, source = request.template.resolve()
    template, _warnings = check_template(text, source)
    settings = resolve(template, text, request)
    if not request.dry_run:
        refuse_existing(state.load(settings.name), settings.name, settings.region)
        from pctl.lifecycle.preflight import without_credentials

        failed = without_credentials(template, settings)
        if failed is not None:
            raise failed
    return settings
