"""`pctl verify NAME`: check a running cluster's software, users, mounts and queues over SSH."""

from __future__ import annotations

import click

from pctl.cli.commands.completion import complete_template
from pctl.cli.output import emit_record, json_flag, outcome, plural, print_table, wants_json


@click.command("verify")
@click.argument("name", required=False)
@click.option("--host", help="Head node address (default: the one recorded when the cluster was created).")
@click.option("--port", type=click.IntRange(1, 65535), default=22, show_default=True)
@click.option("--user", help="SSH user (default: the OS's default user: ec2-user, ubuntu, rocky...).")
@click.option("--key", "key_path", type=click.Path(dir_okay=False), help="SSH private key (default: ~/.ssh/<key_name>.pem, then ssh-agent).")
@click.option("--template", "template_path", shell_complete=complete_template, help="The cluster's template (default: the one it was created from).")
@click.option("--fingerprint", "expected_fingerprint",
              help="The head node's host key fingerprint (SHA256:...), as its console output prints it.")
@click.option("--accept-new-host-key", is_flag=True, help="Trust and record a host key seen for the first time.")
@click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 600), default=60, show_default=True,
              help="Minutes to wait for the software install to finish.")
@click.option("--local", "local", is_flag=True,
              help="Run the checks here without Prefect (no run history, no artifact; starts faster).")
@click.option("-v", "--verbose", is_flag=True, help="Also show Prefect's own log lines.")
@json_flag("Print the checks as one JSON document (pctl.verify/v1); exit 1 still means a check failed.")
def cli(name: str | None, host: str | None, port: int, user: str | None, key_path: str | None,
        template_path: str | None, expected_fingerprint: str | None, accept_new_host_key: bool,
        timeout_minutes: int, local: bool, verbose: bool) -> None:
    """Verify cluster NAME: software modules load, users have their UID/GID on the head node and in a job on
    every queue, mounts exist, and a smoke job per queue completes. Exits 1 listing what is missing.

    Without state (a node pctl did not create, or the loopback test node) give --host and --template.
    """
    if name is None and not (host and template_path):
        raise click.UsageError("give NAME, or --host and --template")
    if name is not None and not host:
        from pctl import state

        state.get(name)  # "no cluster named NAME": before Prefect starts, in milliseconds
    if local:
        _run_local(name, host, port, user, key_path, template_path, expected_fingerprint, accept_new_host_key,
                   timeout_minutes)
        return

    from pctl.lifecycle.runner import prepare, run_flow
    from pctl.requests import TemplateSource, VerifyRequest

    click.echo(prepare(verbose), err=True)
    request = VerifyRequest(
        name=name or _template_name(template_path), timeout_minutes=timeout_minutes,
        accept_new_host_key=accept_new_host_key, host=host, port=port, user=user, key_path=key_path,
        template=TemplateSource(path=template_path) if template_path else None,
        expected_fingerprint=expected_fingerprint,
    )
    from flows.verify import verify_cluster

    result = run_flow(verify_cluster, request)
    if wants_json():
        emit_record("verify", result)
        return
    click.echo(f"verify passed: {plural(len(result['checks']), 'check')} on {result['target']}")


def _template_name(template_path: str) -> str:
    from pctl.library import resolve
    from pctl.verify import VerifyTarget

    path = resolve(template_path)
    target = VerifyTarget(name="", host="", template_text=path.read_text(encoding="utf-8"),
                          template_label=str(path), user="")
    return target.template().cluster.name


def _run_local(name, host, port, user, key_path, template_path, expected_fingerprint, accept_new_host_key,
               timeout_minutes) -> None:
    from pctl.verify import failure, resolve_target, run_verify

    target = resolve_target(name or _template_name(template_path), host=host, port=port, user=user,
                            key_path=key_path, template_path=template_path,
                            expected_fingerprint=expected_fingerprint, accept_new_host_key=accept_new_host_key)
    click.echo(f"verifying {target.user}@{target.host}:{target.port} against {target.template_label}", err=True)
    report = run_verify(target, accept_new_host_key=accept_new_host_key, wait_timeout_s=timeout_minutes * 60,
                        poll_s=_poll_seconds())
    if wants_json():
        emit_record("verify", report.to_dict())
    else:
        print_table(["CHECK", "RESULT", "DETAIL"], [(c.name, outcome(c.ok), c.detail) for c in report.checks])
    if not report.ok:
        raise failure(report)
    if not wants_json():
        click.echo(f"verify passed: {plural(len(report.checks), 'check')}")


def _poll_seconds() -> float:
    import os

    try:
        return float(os.environ.get("PCTL_POLL_SECONDS", 10))
    except ValueError:
        return 10.0
