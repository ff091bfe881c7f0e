"""`pctl cost TEMPLATE`: a monthly estimate with every assumption printed."""

from __future__ import annotations

import click

from pctl.cli.commands import light_pydantic
from pctl.cli.commands.completion import template_argument
from pctl.cli.output import emit_json, json_option


@click.command("cost")
@template_argument()
@click.option("--hours-per-month", type=click.FloatRange(0, 744, min_open=True), default=730.0, show_default=True,
              help="Hours a month the elastic nodes are in use (at the utilisation below).")
@click.option("--utilisation", type=click.FloatRange(0, 1), default=None,
              help="Share of (max_count - min_count) nodes busy during those hours [default: 0.2].")
@json_option("Print the estimate as one JSON document (pctl.cost/v1).")
@click.option("--live", is_flag=True, help="Ask the AWS Price List API for instance prices (needs credentials).")
def cli(template: str, hours_per_month: float, utilisation: float | None, as_json: bool, live: bool) -> None:
    """Estimate what TEMPLATE (a file or library name) costs per month."""
    light_pydantic()
    from pctl.cost import estimate
    from pctl.errors import PctlError
    from pctl.library import resolve
    from pctl.validation import validate_file

    report, loaded = validate_file(resolve(template))
    if loaded.template is None or report.errors:
        # Prices of an invalid template (unknown region, min > max...) would be wrong numbers, not an estimate.
        raise PctlError(f"cannot estimate {template}: it is not valid\n{report.render()}",
                        f"fix it first (`pctl validate {template}`)")
    result = estimate(loaded.template, hours_per_month=hours_per_month, utilisation=utilisation, live=live)
    if as_json:
        emit_json("cost", template=str(resolve(template)), **result.to_dict())
    else:
        click.echo(result.render_text())
