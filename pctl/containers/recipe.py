"""A container entry -> its build recipe: spack.yaml, a multi-stage Dockerfile and an Apptainer definition.

The layout follows `spack containerize` (Spack's "Container Images" documentation): a build stage from
Spack's own image of the pinned release installs the environment into /opt/software with a view in
/opt/view; the run stage copies only those onto the plain OS image. Shapes: `render_recipe(t, c)` ->
`{"spack.yaml": str, "Dockerfile": str, "apptainer.def": str}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from pctl.errors import PctlError
from pctl.model.template import Container, Template

# Spack publishes build images per release and OS (docker.io/spack/<os>:v<release>); the run stage is
# the matching plain OS image. Ubuntu 22.04 matches the public binary cache's glibc.
BUILD_IMAGE = "docker.io/spack/ubuntu-jammy:v{version}"
RUN_IMAGE = "docker.io/library/ubuntu:22.04"
RECIPE_FILES = ("spack.yaml", "Dockerfile", "apptainer.def")


@dataclass(frozen=True)
class ContainerPlan:
    name: str
    image: str | None  # where it is pulled from (and pushed to, when it is built)
    packages: tuple[str, ...]

    @property
    def buildable(self) -> bool:
        return bool(self.packages)


def plans(t: Template) -> list[ContainerPlan]:
    return [ContainerPlan(c.name, c.image, tuple(c.packages)) for c in t.software.containers]


def find(t: Template, name: str | None) -> list[Container]:
    """The template's containers to build: the one named `name`, or every one with packages."""
    chosen = [c for c in t.software.containers if name in (None, c.name)]
    if name and not chosen:
        known = ", ".join(c.name for c in t.software.containers) or "none"
        raise PctlError(f"no container named {name!r} in the template", f"its containers: {known}")
    chosen = [c for c in chosen if c.packages]
    if not chosen:
        raise PctlError("no container to build: a container is built from its `packages`",
                        "add packages to software.containers[] (an `image` alone is pulled, not built)")
    return chosen


@cache
def _env() -> Environment:
    import json

    env = Environment(loader=PackageLoader("pctl.containers", "templates"), undefined=StrictUndefined,
                      keep_trailing_newline=True, autoescape=False, trim_blocks=True, lstrip_blocks=True)
    env.filters["json"] = json.dumps  # a JSON string is a valid YAML scalar and a Dockerfile word
    return env


def render_recipe(t: Template, c: Container) -> dict[str, str]:
    """The three recipe files of container `c` (values are validated names and specs, JSON-quoted)."""
    version = t.software.spack_version
    context = {
        "name": c.name,
        "specs": list(c.packages),
        "spack_version": version,
        "build_image": BUILD_IMAGE.format(version=version),
        "run_image": RUN_IMAGE,
        "cluster": t.cluster.name,
    }
    return {f: _env().get_template(f"{f}.j2").render(**context) for f in RECIPE_FILES}
