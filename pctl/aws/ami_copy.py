"""Copies of a baked image in other regions: encrypted, same tags and fingerprint, found again on a re-run.

A copy carries every tag of its source (so `find_baked_image` finds it by fingerprint, and ParallelCluster's
custom-AMI validators pass there too) plus ``pctl:copied-from = <region>/<image id>``. The source records
each copy as ``pctl:copy:<region> = <image id>``: the scheduled rebuild copies a new image to the same regions.
A re-run of a copy first looks for an image carrying that copied-from tag (pending or available) and waits
for it instead of copying again; CopyImage's ClientToken makes even a retried call idempotent on AWS.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pctl.aws.ami import FINGERPRINT_TAG, PCLUSTER_BUILD_STATUS_TAG, tag_dict
from pctl.aws.errors import to_pctl_error
from pctl.aws.session import client
from pctl.aws.waiting import DEFAULT_POLL_S, wait_until
from pctl.errors import AwsError, PctlError

if TYPE_CHECKING:
    import boto3

COPIED_FROM_TAG = "pctl:copied-from"
COPY_TAG_PREFIX = "pctl:copy:"
REGION_RE = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}")


@dataclass(frozen=True)
class Copy:
    region: str
    image_id: str
    created: bool  # False: an earlier run's copy was found


def check_region(region: str) -> str:
    if not REGION_RE.fullmatch(region or ""):
        raise PctlError(f"{region!r} is not an AWS region name", "e.g. us-west-2, eu-central-1")
    return region


def _owned_image(ec2, image_id: str, region: str) -> dict:
    try:
        images = ec2.describe_images(
            Owners=["self"], Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"]
    except Exception as exc:
        raise to_pctl_error(exc, f"looking up image {image_id} in {region}") from exc
    if not images:
        raise PctlError(f"{image_id} is not an image of this account in {region}",
                        "`pctl ami list --region REGION` shows pctl's images")
    return images[0]


def find_copy(session: boto3.Session, region: str, source_region: str, source_image: str) -> dict | None:
    """The copy of source_region/source_image in `region` (pending or available), newest first."""
    try:
        images = client(session, "ec2", region).describe_images(
            Owners=["self"],
            Filters=[{"Name": f"tag:{COPIED_FROM_TAG}", "Values": [f"{source_region}/{source_image}"]},
                     {"Name": "state", "Values": ["pending", "available"]}],
        )["Images"]
    except Exception as exc:
        raise to_pctl_error(exc, f"looking for an earlier copy of {source_image} in {region}") from exc
    return max(images, key=lambda i: i.get("CreationDate", "")) if images else None


def copy_image(
    session: boto3.Session,
    image_id: str,
    to_region: str,
    *,
    kms_key_id: str | None = None,
    timeout_s: float = 3600,
    poll_s: float = DEFAULT_POLL_S * 6,
    log: Callable[[str], None] = print,
) -> Copy:
    """Copy the session region's `image_id` to `to_region` (encrypted), wait until available; return it.

    Errors: PctlError when the image is not this account's, AwsError on a failed copy or the time bound.
    """
    source_region = session.region_name
    check_region(to_region)
    if to_region == source_region:
        raise PctlError(f"{image_id} is already in {to_region}", "name another region with --to-region")
    source = _owned_image(client(session, "ec2"), image_id, source_region)
    tags = {k: v for k, v in tag_dict(source).items() if not k.startswith(("aws:", COPY_TAG_PREFIX))}
    tags[COPIED_FROM_TAG] = f"{source_region}/{image_id}"
    ec2 = client(session, "ec2", to_region)
    found = find_copy(session, to_region, source_region, image_id)
    created = found is None
    if found:
        copy_id = found["ImageId"]
        log(f"{to_region}: found the copy {copy_id} an earlier run made ({found.get('State')})")
    else:
        token = hashlib.sha256(f"pctl-copy {source_region}/{image_id} {to_region}".encode()).hexdigest()[:64]
        request = {
            "SourceImageId": image_id, "SourceRegion": source_region, "Name": source.get("Name", image_id),
            "Description": (source.get("Description") or "")[:200] + f" (copy of {source_region}/{image_id})",
            "Encrypted": True, "ClientToken": token, "CopyImageTags": True,
            "TagSpecifications": [{"ResourceType": "image", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        }
        if kms_key_id:
            request["KmsKeyId"] = kms_key_id
        try:
            copy_id = ec2.copy_image(**request)["ImageId"]
        except Exception as exc:
            raise to_pctl_error(exc, f"copying {image_id} from {source_region} to {to_region}") from exc
        log(f"{to_region}: copying {source_region}/{image_id} -> {copy_id} (encrypted)")
    # Tag at once (not every API version honours TagSpecifications on CopyImage): a re-run finds it.
    try:
        ec2.create_tags(Resources=[copy_id], Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    except Exception as exc:
        raise to_pctl_error(exc, f"tagging the copy {copy_id} in {to_region}") from exc
    started = time.monotonic()

    def available() -> dict | None:
        image = ec2.describe_images(ImageIds=[copy_id])["Images"][0]
        state = image.get("State")
        if state in ("failed", "error", "invalid", "deregistered"):
            reason = image.get("StateReason", {}).get("Message", "")
            raise AwsError(f"The copy {copy_id} in {to_region} ended in state {state}. {reason}".strip(),
                           f"Delete it (`pctl ami delete {copy_id} --region {to_region}`) and copy again.")
        if state == "available":
            return image
        log(f"{to_region}: copy {copy_id} {state} ({time.monotonic() - started:.0f} s)")
        return None

    image = wait_until(available, timeout_s=timeout_s, poll_s=poll_s, what=f"the copy {copy_id} in {to_region}",
                       hint="Large images take up to an hour between distant regions; run the copy again to "
                            "keep waiting (it finds this copy instead of copying again).")
    snapshots = [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]
    try:
        if snapshots:
            ec2.create_tags(Resources=snapshots, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        client(session, "ec2").create_tags(Resources=[image_id],
                                           Tags=[{"Key": f"{COPY_TAG_PREFIX}{to_region}", "Value": copy_id}])
    except Exception as exc:
        raise to_pctl_error(exc, f"recording the copy {copy_id}") from exc
    log(f"{to_region}: {copy_id} available")
    return Copy(to_region, copy_id, created)


def recorded_copies(image: dict) -> dict[str, str]:
    """{region: image id} of the copies pctl made of this image (its pctl:copy:<region> tags)."""
    return {k[len(COPY_TAG_PREFIX):]: v for k, v in tag_dict(image).items() if k.startswith(COPY_TAG_PREFIX)}


def enabled_regions(session: boto3.Session) -> list[str]:
    try:
        regions = client(session, "ec2").describe_regions(AllRegions=False)["Regions"]
    except Exception as exc:
        raise to_pctl_error(exc, "listing the account's regions") from exc
    return sorted(r["RegionName"] for r in regions)


AMI_REGIONS_ENV = "PCTL_AMI_REGIONS"


def candidate_regions(session: boto3.Session) -> list[str]:
    """Where to look for an image to copy: $PCTL_AMI_REGIONS (comma-separated, or `all` for every region
    enabled for the account), plus every region this pctl has a cluster state in."""
    import os

    from pctl import state

    wanted = [r.strip() for r in os.environ.get(AMI_REGIONS_ENV, "").split(",") if r.strip()]
    if "all" in wanted:
        return enabled_regions(session)
    known = {e.state.region for e in state.list_all() if e.state is not None and e.state.region}
    return sorted({*(r for r in wanted if REGION_RE.fullmatch(r)), *known})


def find_in_other_regions(session: boto3.Session, fp: str, regions: list[str] | None = None) -> tuple[str, dict] | None:
    """(region, image) of an available image of ours with fingerprint `fp` in another region, or None.

    Regions in `regions` (default: `candidate_regions`) are tried in order; one DescribeImages per region.
    """
    here = session.region_name
    for region in regions if regions is not None else candidate_regions(session):
        if region == here:
            continue
        try:
            images = client(session, "ec2", region).describe_images(
                Owners=["self"], Filters=[{"Name": f"tag:{FINGERPRINT_TAG}", "Values": [fp]},
                                          {"Name": f"tag:{PCLUSTER_BUILD_STATUS_TAG}", "Values": ["available"]},
                                          {"Name": "state", "Values": ["available"]}])["Images"]
        except Exception as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            if code in ("AuthFailure", "UnauthorizedOperation", "OptInRequired"):
                continue  # a region the account or the caller cannot use
            raise to_pctl_error(exc, f"looking for fingerprint {fp[:12]} in {region}") from exc
        if images:
            return region, max(images, key=lambda i: i.get("CreationDate", ""))
    return None
