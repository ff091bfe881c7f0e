"""What a Ctrl-C during a create does: roll back what this run made, or keep it (a cluster keeps building).

The CLI installs an asker when stdin is a terminal (`set_asker`); anywhere else (a deployment, a pipe,
CI) the answer comes from PCTL_ON_INTERRUPT=rollback|keep, default `rollback`: nothing is left running
that nobody asked for. A second Ctrl-C while the question is open counts as `keep` (leave at once; the
state records what exists, `pctl delete NAME` removes it).
"""

from __future__ import annotations

import os
from collections.abc import Callable

ROLLBACK, KEEP = "rollback", "keep"
DEFAULT = ROLLBACK
_asker: Callable[[str, str], str] | None = None


def set_asker(fn: Callable[[str, str], str] | None) -> None:
    """fn(cluster, step) -> 'rollback' or 'keep'; None: non-interactive (environment, then the default)."""
    global _asker
    _asker = fn


def choice(cluster: str, step: str) -> str:
    if _asker is not None:
        try:
            answer = _asker(cluster, step)
        except (KeyboardInterrupt, EOFError):
            return KEEP
        return KEEP if answer == KEEP else ROLLBACK
    env = os.environ.get("PCTL_ON_INTERRUPT", DEFAULT).strip().lower()
    return KEEP if env == KEEP else ROLLBACK
