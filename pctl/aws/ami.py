"""Baked images (software: install: ami): fingerprint, find, bake on a builder instance, list, delete.

A bake launches one builder from the official ParallelCluster AMI, runs the software script from S3,
and waits (bounded) for the script's completion marker in S3. The builder is terminated in every
outcome; an image is kept only when the marker says done and the image becomes available.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pctl.aws.errors import is_not_found, to_pctl_error
from pctl.aws.resource import Resource
from pctl.aws.session import client
from pctl.aws.waiting import DEFAULT_POLL_S, wait_until
from pctl.errors import AwsError, PctlError
from pctl.model.constants import CLUSTER_TAG

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
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def current_fingerprint(session: boto3.Session, template: Template, pcluster_version: str) -> tuple[str, str]:
    """(fingerprint, base image id) against the official image published today in the session's region."""
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


@cache
def _user_data_template() -> Any:
    import shlex

    from jinja2 import Environment, StrictUndefined

    env = Environment(undefined=StrictUndefined, keep_trailing_newline=True, autoescape=False)
    env.filters["shell"] = lambda v: shlex.quote(str(v))
    return env.from_string((Path(__file__).parent / "templates" / "bake_user_data.sh.j2").read_text())


def render_user_data(bucket: str, fingerprint: str, region: str) -> str:
    return _user_data_template().render(marker_base=f"s3://{bucket}/{marker_prefix(fingerprint)}", region=region)


def marker_prefix(fingerprint: str) -> str:
    return f"{BAKE_PREFIX}/{fingerprint}"


def _marker(s3: Any, bucket: str, fp: str) -> str | None:
    """'done', 'failed' or None: which completion marker the builder has written so far."""
    for outcome in ("done", "failed"):
        try:
            s3.head_object(Bucket=bucket, Key=f"{marker_prefix(fp)}/{outcome}")
            return outcome
        except Exception as exc:
            if not (is_not_found(exc) or getattr(exc, "response", {}).get("Error", {}).get("Code") == "404"):
                raise
    return None


def _instance_state(ec2: Any, instance_id: str) -> str:
    return ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"]["Name"]


