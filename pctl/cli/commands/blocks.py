"""`pctl blocks register|show`: the Prefect block types pctl uses."""

from __future__ import annotations

import click

from pctl.cli.output import emit_json, json_option, print_table


@click.group("blocks")
def cli() -> None:
    """Prefect blocks: AWS credentials, pctl settings, the SSH key secret."""


def _connect() -> str:
    from pctl.errors import PctlError
    from pctl.prefect_env import configure

    target = configure()
    if target.mode == "ephemeral":
        raise PctlError(
            "blocks are saved on a Prefect server, and none is running",
            "start one with `pctl server up`, or set PREFECT_API_URL",
        )
    return target.api_url or ""


@cli.command("register")
def register() -> None:
    """Register the block types (PctlSettings, AwsCredentials, Secret) so the UI offers them."""
    url = _connect()
    from blocks import register_block_types

    slugs = register_block_types()
    click.echo(f"registered on {url}: {', '.join(slugs)}")
    click.echo("next: create a 'Pctl Settings' block named 'default' in the UI (Blocks > +)")


@cli.command("show")
@click.option("--name", default="default", show_default=True, help="PctlSettings block name.")
@json_option("Print the settings as one JSON document (pctl.blocks-settings/v1).")
def show(name: str, as_json: bool) -> None:
    """Show the effective PctlSettings (the saved block, else the built-in defaults)."""
    _connect()
    from blocks import load_settings

    data = load_settings(name).model_dump(mode="json", exclude={"block_type_slug"})
    if as_json:
        emit_json("blocks-settings", name=name, settings=data)
    else:
        print_table(("SETTING", "VALUE"), sorted(data.items()))
