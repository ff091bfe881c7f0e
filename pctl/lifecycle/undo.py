"""An explicit undo stack: push a compensation after each step that created something, unwind on failure.

Why not Prefect transactions: measured here (docs/lifecycle.md), their rollback hooks fire on the FIRST
failed attempt even when a retry then succeeds, never for the failing task itself, and not for cached
steps. A plain stack has none of those surprises, and the compensations (Prefect tasks when the flow
pushes tasks) still show in the UI.

The user's own resources are never pushed: callers push only what pctl created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Compensation:
    label: str  # what it undoes, for the user: "delete network vpc-123 (3 subnets, 1 NAT gateway)"
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass
class UnwindReport:
    undone: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (label, error)

    def summary(self) -> str:
        parts = []
        if self.undone:
            parts.append("cleaned up: " + "; ".join(self.undone))
        if self.failed:
            parts.append("COULD NOT clean up: " + "; ".join(f"{lab} ({err})" for lab, err in self.failed))
        return ". ".join(parts) if parts else "nothing had been created, nothing to clean up"


class UndoStack:
    def __init__(self) -> None:
        self._items: list[Compensation] = []

    def push(self, label: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self._items.append(Compensation(label, fn, args, kwargs))

    def __len__(self) -> int:
        return len(self._items)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self._items]

    def unwind(self) -> UnwindReport:
        """Run every compensation, newest first; one failing does not stop the others."""
        report = UnwindReport()
        while self._items:
            comp = self._items.pop()
            try:
                comp.fn(*comp.args, **comp.kwargs)
            except Exception as exc:  # keep going: leave as little behind as possible
                report.failed.append((comp.label, f"{type(exc).__name__}: {exc}"))
            else:
                report.undone.append(comp.label)
        return report

    def clear(self) -> None:
        """Forget the compensations (the run succeeded: everything created is now the cluster's)."""
        self._items.clear()
