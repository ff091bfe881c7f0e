"""Flag what in a shared template could run a script on the cluster.

pctl templates have no script field today: pctl renders every bootstrap script itself. A template from a
registry that carries a key that *looks* like a hook (ParallelCluster's CustomActions/OnNode*, a
`script`, `user_data`, a pre/post-install step) or any field pctl does not know (a hook meant for a
future pctl or another tool) is flagged before it is written, so a reviewer looks at it first. Inline
shell (a string that starts with `#!`) is flagged too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pctl.validation.issues import Report, format_path

if TYPE_CHECKING:
    from pctl.model.loader import Loaded

# Matched against the key lowercased with '_' and '-' removed, so OnNodeStart, on_node_start and
# on-node-start all match. Anchored: `description` or `install` alone do not.
HOOK_KEY_RE = re.compile(
    r"^(?:customactions?|onnode\w*|\w*scripts?|scripts?\w*|userdata|(?:pre|post)install\w*|\w*hooks?)$"
)


@dataclass(frozen=True)
class HookFlag:
    field: str
    line: int | None
    reason: str

    def render(self, source: str = "") -> str:
        where = f"{source}:{self.line}" if self.line else (source or "template")
        return f"{where}: {self.field}: {self.reason}"


def looks_like_hook(key: str) -> bool:
    return bool(HOOK_KEY_RE.match(re.sub(r"[_-]", "", key.lower())))


def _walk(data: Any, path: tuple, loaded: Loaded, out: dict[tuple, HookFlag]) -> None:
    if isinstance(data, dict):
        for key, value in data.items():
            child = (*path, key)
            if isinstance(key, str) and looks_like_hook(key):
                out[child] = HookFlag(format_path(child), loaded.locate(child)[0],
                                      "looks like a script hook: review what it would run before using this template")
            _walk(value, child, loaded, out)
    elif isinstance(data, list):
        for i, item in enumerate(data):
            _walk(item, (*path, i), loaded, out)
    elif isinstance(data, str) and data.lstrip().startswith("#!"):
        out.setdefault(path, HookFlag(format_path(path), loaded.locate(path)[0],
                                      "holds an inline script (starts with #!): review it"))


def script_hooks(loaded: Loaded, report: Report) -> list[HookFlag]:
    """Hook-like keys, inline scripts, and every unknown field the validation reported."""
    flags: dict[tuple, HookFlag] = {}
    _walk(loaded.data, (), loaded, flags)
    for issue in report.issues:
        if issue.code == "extra_forbidden" and tuple(issue.path) not in flags:
            flags[tuple(issue.path)] = HookFlag(
                issue.field, issue.line,
                "unknown field: pctl does not run it, but it may be a hook written for another tool; review it",
            )
    return sorted(flags.values(), key=lambda f: (f.line or 0, f.field))
