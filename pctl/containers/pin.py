"""Pin what a cluster runs: each container image by its digest, resolved once at create.

`pin_images(t, ecr_for_region)` -> `(template with pinned images, {name: reference})`. An image that
already names a digest (`...@sha256:...`) is kept; an ECR image by tag is resolved through
`ecr:DescribeImages` to `repository@sha256:...`, so every node (and every later boot) pulls exactly
that image even if the tag moves; any other registry's tag is kept as written and reported as not
pinned. The references go into the cluster's state, `pctl status` shows them, and `pctl verify`
checks that the head node pulled exactly them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pctl.errors import PctlError
from pctl.model.template import Template
from pctl.validation.rules import IMAGE_REF_RE, ecr_region

NOT_PINNED = "not pinned: only ECR tags are resolved to digests; write image@sha256:... to pin it"


def pinned(ref: str) -> bool:
    m = IMAGE_REF_RE.fullmatch(ref)
    return bool(m and m.group("digest"))


def resolve_ecr(ecr: Any, ref: str) -> str:
    """`registry/repo:tag` -> `registry/repo@sha256:...` (PctlError when ECR has no such image)."""
    m = IMAGE_REF_RE.fullmatch(ref)
    assert m is not None
    name, tag = m.group("name"), m.group("tag") or "latest"
    registry, _, repository = name.partition("/")
    try:
        details = ecr.describe_images(registryId=registry.split(".")[0], repositoryName=repository,
                                      imageIds=[{"imageTag": tag}])["imageDetails"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in ("ImageNotFoundException", "RepositoryNotFoundException"):
            raise PctlError(f"container image {ref} is not in ECR ({code})",
                            "push it first (`pctl container build --push`) or fix software.containers[].image") from exc
        raise
    return f"{name}@{details[0]['imageDigest']}"


def pin_images(t: Template, ecr_for_region: Callable[[str], Any]) -> tuple[Template, dict[str, str]]:
    refs: dict[str, str] = {}
    containers = []
    for c in t.software.containers:
        if c.image and not pinned(c.image) and (region := ecr_region(c.image)):
            ref = resolve_ecr(ecr_for_region(region), c.image)
            containers.append(c.model_copy(update={"image": ref}))
        else:
            containers.append(c)
        if c.image:
            refs[c.name] = containers[-1].image or ""
    software = t.software.model_copy(update={"containers": containers})
    return t.model_copy(update={"software": software}), refs
