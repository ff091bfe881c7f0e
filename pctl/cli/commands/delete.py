"""`pctl delete NAME`: delete the cluster and everything pctl created for it (never what you supplied)."""

from __future__ import annotations

import click

from pctl.cli.output import emit_record, json_flag, wants_json


@click.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask: delete at once.")
@click.option("--region", help="Override the region recorded in state.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until everything is gone.")
@click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 600), default=60, show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="Also show Prefect's own log lines.")
@json_flag("Print the result as one JSON document (pctl.delete/v1); messages stay on stderr.")
def cli(name: str, yes: bool, region: str | None, wait: bool, timeout_minutes: int, verbose: bool) -> None:
    """Delete cluster NAME: the cluster, then its network, bootstrap objects and state.

    Asks you to type the name unless --yes. Your own subnet and buckets are never touched.
    """
    from pctl import state
    from pctl.errors import PctlError

    st = state.get(name)
    mine = ", ".join(f"{r.kind} {r.id}" for r in st.resources) or "no recorded AWS resources"
    click.echo(f"Deleting cluster {name} ({st.region}, status {st.status}).\n"
               f"pctl created: {mine}.", err=True)
    if st.user_supplied:
        click.echo("Kept (yours): " + ", ".join(f"{k} {v}" for k, v in st.user_supplied.items()), err=True)
    from pctl.lifecycle.versions import version_warnings

    for w in version_warnings(st):
        click.echo(f"WARNING: {w}", err=True)
    if not yes:
        typed = click.prompt(f"Type the cluster name ({name}) to confirm", default="", show_default=False, err=True)
        if typed.strip() != name:
            raise PctlError("the name did not match; nothing was deleted", "type it exactly, or pass --yes")

    from pctl.lifecycle.runner import prepare, run_flow

    click.echo(prepare(verbose), err=True)
    from flows.delete import delete_cluster
    from pctl.requests import DeleteRequest

    result = run_flow(delete_cluster, DeleteRequest(name=name, region=region, wait=wait,
                                                    timeout_minutes=timeout_minutes))
    if wants_json():
        emit_record("delete", result, name=name)
        return
    click.echo(f"cluster {name}: {result['status']}")
    if result.get("kept"):
        click.echo(f"kept AMIs for reuse: {', '.join(result['kept'])} (`pctl ami delete ID` removes them)")
