"""Baked images (software: install: ami): fingerprint, tags, official base image, find, list, delete.

The bake itself (a builder instance, the software script, the image) is pctl.aws.ami_bake; its names
(`bake_image`, `builder_subnet`, `marker_prefix`, `render_user_data`) are also reachable from here.
Sharing: pctl.aws.ami_share; copies: pctl.aws.ami_copy; one bake per fingerprint: pctl.aws.ami_lock;
what a rebuilt image inherits: pctl.aws.ami_lineage. User guide: docs/ami.md.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from pctl.aws.errors import is_not_found, to_pctl_error
from pctl.aws.resource import Resource
from pctl.aws.session import client
from pctl.errors import PctlError
from pctl.model.constants import CLUSTER_TAG
from pctl.model.template import Platform

if TYPE_CHECKING:
    import boto3

    from pctl.model.template import Template

FINGERPRINT_TAG = "pctl:fingerprint"
# Tags ParallelCluster reads from a custom AMI (pcluster/constants.py, 3.16): CustomAmiTagValidator wants the
# version (ERROR if it differs from the installed pcluster) and the build status (ERROR if missing);
# AmiOsCompatibleValidator compares the OS tag with Image.Os (ERROR if different, WARNING if absent).
PCLUSTER_VERSION_TAG = "parallelcluster:version"
PCLUSTER_BUILD_STATUS_TAG = "parallelcluster:build_status"
PCLUSTER_OS_TAG = "parallelcluster:os"
BUILD_STATUS_AVAILABLE = "available"  # what pcluster's build-image sets once its image is complete
# What pctl's registry and `pctl ami` read back from an image.
SPACK_VERSION_TAG = "pctl:spack-version"
SPACK_TARGET_TAG = "pctl:spack-target"
ARCH_TAG = "pctl:arch"
TEMPLATE_SHA_TAG = "pctl:template-sha256"
PACKAGES_TAG = "pctl:packages"  # comma-joined specs, split over pctl:packages, pctl:packages:1, ... (256 chars each)
BASE_IMAGE_TAG = "pctl:base-image"
BAKE_PREFIX = "pctl-bakes"
# The image-name part of each OS in ParallelCluster's official AMI names (pcluster.constants, 3.16).
OS_IMAGE_NAME_PART = {
    "alinux2023": "amzn2023-hvm",
    "ubuntu2204": "ubuntu-2204-lts-hvm",
    "ubuntu2404": "ubuntu-2404-lts-hvm",
    "rhel8": "rhel8-hvm",
    "rhel9": "rhel9-hvm",
    "rocky8": "rocky8-hvm",
    "rocky9": "rocky9-hvm",
}
# Builders compile with Spack: 8 vCPUs is a fair speed/cost balance.
BUILDER_TYPES = {"x86_64": "c6i.2xlarge", "arm64": "c7g.2xlarge"}
ROOT_VOLUME_GB = 80


def template_arch(template: Template) -> str:
    from pctl.instance_types import architecture

    return architecture(template.compute.head_node) or "x86_64"


def template_instance_types(template: Template) -> list[str]:
    """Every instance type the template names: the head node and each queue's types, in order, once each."""
    types = [template.compute.head_node, *(it for q in template.compute.queues for it in q.instance_types)]
    return list(dict.fromkeys(types))


def spack_target(template: Template) -> str:
    """The Spack/archspec target the bake compiles for: the newest one every named instance type runs."""
    import warnings

    from pctl.targets import cluster_target

    types = template_instance_types(template)
    try:
        with warnings.catch_warnings():  # an unknown family: the validator warns; the bake just builds generic
            warnings.simplefilter("ignore")
            return cluster_target(types)
    except ValueError as exc:
        raise PctlError(f"no Spack target for the image: {exc}",
                        "compute.head_node and every queue's instance_types must be one architecture") from exc


def template_sha256(template: Template) -> str:
    """sha256 of the template's canonical JSON (pctl's model dump, sorted keys): the same for equal templates."""
    return hashlib.sha256(template.model_dump_json(exclude_none=False).encode()).hexdigest()


