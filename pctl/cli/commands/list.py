"""`pctl list`: the clusters pctl knows (from its state files; no AWS calls, no Prefect)."""

from __future__ import annotations

import click

from pctl.cli.output import emit_json, json_option, print_table


@click.command("list")
@json_option("Print the clusters as one JSON document (pctl.list/v1).")
def cli(as_json: bool) -> None:
    """List clusters: name, status, region, created, head node IP. Unreadable state files are reported."""
    from pctl import state
    from pctl.lifecycle.timefmt import ago

    entries = state.list_all()
    if as_json:
        emit_json("list", state_dir=str(state.state_dir()), clusters=[
            {"name": e.name, "error": e.error} if e.state is None else
            {"name": e.name, "status": e.state.status, "region": e.state.region, "created_at": e.state.created_at,
             "head_node_ip": e.state.head_node_public_ip or e.state.head_node_private_ip}
            for e in entries
        ])
        return
    good = [e for e in entries if e.state is not None]
    bad = [e for e in entries if e.state is None]
    if not entries:
        click.echo(f"no clusters (state in {state.state_dir()}); start with `pctl create TEMPLATE --dry-run`")
        return
    if good:
        rows = [(e.name, e.state.status, e.state.region, ago(e.state.created_at),
                 e.state.head_node_public_ip or e.state.head_node_private_ip or "-") for e in good]
        print_table(["NAME", "STATUS", "REGION", "CREATED", "HEAD NODE IP"], rows, styles={0: "bold cyan"})
    for e in bad:
        click.echo(f"warning: {e.name}: {e.error}", err=True)
