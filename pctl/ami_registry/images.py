"""Between the AMI registry and EC2: an entry from an image's tags, and the checks before an entry is used."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pctl.ami_registry.entry import AmiEntry
from pctl.ami_registry.store import FoundAmi, by_fingerprint, resolve
from pctl.aws import ami
from pctl.aws.ami_copy import recorded_copies
from pctl.aws.errors import is_not_found, to_pctl_error
from pctl.aws.session import account_id, client
from pctl.errors import PctlError
from pctl.registry.index import RegistryError

ENTRY_NAME = r"[a-z0-9][a-z0-9._-]{0,63}"

if TYPE_CHECKING:
    import boto3


def _default_name(tags: dict[str, str]) -> str:
    base = f"{tags.get(ami.CLUSTER_TAG, 'image')}-{tags.get(ami.PCLUSTER_OS_TAG, 'os')}-{tags.get(ami.ARCH_TAG, 'arch')}"
    return re.sub(r"[^a-z0-9._-]", "-", base.lower())[:64].strip("-._") or "image"


def entry_for_image(session: boto3.Session, image_id: str, *, name: str | None = None,
                    description: str = "") -> AmiEntry:
    """The registry entry for a baked image of this account in the session's region (and its copies).

    Refuses an image pctl did not bake (no fingerprint tag) or one missing a tag the entry needs.
    """
    from pctl.aws.ami_share import owned_image

    image = owned_image(session, image_id)
    tags = ami.tag_dict(image)
    needed = [ami.FINGERPRINT_TAG, ami.PCLUSTER_VERSION_TAG, ami.PCLUSTER_OS_TAG, ami.ARCH_TAG,
              ami.SPACK_VERSION_TAG, ami.SPACK_TARGET_TAG, ami.TEMPLATE_SHA_TAG]
    missing = [t for t in needed if t not in tags]
    if missing:
        raise PctlError(f"{image_id} lacks the tags {', '.join(missing)}: only images baked by this pctl can be "
                        "published", "bake it again with `pctl ami build TEMPLATE`")
    images = {session.region_name: image_id}
    for region, copy_id in recorded_copies(image).items():  # a copy deleted since (a rolled-back create) is left out
        if launchable(session, copy_id, region) is not None:
            images[region] = copy_id
    try:
        owner = account_id(session)
    except Exception as exc:
        raise to_pctl_error(exc, "finding the AWS account id") from exc
    entry_name = name or _default_name(tags)
    if not re.fullmatch(ENTRY_NAME, entry_name):
        raise PctlError(f"--name {entry_name!r} is not a usable entry name",
                        "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64")
    return AmiEntry(
        name=entry_name, fingerprint=tags[ami.FINGERPRINT_TAG],
        pcluster_version=tags[ami.PCLUSTER_VERSION_TAG], os=tags[ami.PCLUSTER_OS_TAG], arch=tags[ami.ARCH_TAG],
        spack_version=tags[ami.SPACK_VERSION_TAG], spack_target=tags[ami.SPACK_TARGET_TAG],
        packages=ami.image_packages(image), images=images, owner_account=owner,
        date=datetime.now(UTC).isoformat(timespec="seconds"), template_sha256=tags[ami.TEMPLATE_SHA_TAG],
        description=description or image.get("Description", "")[:200],
    )


def launchable(session: boto3.Session, image_id: str, region: str) -> dict | None:
    """The image record when this account can launch it in `region` (its own, shared with it, or public).

    EC2 shows a private image only to its owner and to the accounts (or organizations) it is shared with,
    so an image DescribeImages cannot see is one this account cannot launch.
    """
    try:
        images = client(session, "ec2", region).describe_images(ImageIds=[image_id])["Images"]
    except Exception as exc:
        if is_not_found(exc) or "InvalidAMIID" in str(getattr(exc, "response", {}).get("Error", {}).get("Code", "")):
            return None
        raise to_pctl_error(exc, f"looking up image {image_id} in {region}") from exc
    available = [i for i in images if i.get("State") == "available"]
    return available[0] if available else None


@dataclass
class Pulled:
    found: FoundAmi
    region: str
    image_id: str

    def to_dict(self) -> dict:
        return {"entry": self.found.qualified, "commit": self.found.commit, "region": self.region,
                "image_id": self.image_id, **self.found.entry.model_dump()}


def check_version(found: FoundAmi, installed: str) -> None:
    if found.entry.pcluster_version != installed:
        raise RegistryError(
            f"{found.qualified} was baked for ParallelCluster {found.entry.pcluster_version}; "
            f"this pctl uses ParallelCluster {installed}",
            f"ParallelCluster refuses a custom AMI of another version: install aws-parallelcluster=="
            f"{found.entry.pcluster_version}, or pick an entry for {installed} (`pctl ami search "
            f"--pcluster-version {installed}`)")


def pull(ref: str, region: str, session: boto3.Session, installed_version: str) -> Pulled:
    """The entry's image id in `region`. Refuses another pcluster version (naming both), a region the entry
    has no image in, and an image this account cannot launch."""
    found = resolve(ref)
    check_version(found, installed_version)
    image_id = found.entry.images.get(region)
    if image_id is None:
        raise PctlError(f"{found.qualified} has no image in {region} (it has: {', '.join(found.entry.images)})",
                        f"ask its owner (account {found.entry.owner_account}) to copy it there, or copy a "
                        "shared one yourself: `pctl ami copy IMAGE --region FROM --to-region " + region + "`")
    if launchable(session, image_id, region) is None:
        raise PctlError(f"this account cannot launch {image_id} ({found.qualified}) in {region}",
                        f"ask its owner (account {found.entry.owner_account}) to share it: "
                        f"`pctl ami share {image_id} --account YOUR_ACCOUNT_ID --region {region}`")
    accept(found, region, image_id)
    return Pulled(found, region, image_id)


def _accepted_path():  # noqa: ANN202 - Path
    from pctl.registry.store import registry_home

    return registry_home() / "ami-accepted.json"


def accepted() -> dict[str, dict[str, str]]:
    """{image id: {entry, fingerprint, region, date}}: the registry images `pull` (or `publish`) accepted here."""
    import json

    try:
        data = json.loads(_accepted_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def accept(found: FoundAmi, region: str, image_id: str) -> None:
    """Record that this user chose `image_id` (from `found`): `pctl create` may then use it instead of baking."""
    import json

    from pctl.fsutil import atomic_write_text

    data = accepted()
    data[image_id] = {"entry": found.qualified if found.source else found.entry.name,
                      "fingerprint": found.entry.fingerprint, "region": region,
                      "date": datetime.now(UTC).isoformat(timespec="seconds")}
    atomic_write_text(_accepted_path(), json.dumps(data, indent=2, sort_keys=True) + "\n")


@dataclass
class Offer:
    found: FoundAmi
    image_id: str
    accepted: bool  # False: pctl only suggests it (`pctl ami pull` accepts it)


def offer(session: boto3.Session, fingerprint: str, installed_version: str) -> Offer | None:
    """A pinned registry entry with this fingerprint, whose image in the session's region this account can
    launch (no fetch: the pin of the last `pctl ami search`/`pull`/`publish`), or None.

    An image is another account's software running on your cluster, so create uses it only once accepted
    (`pctl ami pull` of that entry, or your own `publish`); otherwise the offer is a suggestion.
    """
    region = session.region_name
    suggestion = None
    ok = accepted()
    for found in by_fingerprint(fingerprint):
        image_id = found.entry.images.get(region)
        if found.entry.pcluster_version != installed_version or image_id is None:
            continue
        if launchable(session, image_id, region) is None:
            continue
        if image_id in ok and ok[image_id].get("fingerprint") == fingerprint:
            return Offer(found, image_id, True)
        suggestion = suggestion or Offer(found, image_id, False)
    return suggestion
