"""`pctl schema`: the template's JSON Schema, generated from the pydantic model."""

from __future__ import annotations

import click


@click.command("schema")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write to a file instead of stdout.")
def cli(output: str | None) -> None:
    """Print the JSON Schema of templates (for editors: yaml-language-server)."""
    import json

    from pctl.model.template import json_schema

    text = json.dumps(json_schema(), indent=2) + "\n"
    if output:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)