def bake_image(
    session: boto3.Session,
    *,
    template: Template,
    pcluster_version: str,
    script: str,
    bucket: str,
    timeout_s: int,
    poll_s: float = DEFAULT_POLL_S * 6,
    on_created: Callable[[Resource], None] | None = None,
    log: Callable[[str], None] = print,
    instance_profile: str | None = None,
    subnet_id: str | None = None,
    instance_type: str | None = None,
    profile_wait_s: float = 120,
    base_image_id: str | None = None,
) -> str:
    """Bake the template's software into an AMI; returns the image id.

    ``instance_profile`` must let the builder read and write s3://<bucket>/pctl-bakes/<fingerprint>/ (the
    flow creates one scoped to that prefix, `pctl.aws.iam.ensure_builder_profile`); ``subnet_id`` needs a
    route to the internet (Spack downloads; `builder_subnet` picks one). A fresh instance profile that EC2
    does not know yet is retried for up to ``profile_wait_s`` (IAM is eventually consistent).
    """
    region = session.region_name
    ec2, s3 = client(session, "ec2"), client(session, "s3")
    arch = template_arch(template)
    base_ami = base_image_id or official_image(session, template.cluster.os, arch, pcluster_version)
    base_record = ec2.describe_images(ImageIds=[base_ami])["Images"][0]
    fp = fingerprint(template, pcluster_version, base_record.get("Name"))
    name = template.cluster.name
    created = on_created or (lambda _r: None)
    tags = image_tags(template, pcluster_version, fp, base_ami)

    def tag_list(role: str, *, complete: bool = False) -> list[dict[str, str]]:
        # The builder carries pctl's tags only; the image gets pcluster's build status once it is available.
        chosen = {k: v for k, v in tags.items()
                  if (role == "image" or not k.startswith("parallelcluster:"))
                  and (complete or k != PCLUSTER_BUILD_STATUS_TAG)}
        # pctl:owner (issue 14, H7): the leftover sweep finds a builder a kill -9 left unrecorded by its tags,
        # and never another installation's.
        from pctl.aws.ownership import OWNER_TAG
        from pctl.state import owner_id

        mine = {**chosen, "Name": f"pctl-{name}-{role}", "pctl:role": role, OWNER_TAG: owner_id()}
        return [{"Key": k, "Value": v} for k, v in mine.items()]

    root = base_record.get("RootDeviceName", "/dev/xvda")
    try:
        # A re-run must not find a marker from an earlier attempt.
        for outcome in ("done", "failed", "log"):
            s3.delete_object(Bucket=bucket, Key=f"{marker_prefix(fp)}/{outcome}")
        s3.put_object(Bucket=bucket, Key=f"{marker_prefix(fp)}/bake.sh", Body=script.encode())
    except Exception as exc:
        raise to_pctl_error(exc, f"uploading the bake script to s3://{bucket}") from exc

    run: dict[str, Any] = {
        "ImageId": base_ami,
        "InstanceType": instance_type or BUILDER_TYPES[arch],
        "MinCount": 1,
        "MaxCount": 1,
        "UserData": render_user_data(bucket, fp, region),
        "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled"},
        "BlockDeviceMappings": [
            {"DeviceName": root, "Ebs": {"VolumeSize": ROOT_VOLUME_GB, "VolumeType": "gp3", "Encrypted": True,
                                         "DeleteOnTermination": True}}
        ],
        "InstanceInitiatedShutdownBehavior": "terminate",
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tag_list("bake-builder")},
            {"ResourceType": "volume", "Tags": tag_list("bake-builder")},
        ],
    }
    if instance_profile:
        run["IamInstanceProfile"] = {"Name": instance_profile}
    if subnet_id:
        run["SubnetId"] = subnet_id

    instance_id: str | None = None
    image_id: str | None = None
    started = time.monotonic()
    try:
        instance_id = _launch(ec2, run, poll_s=poll_s, profile_wait_s=profile_wait_s)
        created(Resource("instance", instance_id, region, {"role": "bake-builder"}))
        log(f"builder {instance_id} launched from {base_ami}; waiting up to {timeout_s} s for the software install")

        def finished() -> str | None:
            outcome = _marker(s3, bucket, fp)
            if outcome:
                return outcome
            state = _instance_state(ec2, instance_id)
            if state in ("terminated", "stopped", "shutting-down"):
                raise AwsError(f"The image builder {instance_id} stopped ({state}) before finishing.",
                               "See its console output: aws ec2 get-console-output --instance-id " + instance_id)
            log(f"bake {fp[:12]}: still installing ({time.monotonic() - started:.0f} s)")
            return None

        outcome = wait_until(
            finished, timeout_s=timeout_s, poll_s=poll_s, what=f"the software install on builder {instance_id}",
            hint=f"The log is at s3://{bucket}/{marker_prefix(fp)}/log once the script ends; raise the bake timeout.",
        )
        if outcome == "failed":
            tail = s3.get_object(Bucket=bucket, Key=f"{marker_prefix(fp)}/failed")["Body"].read().decode(errors="replace")
            saved = _save_log(s3, bucket, fp)
            raise AwsError(f"The software install on the image builder failed:\n{tail[-2000:]}",
                           f"Full log: {saved}" if saved else f"Full log: s3://{bucket}/{marker_prefix(fp)}/log")

        log(f"software installed; stopping {instance_id} and creating the image")
        ec2.stop_instances(InstanceIds=[instance_id])
        wait_until(lambda: _instance_state(ec2, instance_id) == "stopped", timeout_s=600, poll_s=poll_s,
                   what=f"builder {instance_id} to stop")
        image_id = ec2.create_image(
            InstanceId=instance_id,
            Name=f"pctl-{name}-{fp[:16]}-{int(time.time())}",
            Description=f"pctl {name}: {len(template.software.spack_packages)} Spack packages on "
                        f"ParallelCluster {pcluster_version} {template.cluster.os}/{arch}",
            # Snapshots are tagged once the image exists (moto cannot take snapshot TagSpecifications here).
            TagSpecifications=[{"ResourceType": "image", "Tags": tag_list("image")}],
        )["ImageId"]
        created(Resource("image", image_id, region, {"fingerprint": fp}))

        def available() -> bool:
            state = ec2.describe_images(ImageIds=[image_id])["Images"][0]["State"]
            if state in ("failed", "error", "invalid"):
                raise AwsError(f"Image {image_id} ended in state {state}.")
            return state == "available"

        wait_until(available, timeout_s=max(1800, timeout_s), poll_s=poll_s, what=f"image {image_id}")
        image = ec2.describe_images(ImageIds=[image_id])["Images"][0]
        snapshots = [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", [])
                     if m.get("Ebs", {}).get("SnapshotId")]
        ec2.create_tags(Resources=[image_id, *snapshots], Tags=tag_list("image", complete=True))
        log(f"image {image_id} ready (fingerprint {fp[:12]})")
        return image_id
    except PctlError:
        if image_id:
            _discard_image(session, image_id, log)
        raise
    except Exception as exc:
        if image_id:
            _discard_image(session, image_id, log)
        raise to_pctl_error(exc, "baking the software image") from exc
    finally:
        if instance_id:
            try:
                ec2.terminate_instances(InstanceIds=[instance_id])
                log(f"builder {instance_id} terminated")
            except Exception as exc:  # never mask the real outcome; say what to clean up
                if not is_not_found(exc):
                    log(f"WARNING: could not terminate builder {instance_id}: {exc}; terminate it by hand")


