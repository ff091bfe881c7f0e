"""Who may launch a baked image: launch permissions on the image, create-volume permissions on its snapshots.

- Accounts get both: the launch permission, and create-volume on every snapshot of the image (so they can
  copy it, or restore a volume from it).
- Organizations and organizational units get the launch permission only: EC2 cannot share a snapshot with
  an organization (ModifySnapshotAttribute takes account ids and the group `all` only). Launching does not
  need the snapshot permission.
- Public: the image and its snapshots become readable by every AWS account. Refused when the account's
  image block-public-access is on (GetImageBlockPublicAccessState), and for an image with encrypted
  snapshots (AWS refuses to make those public).
- An image whose snapshots are encrypted with the AWS-managed key `aws/ebs` cannot be launched by any other
  account (that key cannot be shared): share refuses, and says to copy it with a customer managed key
  (`pctl ami copy --kms-key-id`) whose key policy grants the accounts use of the key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pctl.aws.errors import is_not_found, to_pctl_error
from pctl.aws.session import client
from pctl.errors import PctlError

if TYPE_CHECKING:
    import boto3

ACCOUNT_RE = re.compile(r"\d{12}")
ORG_ARN_RE = re.compile(r"arn:aws(-[a-z]+)*:organizations::\d{12}:organization/o-[a-z0-9]{10,32}")
OU_ARN_RE = re.compile(r"arn:aws(-[a-z]+)*:organizations::\d{12}:ou/o-[a-z0-9]{10,32}/ou-[a-z0-9]{4,32}-[a-z0-9]{8,32}")


@dataclass(frozen=True)
class Audience:
    """Whom to share with (or stop sharing with). Build it with `audience` (it validates)."""

    accounts: tuple[str, ...] = ()
    org_arns: tuple[str, ...] = ()
    ou_arns: tuple[str, ...] = ()
    public: bool = False

    def launch_permissions(self) -> list[dict[str, str]]:
        return ([{"UserId": a} for a in self.accounts] + [{"OrganizationArn": a} for a in self.org_arns]
                + [{"OrganizationalUnitArn": a} for a in self.ou_arns] + ([{"Group": "all"}] if self.public else []))

    def empty(self) -> bool:
        return not (self.accounts or self.org_arns or self.ou_arns or self.public)


def audience(accounts: Iterable[str] = (), org_arns: Iterable[str] = (), ou_arns: Iterable[str] = (),
             public: bool = False) -> Audience:
    """Validate every id and ARN (PctlError naming the bad one and its form)."""
    for value, rx, what in ([(a, ACCOUNT_RE, "--account") for a in accounts]
                            + [(a, ORG_ARN_RE, "--org-arn") for a in org_arns]
                            + [(a, OU_ARN_RE, "--ou-arn") for a in ou_arns]):
        if not rx.fullmatch(value):
            example = {"--account": "123456789012",
                       "--org-arn": "arn:aws:organizations::123456789012:organization/o-abcd123456",
                       "--ou-arn": "arn:aws:organizations::123456789012:ou/o-abcd123456/ou-ab12-cd345678"}[what]
            raise PctlError(f"{what} {value!r} is not valid", f"it looks like {example}")
    result = Audience(tuple(dict.fromkeys(accounts)), tuple(dict.fromkeys(org_arns)),
                      tuple(dict.fromkeys(ou_arns)), public)
    if result.empty():
        raise PctlError("nobody to share with", "give --account ID, --org-arn ARN, --ou-arn ARN or --public")
    return result


def owned_image(session: boto3.Session, image_id: str) -> dict:
    """The image record, if this account owns it in the session's region; else PctlError."""
    if not re.fullmatch(r"ami-[0-9a-f]{8,17}", image_id or ""):
        raise PctlError(f"{image_id!r} is not an image id", "it looks like ami-0123456789abcdef0")
    try:
        images = client(session, "ec2").describe_images(
            Owners=["self"], Filters=[{"Name": "image-id", "Values": [image_id]}])["Images"]
    except Exception as exc:
        if not is_not_found(exc):
            raise to_pctl_error(exc, f"looking up image {image_id}") from exc
        images = []
    if not images:
        raise PctlError(f"{image_id} is not an image of this account in {session.region_name}",
                        "only the owner can share an image; check --region (`pctl ami list --region R`)")
    return images[0]


def snapshot_ids(image: dict) -> list[str]:
    return [m["Ebs"]["SnapshotId"] for m in image.get("BlockDeviceMappings", []) if m.get("Ebs", {}).get("SnapshotId")]


def public_sharing_blocked(session: boto3.Session) -> bool | None:
    """True when the account blocks public AMIs in this region, False when not, None when it cannot tell."""
    try:
        state = client(session, "ec2").get_image_block_public_access_state()["ImageBlockPublicAccessState"]
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code in ("UnauthorizedOperation", "AccessDenied") or "not yet implemented" in str(exc).lower() \
                or code in ("InvalidAction", "NotImplemented", "500") or isinstance(exc, NotImplementedError):
            return None
        raise to_pctl_error(exc, "reading the account's image block-public-access state") from exc
    return state != "unblocked"


