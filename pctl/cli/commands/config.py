"""`pctl config show|set|path`: the global defaults in $PCTL_HOME/config.yaml."""

from __future__ import annotations

import click

from pctl.cli.output import emit_json, json_option, print_table


@click.group("config")
def cli() -> None:
    """Global defaults (region, key pair, SSH CIDR, registries). Environment variables override them."""


@cli.command("show")
@json_option("Print the effective values as one JSON document (pctl.config/v1).")
def show(as_json: bool) -> None:
    """Show the effective values and where each comes from (file, environment or default)."""
    from pctl.config import SCALAR_KEYS, load_config

    cfg = load_config()
    if as_json:
        emit_json("config", **cfg.as_dict())
        return
    rows = [(k, getattr(cfg, k) or "-", cfg.sources.get(k, "default")) for k in SCALAR_KEYS]
    click.echo(f"# {cfg.path}{'' if cfg.path.exists() else ' (not written yet)'}")
    print_table(("KEY", "VALUE", "FROM"), rows, styles={0: "bold"})
    if cfg.registries:
        click.echo("\nregistries:")
        print_table(("NAME", "URL"), sorted(cfg.registries.items()))


@cli.command("set")
@click.argument("key")
@click.argument("value", required=False, default="")
def set_(key: str, value: str) -> None:
    """Set KEY (region, key_name, ssh_allowed_cidr) to VALUE; an empty VALUE clears it."""
    from pctl.config import set_value

    cfg = set_value(key, value or None)
    click.echo(f"{key} = {value or '(cleared)'}  ({cfg.path})")
    if cfg.sources.get(key) not in ("file", "default"):
        click.echo(f"note: the environment variable {cfg.sources[key]} overrides it "
                   f"(effective: {getattr(cfg, key)}); unset it to use the file", err=True)


@cli.command("path")
def path() -> None:
    """Print the config file's path."""
    from pctl.config import config_path

    click.echo(str(config_path()))
