"""`pctl delete NAME`: delete the cluster and everything pctl created for it (never what you supplied)."""

from __future__ import annotations

import click

from pctl.cli.output import emit_json, emit_record, json_flag, wants_json


@click.command("delete")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask: delete at once.")
@click.option("--region", help="Override the region recorded in state.")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait until everything is gone.")
@click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 600), default=60, show_default=True,
              help="Minutes to wait until everything is gone.")
@click.option("--forget", is_flag=True,
              help="Only remove pctl's local entry, when pctl can show nothing of it is left in AWS "
              "(or it never made anything); lists what it could not check.")
@click.option("--from-tags", is_flag=True,
              help="Find what to delete by its AWS tags (cluster NAME, this installation's owner id), not from "
              "state: after a crash or a lost state file. Lists it and asks for the name first.")
@click.option("-v", "--verbose", is_flag=True, help="Also show Prefect's own log lines.")
@json_flag("Print the result as one JSON document (pctl.delete/v1); messages stay on stderr.")
def cli(name: str, yes: bool, region: str | None, wait: bool, timeout_minutes: int, forget: bool,
        verbose: bool, from_tags: bool = False) -> None:
    """Delete cluster NAME: the cluster, then its network, key pair, bootstrap objects and state.

    Asks you to type the name unless --yes. Your own subnet, key pair and buckets are never touched.
    """
    from pctl import state
    from pctl.lifecycle.forget import reached_pcluster
    from pctl.lifecycle.status import refuse_locked

    if from_tags:  # H7 (issue 14): no state needed; see pctl.aws.tagged.delete_from_tags
        _from_tags(name, region, yes, timeout_minutes)
        return
    st = state.get(name)  # "no cluster named NAME": before Prefect, in milliseconds
    refuse_locked(name)
    if forget:
        _forget(st, yes)
        return
    mine = ", ".join(f"{r.kind} {r.id}" for r in st.resources) or "no recorded AWS resources"
    click.echo(f"Deleting cluster {name} ({st.region}, status {st.status}).\n"
               f"pctl created: {mine}.", err=True)
    if st.user_supplied:
        click.echo("Kept (yours): " + ", ".join(f"{k} {v}" for k, v in st.user_supplied.items()), err=True)
    from pctl.lifecycle.versions import version_warnings

    for w in version_warnings(st):
        click.echo(f"WARNING: {w}", err=True)
    _confirm(name, yes, "deleted")
    if not st.resources and not reached_pcluster(st):
        # Nothing was ever made in AWS (e.g. a create that stopped before its first resource): no AWS
        # call, no Prefect run needed to remove the entry.
        state.remove(name)
        if wants_json():
            emit_json("delete", name=name, status="deleted", detail="nothing had been created in AWS")
            return
        click.echo(f"cluster {name}: deleted (nothing had been created in AWS; its local entry is removed)")
        return

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


def _confirm(name: str, yes: bool, done: str) -> None:
    from pctl.errors import PctlError

    if yes:
        return
    typed = click.prompt(f"Type the cluster name ({name}) to confirm", default="", show_default=False, err=True)
    if typed.strip() != name:
        raise PctlError(f"the name did not match; nothing was {done}", "type it exactly, or pass --yes")


def _forget(st, yes: bool) -> None:  # st: pctl.state.ClusterState
    from pctl import state
    from pctl.errors import PctlError
    from pctl.lifecycle.forget import audit

    name = st.name
    found = audit(st)
    for label in found.gone:
        click.echo(f"gone:          {label}", err=True)
    for label in found.existing:
        click.echo(f"still exists:  {label}", err=True)
    for label in found.unchecked:
        click.echo(f"not checked:   {label}", err=True)
    if found.existing:
        raise PctlError(f"{len(found.existing)} resource(s) of {name} still exist; the entry is kept",
                        f"`pctl delete {name}` deletes them (and then the entry)")
    if found.unchecked:
        raise PctlError(f"pctl could not check {len(found.unchecked)} resource(s) of {name}; the entry is kept",
                        "fix what the lines above name (credentials, permissions) and run it again, or delete "
                        "those resources by hand first")
    click.echo(f"nothing of {name} is left in AWS"
               + (f" ({len(found.gone)} recorded resources are gone)" if found.gone else " (it never made anything)"),
               err=True)
    _confirm(name, yes, "forgotten")
    state.remove(name)
    if wants_json():
        emit_json("delete", name=name, status="forgotten", gone=list(found.gone))
        return
    click.echo(f"cluster {name}: forgotten (local entry removed)")


def _from_tags(name: str, region: str | None, yes: bool, timeout_minutes: int) -> None:
    from pctl import state
    from pctl.aws.tagged import delete_from_tags
    from pctl.config import load_config
    from pctl.errors import ConfigError, PctlError

    if region is None:
        try:
            region = (state.load(name) or state.ClusterState(name=name, region="")).region or None
        except PctlError:
            region = None
        region = region or load_config().region
    if not region:
        raise ConfigError("no region: the state is gone and no default region is set", "pass --region")
    gone = delete_from_tags(
        name, region, confirm=None if yes else (lambda text: click.prompt(text, default="", show_default=False, err=True)),
        say=lambda line: click.echo(line, err=True), timeout_s=timeout_minutes * 60)
    if wants_json():
        emit_json("delete", name=name, status="deleted", detail="from tags", deleted=gone)
        return
    click.echo(f"cluster {name}: deleted from tags ({len(gone)}: {', '.join(gone) or 'nothing left'})")