def fingerprint(template: Template, pcluster_version: str, base_image: str | None = None) -> str:
    """sha256 over what determines the baked image's content; equal fingerprints can share an image.

    `base_image` names the official ParallelCluster AMI the bake starts from (its *name*, which is the same
    in every region, unlike its id): when AWS publishes a new one (a patched OS), the fingerprint changes and
    the scheduled rebuild re-bakes. The Spack target is the one every instance type of the template runs
    (`pctl.targets.cluster_target`), so a template that adds an older instance type gets a new image.
    """
    payload = {
        "packages": sorted(template.software.spack_packages),
        "spack_version": template.software.spack_version,
        "spack_target": spack_target(template),
        "os": template.cluster.os,
        "arch": template_arch(template),
        "pcluster_version": pcluster_version,
    }
    if base_image is not None:
        payload["base_image"] = base_image
    if template.cluster.platform is Platform.pcs:  # a new PCS agent line or Slurm version re-bakes
        from pctl.pcs.image import fingerprint_payload
        from pctl.pcs.limits import slurm_version_of

        payload |= fingerprint_payload(slurm_version_of(template))
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def current_fingerprint(session: boto3.Session, template: Template, pcluster_version: str) -> tuple[str, str]:
    """(fingerprint, base image id) against the base published today in the session's region: the official
    ParallelCluster image, or for platform pcs Amazon Linux 2023 (the PCS agent and Slurm go on top)."""
    if template.cluster.platform is Platform.pcs:
        from pctl.pcs.image import base_image_record

        base = base_image_record(client(session, "ec2"), template_arch(template))
        return fingerprint(template, pcluster_version, base["Name"]), base["ImageId"]
    base = official_image_record(session, template.cluster.os, template_arch(template), pcluster_version)
    return fingerprint(template, pcluster_version, base["Name"]), base["ImageId"]


def official_image(session: boto3.Session, os: str, arch: str, pcluster_version: str) -> str:
    """The newest official ParallelCluster AMI id for os/arch/version in the session's region."""
    return official_image_record(session, os, arch, pcluster_version)["ImageId"]


def official_image_record(session: boto3.Session, os: str, arch: str, pcluster_version: str) -> dict:
    """The newest official ParallelCluster AMI (DescribeImages record) for os/arch/version in the region."""
    part = OS_IMAGE_NAME_PART.get(os)
    if part is None:
        raise PctlError(
            f"ParallelCluster {pcluster_version} publishes no AMI for {os}.",
            f"Use one of: {', '.join(sorted(OS_IMAGE_NAME_PART))}.",
        )
    pattern = f"aws-parallelcluster-{pcluster_version}-{part}-{arch}*"
    try:
        images = client(session, "ec2").describe_images(
            Owners=["amazon"],
            Filters=[{"Name": "name", "Values": [pattern]}, {"Name": "state", "Values": ["available"]}],
        )["Images"]
    except Exception as exc:
        raise to_pctl_error(exc, f"looking up the ParallelCluster AMI {pattern}") from exc
    if not images:
        hint = "Rocky AMIs are not public: build one with `pcluster build-image`." if os.startswith("rocky") else (
            f"Check that ParallelCluster {pcluster_version} supports {os}/{arch} in {session.region_name}."
        )
        raise PctlError(f"No official ParallelCluster AMI named {pattern} in {session.region_name}.", hint)
    return max(images, key=lambda i: i.get("CreationDate", ""))


