"""`pctl validate TEMPLATE`: offline checks with field, line and hint for every problem."""

from __future__ import annotations

import sys

import click

from pctl.cli.commands import light_pydantic
from pctl.cli.commands.completion import template_argument
from pctl.cli.output import emit_json, json_option


@click.command("validate")
@template_argument()
@json_option("Print the report as one JSON document (schema pctl.validate/v1).")
@click.option("--strict", is_flag=True, help="Warnings fail too.")
def cli(template: str, as_json: bool, strict: bool) -> None:
    """Check TEMPLATE (a path or a library name) without touching the network.

    Exit 0 when valid, 1 when not.
    """
    import gc

    light_pydantic()
    # Importing pydantic and building the model allocate ~100k long-lived objects; the cyclic collector
    # would walk them again and again (~5% of the run) and free nothing. Off while they are made; then
    # they are frozen (never walked again) and the collector is back on for whatever comes next.
    gc.disable()
    try:
        from pctl.library import resolve
        from pctl.validation import validate_file

        report, _ = validate_file(resolve(template))
    finally:
        gc.freeze()
        gc.enable()
    if as_json:
        emit_json("validate", **report.to_dict(strict))
    else:
        if report.issues:
            click.echo(report.render(), err=not report.ok(strict))
        status = "valid" if report.ok(strict) else "invalid"
        click.echo(f"{report.source}: {status} ({report.summary()})")
    sys.exit(0 if report.ok(strict) else 1)
