"""Baking: one builder instance from the official ParallelCluster AMI runs the software script, then an image.

The builder runs the software script from S3 and the bake waits (bounded) for the script's completion
marker in S3. The builder is terminated in every outcome; an image is kept only when the marker says done
and the image becomes available. Split from pctl.aws.ami for size; pctl.aws.ami re-exports `bake_image`,
`builder_subnet`, `marker_prefix` and `render_user_data`, and callers use them from there.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pctl.aws.ami import (
    BAKE_PREFIX,
    BUILDER_TYPES,
    FINGERPRINT_TAG,
    PCLUSTER_BUILD_STATUS_TAG,
    ROOT_VOLUME_GB,
    delete_image,
    fingerprint,
    image_tags,
    official_image,
    template_arch,
)
from pctl.aws.errors import is_not_found, to_pctl_error
from pctl.aws.resource import Resource
from pctl.aws.session import client
from pctl.aws.waiting import DEFAULT_POLL_S, wait_until
from pctl.errors import AwsError, PctlError

if TYPE_CHECKING:
    import boto3

    from pctl.model.template import Template

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


def running_builder(ec2: Any, fingerprint: str) -> str | None:
    """This installation's builder for `fingerprint` that is still pending or running, if any (issue 14)."""
    from pctl.aws.ownership import OWNER_TAG, tag_dict
    from pctl.state import owner_id

    owner = owner_id()
    found = ec2.describe_instances(Filters=[
        {"Name": "tag:pctl:role", "Values": ["bake-builder"]},
        {"Name": f"tag:{FINGERPRINT_TAG}", "Values": [fingerprint]},
        {"Name": "instance-state-name", "Values": ["pending", "running"]},
    ])["Reservations"]
    for res in found:
        for i in res["Instances"]:
            tags = tag_dict(i.get("Tags"))
            if (tags.get(OWNER_TAG) == owner and tags.get(FINGERPRINT_TAG) == fingerprint
                    and i["State"]["Name"] in ("pending", "running")):
                return i["InstanceId"]
    return None


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
    client_token: str | None = None,
) -> str:
    """Bake the template's software into an AMI; returns the image id.

    Never two builders for one bake (issue 14): a builder of this installation for this fingerprint that is
    still pending or running (a run killed right after RunInstances) is found by its tags and reused, and
    ``client_token`` (one per bake attempt: the bake lock's token) makes a retried RunInstances idempotent.

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
    reused = running_builder(ec2, fp)
    try:
        if reused is None:  # a reused builder is mid-install: its markers and script stay as they are
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
    if client_token:
        run["ClientToken"] = client_token[:64]

    instance_id: str | None = None
    image_id: str | None = None
    started = time.monotonic()
    try:
        if reused is not None:
            instance_id = reused
            log(f"builder {instance_id} of an interrupted run is still installing: reusing it, not launching another")
        else:
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


def _discard_image(session: boto3.Session, image_id: str, log: Callable[[str], None]) -> None:
    try:
        delete_image(session, image_id)
        log(f"incomplete image {image_id} deleted")
    except Exception as exc:
        log(f"WARNING: could not delete incomplete image {image_id}: {exc}")
