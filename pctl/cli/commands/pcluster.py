"""`pctl pcluster install|upgrade|check`: the AWS ParallelCluster that pctl drives."""

from __future__ import annotations

import click

from pctl.cli.output import emit_json, json_option, outcome, print_table


@click.group("pcluster")
def cli() -> None:
    """Install, upgrade and check AWS ParallelCluster (and what it needs: Node.js, AWS credentials)."""


def _run(version: str | None, upgrade: bool, dry_run: bool, pipx: bool | None) -> None:
    from pctl.pcluster_manager import install

    result = install(version, upgrade=upgrade, dry_run=dry_run, use_pipx=pipx)
    plan = result.plan
    if dry_run:
        click.echo(f"# would install {plan.spec} with {plan.method} into {plan.target}")
        click.echo(plan.render())
        return
    click.echo(f"installed {plan.spec} ({plan.method}, {plan.target})"
               + (f"; was {result.previous}" if result.previous and result.previous != result.version else ""))
    if upgrade:
        click.echo("note: clusters and AMIs record the pcluster version that made them; pctl warns when they "
                   "differ from the installed one (custom AMIs must be rebuilt)", err=True)


_pipx = click.option("--pipx/--venv", "pipx", default=None,
                     help="Use pipx (default when pipx is on PATH) or a venv under $PCTL_HOME.")


@cli.command("install")
@click.option("--version", "version", help="aws-parallelcluster version (default: the one pctl is tested with).")
@click.option("--dry-run", is_flag=True, help="Print the commands only.")
@_pipx
def install_(version: str | None, dry_run: bool, pipx: bool | None) -> None:
    """Install aws-parallelcluster into a venv under $PCTL_HOME (or with pipx)."""
    _run(version, False, dry_run, pipx)


@cli.command("upgrade")
@click.option("--version", "version", help="Target version (default: the newest release).")
@click.option("--dry-run", is_flag=True, help="Print the commands only.")
@_pipx
def upgrade(version: str | None, dry_run: bool, pipx: bool | None) -> None:
    """Upgrade aws-parallelcluster (existing clusters keep the version that created them recorded)."""
    _run(version, True, dry_run, pipx)


@cli.command("check")
@json_option("Print the checks as one JSON document (pctl.pcluster-check/v1).")
def check_(as_json: bool) -> None:
    """pcluster version, `node` on PATH, and whether AWS credentials resolve (exit 1 if anything fails)."""
    from pctl.errors import PctlError
    from pctl.pcluster_manager import check

    items = check()
    if as_json:
        emit_json("pcluster-check", ok=all(i.ok for i in items), checks=[i.__dict__ for i in items])
    else:
        print_table(("CHECK", "OK", "DETAIL"), [(i.name, outcome(i.ok, "yes", "NO"), i.detail) for i in items])
        for i in items:
            if not i.ok and i.hint:
                click.echo(f"  {i.name}: {i.hint}", err=True)
    failed = [i.name for i in items if not i.ok]
    if failed:
        raise PctlError(f"not ready: {', '.join(failed)}")
