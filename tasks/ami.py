"""AMI: bake the template's software into an image (install: ami), reusing one with the same fingerprint.

The fingerprint covers what goes into the image (OS, Spack version and packages, pcluster version), so
an image is baked once and reused by every cluster and every re-run with the same software.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.model.template import Template
from tasks._common import (
    AWS_RETRIES,
    AWS_RETRY_DELAYS,
    content_key,
    log,
    poll_seconds,
    record_created,
    transient_failure,
)


def _pcluster_version() -> str:
    from pctl.pcluster_engine import installed_version

    return installed_version()


def _bake_key(context: Any, p: dict[str, Any]) -> str:
    from pctl.aws.ami import fingerprint

    # Content only: the image's fingerprint, the region, and the owner's state epoch (never a client).
    return content_key("ami", fingerprint(p["template"], _pcluster_version()), p["region"], p["epoch"], p["force"])


@task(name="ami-bake", retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure, cache_key_fn=_bake_key, persist_result=True)
def bake(template: Template, region: str, bucket: str, epoch: str, owner: str | None = None,
         timeout_minutes: int = 120, force: bool = False) -> dict[str, Any]:
    """{'image_id', 'fingerprint', 'created'}: an existing image with the same fingerprint, or a new one.

    `owner` is the cluster whose state records the builder instance and image the moment they exist (so a
    crash leaves nothing unrecorded); a standalone `pctl ami build` has no owner.
    """
    from pctl.aws import ami
    from pctl.aws.session import make_session
    from pctl.render import ami_software_script

    session = make_session(region)
    version = _pcluster_version()
    fp = ami.fingerprint(template, version)
    if not force:
        found = ami.find_baked_image(session, fp)
        if found:
            image_id = found if isinstance(found, str) else found.get("image_id") or found.get("ImageId")
            log(f"AMI: reusing {image_id} (fingerprint {fp[:12]})")
            return {"image_id": image_id, "fingerprint": fp, "created": False}
    log(f"AMI: baking an image for fingerprint {fp[:12]} (this takes 20-60 minutes)")
    result = ami.bake_image(
        session, template=template, pcluster_version=version, script=ami_software_script(template),
        bucket=bucket, timeout_s=timeout_minutes * 60, poll_s=poll_seconds(30),
        on_created=record_created(owner) if owner else None, log=log,
    )
    image_id = result if isinstance(result, str) else getattr(result, "image_id", None) or result["image_id"]
    log(f"AMI: {image_id} is ready")
    return {"image_id": image_id, "fingerprint": fp, "created": True}


@task(name="ami-delete", cache_policy=NO_CACHE, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def delete(image_id: str, region: str) -> None:
    from pctl.aws import ami
    from pctl.aws.session import make_session

    ami.delete_image(make_session(region), image_id)
    log(f"AMI: deleted {image_id}")


@task(name="ami-list", cache_policy=NO_CACHE, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def list_images(region: str) -> list[Any]:
    from pctl.aws import ami
    from pctl.aws.session import make_session

    return list(ami.list_images(make_session(region)))
