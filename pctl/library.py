"""The template library that users start from (the repo's templates/ directory)."""

from __future__ import annotations

import os
from pathlib import Path

from pctl.errors import NotFound


def library_dir() -> Path:
    """$PCTL_TEMPLATES_DIR, else templates/ beside the package (source and editable installs),
    else the copy shipped as package data."""
    env = os.environ.get("PCTL_TEMPLATES_DIR")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here.parent / "templates", here / "library"):
        if candidate.is_dir():
            return candidate
    raise NotFound("the template library is missing", "set PCTL_TEMPLATES_DIR to a directory of templates")


def names() -> list[str]:
    return sorted(p.stem for p in library_dir().glob("*.yaml"))


def path_of(name: str) -> Path:
    p = library_dir() / f"{name}.yaml"
    if not p.exists():
        import difflib

        close = difflib.get_close_matches(name, names(), n=1)
        hint = f"did you mean `{close[0]}`?" if close else "see `pctl templates list`"
        raise NotFound(f"no library template named {name!r}", hint)
    return p


def resolve(ref: str) -> Path:
    """A template argument: a path to a file, or the name of a library template."""
    p = Path(ref)
    if p.exists() or "/" in ref or ref.endswith((".yaml", ".yml")):
        return p
    return path_of(ref)
