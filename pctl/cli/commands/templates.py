"""`pctl templates list|show`: the library of starting templates."""

from __future__ import annotations

import click

from pctl.cli.output import table


@click.group("templates")
def cli() -> None:
    """The library of cluster templates to start from."""


@cli.command("list")
def list_() -> None:
    """List library templates with their description."""
    from pctl import library
    from pctl.model.loader import load_file

    rows = []
    for name in library.names():
        loaded = load_file(library.path_of(name))
        t = loaded.template
        desc = (t.description or "") if t else "(invalid)"
        queues = ", ".join(q.name for q in t.compute.queues) if t else ""
        rows.append((name, desc, queues))
    click.echo(table(("NAME", "DESCRIPTION", "QUEUES"), rows))


@cli.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Print a library template (redirect it to a file to start your own)."""
    from pctl import library

    click.echo(library.path_of(name).read_text(), nl=False)