def image_tags(template: Template, pcluster_version: str, fp: str, base_image_id: str) -> dict[str, str]:
    """Every tag a baked image carries: ParallelCluster's (so its custom-AMI validators pass) and pctl's."""
    tags = {
        FINGERPRINT_TAG: fp,
        PCLUSTER_VERSION_TAG: pcluster_version,
        PCLUSTER_BUILD_STATUS_TAG: BUILD_STATUS_AVAILABLE,
        PCLUSTER_OS_TAG: template.cluster.os,
        CLUSTER_TAG: template.cluster.name,
        SPACK_VERSION_TAG: template.software.spack_version,
        SPACK_TARGET_TAG: spack_target(template),
        ARCH_TAG: template_arch(template),
        TEMPLATE_SHA_TAG: template_sha256(template),
        BASE_IMAGE_TAG: base_image_id,
    }
    joined = ",".join(sorted(template.software.spack_packages))
    chunks = [joined[i:i + 256] for i in range(0, len(joined), 256)] or [""]
    for n, chunk in enumerate(chunks[:20]):
        tags[PACKAGES_TAG if n == 0 else f"{PACKAGES_TAG}:{n}"] = chunk
    return tags


def tag_dict(image: dict) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in image.get("Tags", []) or []}


def image_packages(image: dict) -> list[str]:
    """The Spack specs an image was baked with (its pctl:packages tags, joined again)."""
    tags = tag_dict(image)
    parts = [tags.get(PACKAGES_TAG, "")]
    n = 1
    while f"{PACKAGES_TAG}:{n}" in tags:
        parts.append(tags[f"{PACKAGES_TAG}:{n}"])
        n += 1
    joined = "".join(parts)
    return [p for p in joined.split(",") if p]


def find_baked_image(session: boto3.Session, fingerprint: str) -> dict | None:
    """An available image of ours carrying this fingerprint, newest first."""
    try:
        images = client(session, "ec2").describe_images(
            Owners=["self"],
            # The build-status tag comes last (after the image is available and its snapshots tagged): an
            # image without it is still being finished, or predates the tag and pcluster would refuse it.
            Filters=[{"Name": f"tag:{FINGERPRINT_TAG}", "Values": [fingerprint]},
                     {"Name": f"tag:{PCLUSTER_BUILD_STATUS_TAG}", "Values": [BUILD_STATUS_AVAILABLE]},
                     {"Name": "state", "Values": ["available"]}],
        )["Images"]
    except Exception as exc:
        raise to_pctl_error(exc, "looking up baked images") from exc
    return max(images, key=lambda i: i.get("CreationDate", "")) if images else None


def list_images(session: boto3.Session) -> list[dict]:
    """Every image pctl baked in this region (any state)."""
    try:
        return client(session, "ec2").describe_images(
            Owners=["self"], Filters=[{"Name": "tag-key", "Values": [FINGERPRINT_TAG]}]
        )["Images"]
    except Exception as exc:
        raise to_pctl_error(exc, "listing baked images") from exc


def delete_image(session: boto3.Session, image_id: str) -> list[Resource]:
    """Deregister the image and delete its snapshots; returns what was deleted."""
    from pctl.aws.network import delete_resources

    region = session.region_name
    try:
        images = client(session, "ec2").describe_images(ImageIds=[image_id])["Images"]
    except Exception as exc:
        if is_not_found(exc):
            return []
        raise to_pctl_error(exc, f"looking up image {image_id}") from exc
    if not images:
        return []
    snapshots = [
        Resource("snapshot", m["Ebs"]["SnapshotId"], region)
        for m in images[0].get("BlockDeviceMappings", [])
        if m.get("Ebs", {}).get("SnapshotId")
    ]
    return delete_resources(session, [Resource("image", image_id, region), *snapshots], poll_s=1, timeout_s=300)


def image_pcluster_version(image: dict) -> str | None:
    """The ParallelCluster version an image was baked for (its `parallelcluster:version` tag)."""
    return next((t["Value"] for t in image.get("Tags", []) if t["Key"] == PCLUSTER_VERSION_TAG), None)


_BAKE_NAMES = frozenset({"bake_image", "builder_subnet", "marker_prefix", "render_user_data", "_launch"})


def __getattr__(name: str) -> Any:
    """The bake lives in pctl.aws.ami_bake (split for size); callers and tests use its names from here."""
    if name in _BAKE_NAMES:
        from pctl.aws import ami_bake

        return getattr(ami_bake, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
