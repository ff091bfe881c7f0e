"""Validator classes: one small class per check, each with a level and messages with hints.

Modelled on ParallelCluster's own validators (pcluster/validators) and Cluster Toolkit's blueprint
validators: a validator inspects the built Template and yields Issues with the field path; the runner
attaches YAML line numbers afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator

from pctl.model.template import Template
from pctl.validation.issues import Issue, Level, Path

_REGISTRY: list[type[Validator]] = []


class Validator:
    """Subclass, set `level`, and implement `check`. Registration is automatic."""

    level: Level = Level.ERROR
    online: bool = False  # True: needs AWS; run only by the online validate task

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith("_"):
            _REGISTRY.append(cls)

    def check(self, t: Template) -> Iterator[Issue]:  # pragma: no cover - interface
        raise NotImplementedError

    def issue(self, path: Path, message: str, hint: str | None = None, level: Level | None = None) -> Issue:
        code = self.__class__.__name__.removesuffix("Validator")
        return Issue(level or self.level, tuple(path), message, hint, code=code)


def offline_validators() -> list[Validator]:
    from pctl.validation import (  # noqa: F401  (importing the modules registers their classes)
        accounts,
        instance_rules,
        network,
        pcs_rules,
        storage,
        strings,
        validators,
    )

    return [cls() for cls in _REGISTRY if not cls.online]
