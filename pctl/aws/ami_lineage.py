"""What a re-baked image inherits from the image it replaces: who may launch it, and the regions it is in.

The image a new bake replaces is the newest earlier image of this account, in the same region, baked from
a template of the same cluster name (tag `pctl:cluster`) with another fingerprint. Its launch permissions
(accounts, organizations, OUs, public) are given to the new image, and the new image is copied to every
region the old one was copied to (its `pctl:copy:<region>` tags); each copy is shared as the old copy in
that region was. The old images stay: deleting them is the owner's call (`pctl ami delete`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pctl.aws import ami
from pctl.aws.ami_copy import COPIED_FROM_TAG, copy_image, recorded_copies
from pctl.aws.ami_share import Audience, audience_of, share
from pctl.aws.errors import to_pctl_error
from pctl.aws.session import client
from pctl.errors import PctlError

if TYPE_CHECKING:
    import boto3


def replaced_image(session: boto3.Session, new_image_id: str) -> dict | None:
    """The image `new_image_id` replaces (see the module docstring), or None."""
    ec2 = client(session, "ec2")
    try:
        new = ec2.describe_images(ImageIds=[new_image_id])["Images"][0]
        tags = ami.tag_dict(new)
        cluster = tags.get(ami.CLUSTER_TAG)
        if not cluster:
            return None
        images = ec2.describe_images(Owners=["self"], Filters=[
            {"Name": f"tag:{ami.CLUSTER_TAG}", "Values": [cluster]},
            {"Name": "tag-key", "Values": [ami.FINGERPRINT_TAG]},
            {"Name": "state", "Values": ["available"]}])["Images"]
    except Exception as exc:
        raise to_pctl_error(exc, f"looking for the image {new_image_id} replaces") from exc
    older = [i for i in images if i["ImageId"] != new_image_id
             and ami.tag_dict(i).get(ami.FINGERPRINT_TAG) != tags.get(ami.FINGERPRINT_TAG)
             and i.get("CreationDate", "") <= new.get("CreationDate", "")
             and COPIED_FROM_TAG not in ami.tag_dict(i)]
    return max(older, key=lambda i: i.get("CreationDate", "")) if older else None


def _regional(session: boto3.Session, region: str) -> boto3.Session:
    import boto3

    creds = session.get_credentials()
    if creds is None:
        return boto3.Session(region_name=region)
    frozen = creds.get_frozen_credentials()
    return boto3.Session(aws_access_key_id=frozen.access_key, aws_secret_access_key=frozen.secret_key,
                         aws_session_token=frozen.token, region_name=region)


def carry_over(session: boto3.Session, old_image_id: str, new_image_id: str, *, log: Callable[[str], None] = print,
               poll_s: float = 30, copy_timeout_s: float = 3600) -> dict[str, Any]:
    """Share `new_image_id` like `old_image_id` and copy it to the old one's regions; returns what was done.

    A share the account now refuses (public access blocked since) is reported in `problems`, not raised:
    the new image stays private rather than the rebuild failing.
    """
    done: dict[str, Any] = {"replaces": old_image_id, "shared": {}, "copies": {}, "problems": []}

    def apply(sess: boto3.Session, old: str, new: str) -> None:
        who = audience_of(sess, old)
        if who == Audience():
            return
        try:
            result = share(sess, new, who)
        except PctlError as exc:
            done["problems"].append(f"{sess.region_name}/{new}: {exc}")
            log(f"WARNING: could not share {new} like {old}: {exc}")
            private = Audience(who.accounts, who.org_arns, who.ou_arns, public=False)
            if not (who.public and private != Audience()):
                return
            result = share(sess, new, private)  # the accounts and organizations still get it
        done["shared"][f"{sess.region_name}/{new}"] = result.added
        log(f"AMI: {new} shared like {old} ({len(result.added)} permissions)")

    apply(session, old_image_id, new_image_id)
    old = client(session, "ec2").describe_images(ImageIds=[old_image_id])["Images"][0]
    for region, old_copy in sorted(recorded_copies(old).items()):
        copy = copy_image(session, new_image_id, region, timeout_s=copy_timeout_s, poll_s=poll_s, log=log)
        done["copies"][region] = copy.image_id
        apply(_regional(session, region), old_copy, copy.image_id)
    return done
