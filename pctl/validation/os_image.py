"""Why a template may not name an operating system ParallelCluster publishes no image for (rocky8, rocky9).

Those are left out of the schema's enum for `cluster.os` (pctl.model.constants.OS_ARCHITECTURES), so an
editor never offers them and the model refuses them with pydantic's bare "input should be ...". The loader
asks `refusal` whether such a value is one of ParallelCluster's private operating systems
(pctl.model.constants.PRIVATE_OSES, = pcluster.constants.PRIVATE_OSES) and, if so, reports the reason and
the route instead: ParallelCluster runs Rocky Linux only from a custom AMI built on the user's own Rocky
image, pctl's bake starts from an official ParallelCluster image, and RHEL of the same major release is
binary compatible.
"""

from __future__ import annotations

from typing import Any

from pctl.model.constants import OS_ARCHITECTURES, PRIVATE_OSES
from pctl.validation.issues import Issue, Level

PATH = ("cluster", "os")


def accepted() -> str:
    """Every OS a template may name, comma-separated, in the schema's order (for hints)."""
    return ", ".join(OS_ARCHITECTURES)


def refusal(value: Any, platform: Any = "parallelcluster") -> Issue | None:
    """The located-later error for `cluster.os: value`, or None when `value` is no private OS.

    `platform` is the template's raw `cluster.platform` (a string, or anything a broken template holds);
    on PCS the reason is PCS's own (pctl runs PCS nodes on Amazon Linux 2023), code `PcsOs`, as for any
    other OS there. Elsewhere the code is `OsImage`.
    """
    if not isinstance(value, str) or value not in PRIVATE_OSES:
        return None
    if platform == "pcs":
        return Issue(Level.ERROR, PATH, f"pctl runs PCS nodes on Amazon Linux 2023, not {value}",
                     "set os: alinux2023 (or leave it out) for platform: pcs", code="PcsOs")
    twin = PRIVATE_OSES[value]
    return Issue(Level.ERROR, PATH,
                 f"ParallelCluster publishes no image for {value}: it supports Rocky Linux only through a custom "
                 "AMI built from your own Rocky image, which pctl does not build (its images start from "
                 "ParallelCluster's official ones)",
                 f"use {twin}, which is binary-compatible with {value} (accepted: {accepted()})", code="OsImage")
