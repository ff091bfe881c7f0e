"""The git template registry: sources in the global config, a pinned clone of each, an index.json.

Public API:
- fetch_template(ref) -> (text, label): "name" or "source/name", sha256-checked against the index.
- pull(ref, out, force=, overwrite=) -> PullResult: also validates and flags script hooks.
- update(only=None), search(term, tags), resolve(ref), build_index(dir).
"""

from __future__ import annotations

from pctl.registry.index import IndexEntry, RegistryError, build_index
from pctl.registry.pull import PullResult, fetch_template, pull
from pctl.registry.store import Found, UpdateResult, resolve, search, update

__all__ = [
    "Found",
    "IndexEntry",
    "PullResult",
    "RegistryError",
    "UpdateResult",
    "build_index",
    "fetch_template",
    "pull",
    "resolve",
    "search",
    "update",
]