def _save_log(s3: Any, bucket: str, fp: str) -> str | None:
    """Copy the builder's log to $PCTL_HOME/logs (the bake's S3 prefix is cleaned up afterwards)."""
    from pctl.config import pctl_home

    try:
        body = s3.get_object(Bucket=bucket, Key=f"{marker_prefix(fp)}/log")["Body"].read()
    except Exception:
        return None
    path = pctl_home() / "logs" / f"bake-{fp[:16]}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)
    except OSError:
        return None
    return str(path)


def _launch(ec2: Any, run: dict[str, Any], *, poll_s: float, profile_wait_s: float) -> str:
    """RunInstances; retries only the "instance profile not propagated yet" refusal, bounded."""
    from pctl.aws.iam import is_profile_not_ready

    refused: list[BaseException] = []

    def attempt() -> str | None:
        try:
            return ec2.run_instances(**run)["Instances"][0]["InstanceId"]
        except Exception as exc:
            if run.get("IamInstanceProfile") and is_profile_not_ready(exc):
                refused.append(exc)
                return None
            raise to_pctl_error(exc, "launching the image builder") from exc

    try:
        return wait_until(attempt, timeout_s=profile_wait_s, poll_s=max(poll_s, 0.01),
                          what="EC2 to accept the builder's new IAM instance profile")
    except AwsError as exc:
        if refused:
            raise to_pctl_error(refused[-1], "launching the image builder") from exc
        raise


def builder_subnet(session: boto3.Session, subnet_id: str | None = None) -> str:
    """The subnet for a builder: the one given, else a default subnet of the region's default VPC."""
    ec2 = client(session, "ec2")
    if subnet_id:
        return subnet_id
    try:
        vpcs = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpcs[0]["VpcId"]]},
                                                {"Name": "default-for-az", "Values": ["true"]}])["Subnets"] if vpcs else []
    except Exception as exc:
        raise to_pctl_error(exc, "looking for the default VPC's subnets") from exc
    if not subnets:
        raise PctlError(
            f"no subnet for the image builder: {session.region_name} has no default VPC (or it has no default subnet)",
            "pass --subnet-id with a subnet that reaches the internet (a public subnet, or a private one behind a "
            "NAT gateway): the builder downloads Spack and sources",
        )
    return sorted(subnets, key=lambda s: s["AvailabilityZone"])[0]["SubnetId"]


def image_pcluster_version(image: dict) -> str | None:
    """The ParallelCluster version an image was baked for (its `parallelcluster:version` tag)."""
    return next((t["Value"] for t in image.get("Tags", []) if t["Key"] == PCLUSTER_VERSION_TAG), None)


def _discard_image(session: boto3.Session, image_id: str, log: Callable[[str], None]) -> None:
    try:
        delete_image(session, image_id)
        log(f"incomplete image {image_id} deleted")
    except Exception as exc:
        log(f"WARNING: could not delete incomplete image {image_id}: {exc}")
