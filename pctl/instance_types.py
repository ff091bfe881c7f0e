"""EC2 instance type facts from the shipped table (pctl/data/instance_types.json).

The table covers the types pctl suggests and prices; for any other type the architecture follows
AWS's naming convention (a `g` among the attribute letters after the generation digit means
Graviton, e.g. c7gn, m6gd, t4g, hpc7g; `a1` is the first Graviton).
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

_DATA = Path(__file__).parent / "data" / "instance_types.json"
INSTANCE_TYPE_RE = re.compile(r"^([a-z][a-z-]*?)(\d+)([a-z-]*)\.([a-z0-9-]+)$")


@cache
def table() -> dict:
    return json.loads(_DATA.read_text())


def types() -> dict[str, dict]:
    return table()["types"]


def info(instance_type: str) -> dict | None:
    return types().get(instance_type)


def is_well_formed(instance_type: str) -> bool:
    return bool(INSTANCE_TYPE_RE.match(instance_type))


def architecture(instance_type: str) -> str | None:
    """'x86_64' or 'arm64'; None when the name is not an instance type at all."""
    known = info(instance_type)
    if known:
        return known["arch"]
    m = INSTANCE_TYPE_RE.match(instance_type)
    if not m:
        return None
    letters, generation, attributes, _size = m.groups()
    if (letters == "a" and generation == "1") or "g" in attributes:
        return "arm64"
    return "x86_64"


def vcpus(instance_type: str) -> int | None:
    known = info(instance_type)
    return known["vcpus"] if known else None
