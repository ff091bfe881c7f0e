"""`pctl container build TEMPLATE [--name N] [--push]`: container recipes from a template, built and pushed."""

from __future__ import annotations

from pathlib import Path

import click

from pctl.cli.commands.completion import template_argument
from pctl.cli.output import emit_json, json_option


@click.group("container")
def cli() -> None:
    """Containers of a template (software.containers): recipes, builds, ECR."""


@cli.command("build")
@template_argument()
@click.option("--name", "only", default=None, help="Build only this container (default: every one with packages).")
@click.option("--push", is_flag=True, help="Push to Amazon ECR (a repository per container, scan on push, encrypted).")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the recipes go [default: $PCTL_HOME/containers/CLUSTER/NAME].")
@click.option("--region", default=None, help="ECR region [default: the template's].")
@json_option("Print what was written, built and pushed as one JSON document (pctl.container-build/v1).")
def build_cmd(template: str, only: str | None, push: bool, output: Path | None, region: str | None,
              as_json: bool) -> None:
    """Write each container's Dockerfile, Apptainer definition and spack.yaml; build with podman or
    Docker where one runs; with --push, push to ECR and print the digest to pin."""
    import hashlib

    from pctl.containers import engine as eng
    from pctl.containers.recipe import find, render_recipe
    from pctl.errors import PctlError
    from pctl.fsutil import atomic_write_text
    from pctl.library import resolve
    from pctl.state import home
    from pctl.validation import validate_file

    report, loaded = validate_file(resolve(template))
    if loaded.template is None or report.errors:
        raise PctlError(f"{template} is not valid\n{report.render()}", f"fix it first (`pctl validate {template}`)")
    t = loaded.template
    engine, why = eng.find_engine()
    if push and engine is None:
        raise PctlError(f"--push needs a container engine: {why}",
                        "install podman (or run on a machine with Docker), or build the recipe elsewhere")
    results = []
    for c in find(t, only):
        files = render_recipe(t, c)
        out = (output / c.name) if output else home() / "containers" / t.cluster.name / c.name
        out.mkdir(parents=True, exist_ok=True)
        for fname, text in files.items():
            atomic_write_text(out / fname, text)
        digest = hashlib.sha256("".join(files.values()).encode()).hexdigest()[:12]
        tag = f"{t.software.spack_version}-{digest}"
        local = f"pctl-{t.cluster.name.lower()}-{c.name}:{tag}"
        result = {"name": c.name, "recipe_dir": str(out), "files": sorted(files), "tag": tag,
                  "built": False, "pushed": None, "digest": None}
        if engine is None:
            result["note"] = f"not built: {why}"
        else:
            eng.build(engine, out, local)
            result["built"] = True
            if push:
                from pctl.aws.session import client, make_session

                ecr = client(make_session(region or t.cluster.region), "ecr")
                repo = eng.repository_name(t.cluster.name, c.name)
                uri = eng.ensure_repository(ecr, repo, t.cluster.name)
                eng.registry_login(ecr, engine)
                eng.push(engine, local, f"{uri}:{tag}")
                result["pushed"] = f"{uri}:{tag}"
                result["digest"] = eng.pushed_digest(ecr, repo, tag)
        results.append(result)
    if as_json:
        emit_json("container-build", template=str(resolve(template)), containers=results)
        return
    for r in results:
        click.echo(f"{r['name']}: recipe in {r['recipe_dir']} ({', '.join(r['files'])})")
        if r.get("note"):
            click.echo(f"  {r['note']}")
            click.echo(f"  build it where an engine runs: podman build -t {r['name']}:{r['tag']} {r['recipe_dir']}")
            click.echo(f"  or: apptainer build {r['name']}.sif {r['recipe_dir']}/apptainer.def")
        if r["pushed"]:
            click.echo(f"  pushed {r['pushed']}" + (f" ({r['digest']})" if r["digest"] else ""))
            click.echo(f"  pin it in the template: image: {r['pushed'].rsplit(':', 1)[0]}@{r['digest']}"
                       if r["digest"] else "")
