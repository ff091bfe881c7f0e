"""Which Spack packages some template still names: the registry's templates, the library's, and every
cluster state's template (what `pctl cache prune` keeps)."""

from __future__ import annotations

from dataclasses import dataclass, field

ALWAYS = ("lmod",)  # every pctl environment installs Lmod


@dataclass
class Named:
    packages: set[str] = field(default_factory=lambda: set(ALWAYS))
    sources: list[str] = field(default_factory=list)  # "registry:lab/starter", "state:mycluster", ...
    problems: list[str] = field(default_factory=list)  # templates that could not be read (kept: prune stops)


def _packages_of(text: str, label: str) -> list[str]:
    from pctl.validation import validate_text
    from pctl.validation.rules import spack_package_name

    report, loaded = validate_text(text, label)
    template = loaded.template
    if template is None:
        raise ValueError(f"{label} does not load: {report}")
    return [spack_package_name(s) for s in template.software.spack_packages]


def named_packages(*, registry: bool = True, states: bool = True, library: bool = True) -> Named:
    """Package names every known template asks for. A template that cannot be read is a problem, not a skip:
    prune refuses to run while it cannot tell what that template needs."""
    out = Named()

    def add(text: str, label: str) -> None:
        try:
            out.packages.update(_packages_of(text, label))
            out.sources.append(label)
        except Exception as exc:
            out.problems.append(f"{label}: {exc}")

    if library:
        from pctl import library as lib

        for name in lib.names():
            add(lib.path_of(name).read_text(encoding="utf-8"), f"library:{name}")
    if registry:
        try:
            from pctl.registry.pull import fetch_checked
            from pctl.registry.store import all_entries

            for found in all_entries():
                try:
                    add(fetch_checked(found), f"registry:{found.label()}")
                except Exception as exc:
                    out.problems.append(f"registry:{found.label()}: {exc}")
        except Exception as exc:
            out.problems.append(f"registry: {exc}")
    if states:
        from pctl import state

        for entry in state.list_all():
            if entry.state is None:
                out.problems.append(f"state:{entry.name}: {entry.error}")
            elif entry.state.template_text:
                add(entry.state.template_text, f"state:{entry.name}")
    return out
