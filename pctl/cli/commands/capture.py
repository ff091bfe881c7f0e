"""`pctl capture`: turn an existing HPC workload into a pctl template.

  pctl capture script FILE_OR_DIR... [--json] [-o template.yaml] [--report report.md]
  pctl capture remote USER@HOST [-p PORT] [-i KEY] [--accept-new-host-key] -o template.yaml [--report report.md]
"""

from __future__ import annotations

from pathlib import Path

import click

from pctl.cli.output import emit_json, json_option, plural


@click.group("capture")
def cli() -> None:
    """Capture batch scripts or a live cluster into a template plus a migration report."""


def _write(path: str, text: str) -> None:
    from pctl.errors import PctlError

    try:
        Path(path).write_text(text)
    except OSError as exc:
        raise PctlError(f"cannot write {path}: {exc.strerror or exc}", "choose a writable path") from exc


@cli.command("script")
@click.argument("paths", nargs=-1, required=True, metavar="FILE_OR_DIR...")
@json_option("Print scripts, mappings and the template as one JSON document (pctl.capture-script/v1).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the template here (else print it).")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write the markdown migration report here.")
@click.option("--name", help="Cluster name in the template (default: the directory's name, or 'captured').")
@click.option("--region", default="us-east-1", show_default=True, help="AWS region in the template.")
def script_cmd(paths: tuple[str, ...], as_json: bool, output: str | None, report_path: str | None,
               name: str | None, region: str) -> None:
    """Read Slurm, PBS/Torque, SGE and LSF batch scripts (files or directories, walked recursively):
    resources become queues, `module load`s become Spack packages. Commercial or unknown software is
    reported, never guessed.
    """
    from pctl.capture.build import build_template, render_yaml
    from pctl.capture.report import render_report
    from pctl.capture.script import capture_paths

    if name is None:
        first = Path(paths[0]).resolve()
        name = first.name if len(paths) == 1 and first.is_dir() else "captured"
    capture = capture_paths(paths)
    build = build_template(capture, name=name, region=region)
    text = render_yaml(build)
    if output:
        _write(output, text)
    if report_path:
        _write(report_path, render_report(build, title=build.template["cluster"]["name"]))
    if as_json:
        emit_json("capture-script", scripts=[s.to_dict() for s in capture.scripts], template=build.template)
    elif not output:
        click.echo(text, nl=False)
    unmapped = sorted({m for s in capture.scripts for m in s.unmapped})
    if output or report_path:
        click.echo(f"captured {plural(len(capture.scripts), 'script')}: {plural(len(build.queues), 'queue')}, "
                   f"{plural(len(build.packages), 'Spack package')}, {plural(len(unmapped), 'unmapped module')}",
                   err=True)
        for path in filter(None, (output, report_path)):
            click.echo(f"  wrote {path}", err=True)
    if unmapped:  # always named (stderr: stdout may be the template)
        click.echo(f"unmapped ({len(unmapped)}, not in the template): {', '.join(unmapped)}", err=True)


@cli.command("remote")
@click.argument("target", metavar="USER@HOST")
@click.option("-p", "--port", type=int, default=22, show_default=True)
@click.option("-i", "--identity", "key_path", type=click.Path(dir_okay=False), help="SSH private key.")
@click.option("--known-hosts", type=click.Path(dir_okay=False), help="known_hosts file to verify the host key against.")
@click.option("--accept-new-host-key", is_flag=True, help="Trust and record the host key on first contact (TOFU).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Write the template here.")
@click.option("--report", "report_path", type=click.Path(dir_okay=False), help="Write the markdown report here.")
@json_option("Also print the captured template and its validation as one JSON document (pctl.capture-remote/v1).")
def remote_cmd(target: str, port: int, key_path: str | None, known_hosts: str | None, accept_new_host_key: bool,
               output: str, report_path: str | None, as_json: bool) -> None:
    """Capture a live cluster over SSH (host key verified): partitions, nodes, modules, users."""
    import yaml

    from pctl.errors import PctlError
    from pctl.validation import validate_text

    if "@" not in target or target.startswith("@") or target.endswith("@"):
        raise PctlError(f"{target!r} is not USER@HOST", "e.g. `pctl capture remote alice@login.hpc.example.edu`")
    from pctl.capture.remote import capture_remote  # SSH and paramiko only when asked for

    result = capture_remote(target, port, key_path, known_hosts=known_hosts, accept_new_host_key=accept_new_host_key)
    text = yaml.safe_dump(result.template, sort_keys=False, default_flow_style=False)
    _write(output, text)
    if report_path:
        _write(report_path, result.report_md)
    report, _ = validate_text(text, output)
    if as_json:
        emit_json("capture-remote", target=target, port=port, output=output, report=report_path,
                  template=result.template, validation=report.to_dict())
    click.echo(f"wrote {output}" + (f" and {report_path}" if report_path else ""), err=True)
    if report.errors:
        raise PctlError(f"the captured template does not validate yet:\n{report.render()}",
                        f"edit {output}, then run `pctl validate {output}`")