def _encryption(session: boto3.Session, image: dict) -> tuple[bool, list[str]]:
    """(any snapshot encrypted, KMS key ids of the encrypted ones that are AWS-managed)."""
    ec2 = client(session, "ec2")
    encrypted, aws_managed = False, []
    ids = snapshot_ids(image)
    if not ids:
        return False, []
    try:
        snapshots = ec2.describe_snapshots(SnapshotIds=ids)["Snapshots"]
    except Exception as exc:
        raise to_pctl_error(exc, f"looking up the snapshots of {image['ImageId']}") from exc
    for snap in snapshots:
        if not snap.get("Encrypted"):
            continue
        encrypted = True
        key = snap.get("KmsKeyId")
        if not key:
            continue
        try:
            meta = client(session, "kms").describe_key(KeyId=key)["KeyMetadata"]
        except Exception:
            continue  # cannot tell: EC2 itself refuses a share the key does not allow
        if meta.get("KeyManager") == "AWS":
            aws_managed.append(key)
    return encrypted, aws_managed


@dataclass
class ShareResult:
    image_id: str
    added: list[dict[str, str]] = field(default_factory=list)
    snapshots: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def share(session: boto3.Session, image_id: str, who: Audience, *, public_check: bool = True) -> ShareResult:
    """Add launch permissions (and create-volume permissions on the snapshots, for accounts and public).

    Refuses (PctlError, nothing changed) a public share the account blocks or the image's encryption
    forbids, and an account share of an image encrypted with the AWS-managed key.
    """
    image = owned_image(session, image_id)
    encrypted, aws_managed = _encryption(session, image)
    result = ShareResult(image_id)
    if who.public:
        if encrypted:
            raise PctlError(f"{image_id} has encrypted snapshots: AWS does not allow a public image with them",
                            "share it with accounts or your organization instead (--account, --org-arn)")
        blocked = public_sharing_blocked(session) if public_check else False
        if blocked:
            raise PctlError(
                f"this account blocks public AMIs in {session.region_name} (image block public access is on)",
                "an administrator can turn it off (aws ec2 disable-image-block-public-access), or share with "
                "--account / --org-arn instead")
        if blocked is None:
            result.notes.append("could not read the account's image block-public-access state; AWS refuses "
                                "the public share itself if it is on")
    if aws_managed and (who.accounts or who.org_arns or who.ou_arns):
        raise PctlError(
            f"{image_id}'s snapshots are encrypted with the AWS-managed key aws/ebs, which other accounts cannot use",
            "copy it with a customer managed KMS key (`pctl ami copy IMAGE --to-region R --kms-key-id KEY`), "
            "grant the accounts use of that key in its key policy, and share the copy")
    ec2 = client(session, "ec2")
    perms = who.launch_permissions()
    snaps = snapshot_ids(image)
    try:
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Add": perms})
        if who.accounts or who.public:
            for snap in snaps:
                kw: dict[str, Any] = {"SnapshotId": snap, "Attribute": "createVolumePermission",
                                      "OperationType": "add"}
                if who.accounts:
                    ec2.modify_snapshot_attribute(**kw, UserIds=list(who.accounts))
                if who.public:
                    ec2.modify_snapshot_attribute(**kw, GroupNames=["all"])
    except Exception as exc:
        raise to_pctl_error(exc, f"sharing {image_id}") from exc
    result.added, result.snapshots = perms, snaps
    if who.org_arns or who.ou_arns:
        result.notes.append("organizations and OUs get the launch permission only: EC2 cannot share snapshots "
                            "with them (launching does not need it)")
    if encrypted:
        result.notes.append("the snapshots are encrypted: the accounts also need use of the KMS key "
                            "(kms:Decrypt, kms:CreateGrant, kms:DescribeKey, kms:ReEncrypt*, kms:GenerateDataKey*)")
    return result


def unshare(session: boto3.Session, image_id: str, who: Audience) -> ShareResult:
    """Remove the launch permissions (and the snapshots' create-volume permissions) `who` names."""
    image = owned_image(session, image_id)
    ec2 = client(session, "ec2")
    perms = who.launch_permissions()
    snaps = snapshot_ids(image)
    try:
        ec2.modify_image_attribute(ImageId=image_id, LaunchPermission={"Remove": perms})
        for snap in snaps:
            kw: dict[str, Any] = {"SnapshotId": snap, "Attribute": "createVolumePermission", "OperationType": "remove"}
            if who.accounts:
                ec2.modify_snapshot_attribute(**kw, UserIds=list(who.accounts))
            if who.public:
                ec2.modify_snapshot_attribute(**kw, GroupNames=["all"])
    except Exception as exc:
        raise to_pctl_error(exc, f"unsharing {image_id}") from exc
    return ShareResult(image_id, perms, snaps)


def permissions(session: boto3.Session, image_id: str) -> dict[str, Any]:
    """{'image_id', 'launch': [LaunchPermission...], 'snapshots': {snapshot id: [CreateVolumePermission...]}}."""
    image = owned_image(session, image_id)
    ec2 = client(session, "ec2")
    try:
        launch = ec2.describe_image_attribute(ImageId=image_id, Attribute="launchPermission")["LaunchPermissions"]
        snaps = {s: ec2.describe_snapshot_attribute(SnapshotId=s, Attribute="createVolumePermission")
                 ["CreateVolumePermissions"] for s in snapshot_ids(image)}
    except Exception as exc:
        raise to_pctl_error(exc, f"reading who may use {image_id}") from exc
    return {"image_id": image_id, "launch": launch, "snapshots": snaps}


def audience_of(session: boto3.Session, image_id: str) -> Audience:
    """Whom an image is shared with now (to share its replacement the same way)."""
    launch = permissions(session, image_id)["launch"]
    return Audience(
        accounts=tuple(p["UserId"] for p in launch if "UserId" in p),
        org_arns=tuple(p["OrganizationArn"] for p in launch if "OrganizationArn" in p),
        ou_arns=tuple(p["OrganizationalUnitArn"] for p in launch if "OrganizationalUnitArn" in p),
        public=any(p.get("Group") == "all" for p in launch),
    )
