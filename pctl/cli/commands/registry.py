"""`pctl registry ...`: shared templates from git repositories (add, update, search, show, pull, index)."""

from __future__ import annotations

from pathlib import Path

import click

from pctl.cli.output import emit_json, json_option, plural, print_table


@click.group("registry")
def cli() -> None:
    """Shared cluster templates from git repositories, checked against their index's sha256."""


@cli.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--replace", is_flag=True, help="Replace an existing source of that name.")
def add(name: str, url: str, replace: bool) -> None:
    """Add a source NAME at git URL (https://, ssh://, git@host:path, file:///path)."""
    from pctl.config import load_config, registry_name_problem, registry_url_problem, set_registry
    from pctl.errors import ConfigError

    problem = registry_name_problem(name)
    if problem:
        raise ConfigError(f"registry name {name!r}: {problem}", "e.g. `pctl registry add community URL`")
    problem = registry_url_problem(url)
    if problem:
        raise ConfigError(f"registry URL {url!r}: {problem}")
    existing = load_config().registries.get(name)
    if existing and existing != url and not replace:
        raise ConfigError(f"a registry named {name!r} already exists ({existing})", "pass --replace to change its URL")
    cfg = set_registry(name, url)
    click.echo(f"added {name} -> {url} ({cfg.path}); now run `pctl registry update`")


@cli.command("remove")
@click.argument("name")
def remove(name: str) -> None:
    """Remove source NAME and its cached clone."""
    from pctl.config import load_config, set_registry
    from pctl.errors import NotFound
    from pctl.registry.store import forget

    if name not in load_config().registries:
        raise NotFound(f"no registry source named {name!r}", "see `pctl registry list`")
    set_registry(name, None)
    forget(name)
    click.echo(f"removed {name}")


@cli.command("list")
@json_option("Print the sources as one JSON document (pctl.registry-list/v1).")
def list_(as_json: bool) -> None:
    """Configured sources, the commit each is pinned to, and when it was fetched."""
    from pctl.config import load_config
    from pctl.registry.store import load_state

    cfg, state = load_config(), load_state()
    rows = []
    for name, url in sorted(cfg.registries.items()):
        s = state.get(name) or {}
        rows.append({"name": name, "url": url, "commit": s.get("commit"), "updated_at": s.get("updated_at"),
                     "last_error": s.get("last_error")})
    if as_json:
        emit_json("registry-list", sources=rows)
        return
    if not rows:
        click.echo("no registry sources; add one with `pctl registry add NAME URL`")
        return
    # A commit shows as its 12-character short form; anything else is printed whole.
    print_table(("NAME", "URL", "PINNED", "UPDATED", "LAST ERROR"),
                [(r["name"], r["url"], r["commit"][:12] if r["commit"] else "never fetched", r["updated_at"] or "-",
                  r["last_error"] or "") for r in rows], styles={0: "bold cyan", 4: "red"})


@cli.command("update")
@click.argument("name", required=False)
@json_option("Print the results as one JSON document (pctl.registry-update/v1).")
def update_(name: str | None, as_json: bool) -> None:
    """Clone or fetch every source (or NAME); offline, the last good copy is kept."""
    from pctl.errors import PctlError
    from pctl.registry.store import update

    results = update(name)
    if as_json:
        emit_json("registry-update", results=[r.to_dict() for r in results])
    else:
        for r in results:
            click.echo(f"{r.source}: {r.message}", err=r.status in ("offline", "failed"))
    failed = [r.source for r in results if r.status == "failed"]
    if failed:
        raise PctlError(f"could not fetch: {', '.join(failed)} (no earlier copy to fall back on)",
                        "check the URL and your network, then retry")


@cli.command("search")
@click.argument("term", required=False, default="")
@click.option("--tag", "tags", multiple=True, help="Only templates with this tag (repeatable).")
@json_option("Print the matches as one JSON document (pctl.registry-search/v1).")
def search_(term: str, tags: tuple[str, ...], as_json: bool) -> None:
    """Templates whose name, description, tags or software match TERM."""
    from pctl.registry.store import search

    found = search(term, tags)
    if as_json:
        emit_json("registry-search", term=term, tags=list(tags),
                  templates=[{"source": f.source, "commit": f.commit, **f.entry.model_dump(mode="json")} for f in found])
        return
    if not found:
        click.echo("no matching templates (try `pctl registry update`, or a shorter term)")
        return
    print_table(("NAME", "VERSION", "DESCRIPTION", "TAGS"),
                [(f.qualified, f.entry.version, f.entry.description, ", ".join(f.entry.tags)) for f in found],
                styles={0: "bold cyan"})


@cli.command("show")
@click.argument("ref")
@json_option("Print the entry as one JSON document (pctl.registry-show/v1).")
def show(ref: str, as_json: bool) -> None:
    """Details of a registry template (NAME or SOURCE/NAME)."""
    from pctl.registry.store import resolve

    f = resolve(ref)
    data = {"source": f.source, "commit": f.commit, **f.entry.model_dump(mode="json")}
    if as_json:
        emit_json("registry-show", **data)
        return
    for key, value in data.items():
        click.echo(f"{key + ':':<18}{', '.join(value) if isinstance(value, list) else value}")


@cli.command("pull")
@click.argument("ref")
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Where to write (default ./NAME.yaml).")
@click.option("--force", is_flag=True, help="Write even if it fails validation or has hook-like fields.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
@json_option("Print the result as one JSON document (pctl.registry-pull/v1).")
def pull_(ref: str, output: Path | None, force: bool, overwrite: bool, as_json: bool) -> None:
    """Fetch a template: sha256-checked, validated, script hooks flagged. Nothing is written on a mismatch."""
    from pctl.errors import PctlError
    from pctl.registry.pull import pull

    result = pull(ref, output, force=force, overwrite=overwrite)
    if as_json:
        emit_json("registry-pull", **result.to_dict())
    else:
        if result.report.issues:
            click.echo(result.report.render(), err=True)
        for flag in result.hooks:
            click.echo(f"FLAGGED {flag.render(result.found.qualified)}", err=True)
    if result.written:
        if not as_json:
            click.echo(f"wrote {result.written} ({result.found.label()}, sha256 verified)")
        return
    reasons = []
    if result.report.errors:
        reasons.append(plural(len(result.report.errors), "validation error"))
    if result.hooks:
        reasons.append(f"{plural(len(result.hooks), 'field')} that may run scripts")
    raise PctlError(f"{result.found.qualified}: {' and '.join(reasons)}; nothing was written",
                    "review the lines above; pass --force to write it anyway")


@cli.command("index")
@click.argument("directory", type=click.Path(path_type=Path, file_okay=False))
@click.option("--author", help="Author recorded for every entry (else kept from the existing index).")
def index(directory: Path, author: str | None) -> None:
    """Generate DIRECTORY/index.json for publishing (validates every template first)."""
    from pctl.registry.index import build_index

    build = build_index(directory, author=author)
    for note in build.notes:
        click.echo(note)
    click.echo(f"wrote {build.path} ({plural(len(build.entries), 'template')}); commit it with the templates")
