"""The one Jinja2 environment every pctl renderer uses: strict about undefined names, with
filters that quote values for the language they land in."""

from __future__ import annotations

import json
import os
import shlex
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import BytecodeCache, Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined

TEMPLATES = Path(__file__).parent / "templates"


def to_yaml_scalar(value: Any) -> str:
    """JSON is valid YAML: strings come out double-quoted and escaped, so no value can change structure."""
    return json.dumps(value)


def to_shell_word(value: Any) -> str:
    return shlex.quote(str(value))


def bytecode_cache() -> BytecodeCache | None:
    """Compiled templates cached across runs: compiling them is most of a cold `pctl render`.

    Jinja keys the cache on each template's source checksum, so edits never serve stale code.
    $PCTL_JINJA_CACHE overrides the directory ("" turns the cache off).
    """
    directory = os.environ.get("PCTL_JINJA_CACHE")
    if directory is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        directory = os.path.join(base, "pctl", "jinja")
    if not directory:
        return None
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return FileSystemBytecodeCache(directory)


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=bytecode_cache(),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # YAML, bash and JSON: quoting is done per value by the filters below
    )
    env.filters["yaml"] = to_yaml_scalar
    env.filters["sh"] = to_shell_word
    env.filters["json"] = lambda v: json.dumps(v, indent=2)
    return env


def render_template(name: str, context: dict[str, Any]) -> str:
    return environment().get_template(name).render(**context)
