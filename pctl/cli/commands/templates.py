"""`pctl templates list|show`: the library of starting templates."""

from __future__ import annotations

import re
from pathlib import Path

import click

from pctl.cli.commands import light_pydantic
from pctl.cli.output import emit_json, json_option, print_table

SCHEMA_FILE = "template.schema.json"
_MODELINE = re.compile(r"^# yaml-language-server: \$schema=\S+[ \t]*$", re.MULTILINE)


@click.group("templates")
def cli() -> None:
    """The library of cluster templates to start from."""


def _entries() -> list[dict]:
    light_pydantic()
    from pctl import library
    from pctl.validation import validate_file

    out = []
    for name in library.names():
        path = library.path_of(name)
        report, loaded = validate_file(path)
        t = loaded.template
        out.append({
            "name": name, "path": str(path), "valid": report.ok(), "description": (t.description or "") if t else "",
            "queues": [q.name for q in t.compute.queues] if t else [], "tags": list(t.tags) if t else [],
            "platform": t.cluster.platform.value if t else None,
        })
    return out


@cli.command("list")
@json_option("Print the library as one JSON document (pctl.templates/v1).")
def list_(as_json: bool) -> None:
    """List library templates with their description and queues."""
    from pctl import library

    entries = _entries()
    if as_json:
        emit_json("templates", library=str(library.library_dir()), templates=entries)
        return
    print_table(("NAME", "DESCRIPTION", "QUEUES"),
                [(e["name"], e["description"] if e["valid"] else "(invalid: `pctl validate " + e["name"] + "`)",
                  ", ".join(e["queues"])) for e in entries], styles={0: "bold cyan"})
    click.echo("\nstart from one: `pctl templates show NAME -o mycluster.yaml`", err=True)


def with_schema(text: str, schema_ref: str) -> str:
    """`text` whose yaml-language-server modeline points at `schema_ref` (replaced, or added on top)."""
    line = f"# yaml-language-server: $schema={schema_ref}"
    if _MODELINE.search(text):
        return _MODELINE.sub(lambda _m: line, text, count=1)
    return f"{line}\n{text}"


@cli.command("show")
@click.argument("name")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help=f"Write the template here, with {SCHEMA_FILE} beside it for your editor.")
@click.option("--force", is_flag=True, help="Overwrite an existing --output file.")
def show(name: str, output: Path | None, force: bool) -> None:
    """Print library template NAME (or write it with -o) to start your own.

    Its `$schema` line points at the published schema when printed, and at the schema file written
    beside it with -o, so editors (yaml-language-server) check and complete it wherever it lands.
    """
    from pctl import library
    from pctl.errors import PctlError
    from pctl.model.template import SCHEMA_URL

    text = library.path_of(name).read_text(encoding="utf-8")
    if output is None:
        click.echo(with_schema(text, SCHEMA_URL), nl=False)
        return
    if output.exists() and not force:
        raise PctlError(f"{output} exists; nothing was written", "choose another path, or pass --force")
    import json

    from pctl.model.template import json_schema

    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(with_schema(text, f"./{SCHEMA_FILE}"), encoding="utf-8")
        (output.parent / SCHEMA_FILE).write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PctlError(f"cannot write {output}: {exc.strerror or exc}", "choose a writable path") from exc
    click.echo(f"wrote {output} and {output.parent / SCHEMA_FILE}; next: `pctl validate {output}`")
