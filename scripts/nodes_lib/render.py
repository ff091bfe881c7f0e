"""Render a template for the nodes: pctl's own loader, validator and renderer, OS swapped to the image's."""

from __future__ import annotations

from pathlib import Path

from nodes_lib import image as img
from nodes_lib.proc import NodesError, log


def render_for_nodes(ref: str, out: Path):
    """(template as rendered, image, template path): the template validated, then rendered for the image's OS."""
    from pctl.library import resolve
    from pctl.render import render
    from pctl.validation import validate_file

    path = resolve(ref)
    if not path.is_file():
        raise NodesError(f"no template {ref!r} (a path, or a name from templates/)")
    report, loaded = validate_file(path)
    if not report.ok(False) or loaded.template is None:
        raise NodesError(f"{path} is not a valid template:\n{report.render()}")
    template = loaded.template
    image = img.image_for(template.cluster.os)
    if template.cluster.os != image.render_os:
        log(f"{path.name}: os {template.cluster.os} rendered as {image.render_os}, the nearest Debian-family OS "
            "(the nodes are Debian bookworm)")
    cluster = template.cluster.model_copy(update={"os": image.render_os})
    template = template.model_copy(update={"cluster": cluster})
    rendered = render(template)
    out.mkdir(parents=True, exist_ok=True)
    rendered.write(out)
    log(f"rendered {path.name} into {out}")
    return template, image, path.resolve()
