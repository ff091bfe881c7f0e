"""`pctl server up|down|status`: a local Prefect server and worker in the background."""

from __future__ import annotations

import click

from pctl.cli.output import emit_json, json_option, print_table


@click.group("server")
def cli() -> None:
    """A local Prefect server (UI + API) and worker, run in the background.

    While it is up, pctl commands that run flows use it (runs take ~3 s of overhead instead of ~15 s and
    appear in the UI). Without it they fall back to a temporary server per run.
    """


def _print(st, as_json: bool) -> None:  # noqa: ANN001 - ServerStatus, imported lazily
    if as_json:
        emit_json("server-status", api_url=st.api_url, ui_url=st.ui_url, healthy=st.healthy,
                  work_pool=st.work_pool, processes=st.processes)
        return
    rows = [(role, state) for role, state in st.processes.items()]
    print_table(("PROCESS", "STATE"), rows, styles={1: "green" if st.healthy else "yellow"})
    if st.healthy:
        click.echo(f"\nUI:        {st.ui_url}")
        click.echo(f"API:       {st.api_url}")
        if st.work_pool:
            click.echo(f"work pool: {st.work_pool}")
    else:
        click.echo("\nno healthy local server: start one with `pctl server up`")


@cli.command("up")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (keep it local).")
@click.option("--port", default=4200, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Start only the server, no worker for deployment runs.")
@click.option("--pool", default="pctl-local", show_default=True, help="Process work pool the worker serves.")
@json_option("Print the status as one JSON document (pctl.server-status/v1).")
def up(host: str, port: int, no_worker: bool, pool: str, as_json: bool) -> None:
    """Start the server and a worker (idempotent); wait until healthy; print the UI address."""
    from pctl import server

    if not as_json:
        click.echo("starting the Prefect server (first start creates its database: ~15-25 s)...", err=True)
    st = server.up(host, port, worker=not no_worker, work_pool=pool)
    _print(st, as_json)
    if not as_json:
        click.echo("\nregister the deployments: `python -m deployments.register`", err=True)


@cli.command("down")
@json_option("Print what was stopped as one JSON document (pctl.server-down/v1).")
def down(as_json: bool) -> None:
    """Stop the server and worker that `pctl server up` started (nothing else)."""
    from pctl import server

    done = server.down()
    if as_json:
        emit_json("server-down", stopped=done)
    elif not done:
        click.echo("nothing to stop: no server was started by pctl")
    else:
        print_table(("PROCESS", "RESULT"), list(done.items()))


@cli.command("status")
@json_option("Print the status as one JSON document (pctl.server-status/v1).")
def status(as_json: bool) -> None:
    """Show whether the local server and worker are running, and where."""
    from pctl import server

    _print(server.status(), as_json)
