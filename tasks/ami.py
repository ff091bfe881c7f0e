"""AMI: bake the template's software into an image (install: ami), reusing one with the same fingerprint.

The fingerprint covers what goes into the image (OS, Spack version and packages, pcluster version), so
an image is baked once and reused by every cluster and every re-run with the same software.

A bake creates, for its duration only, an IAM role + instance profile that may read and write just
s3://<bucket>/pctl-bakes/<fingerprint>/ (`pctl.aws.iam`). It is deleted after the bake whatever the
outcome; the create flow also pushes an undo step (`tasks.teardown.delete_leftovers`) before the bake, so
a run killed mid-bake is still cleaned up by its rollback or by `pctl delete`.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.model.template import Template
from tasks._common import (
    AWS_RETRIES,
    AWS_RETRY_DELAYS,
    AWS_TAGS,
    content_key,
    forget,
    log,
    poll_seconds,
    record_created,
    state_resources,
    transient_failure,
)


def _pcluster_version() -> str:
    from pctl.pcluster_engine import installed_version

    return installed_version()


def _bake_key(context: Any, p: dict[str, Any]) -> str:
    from pctl.aws.ami import fingerprint

    # Content only: the image's fingerprint, the region, and the owner's state epoch (never a client).
    # The base image is left out (finding it is an AWS call): within one epoch it does not matter, and the
    # standalone/scheduled bake refreshes this cache and looks the fingerprint up with the base image.
    return content_key("ami", fingerprint(p["template"], _pcluster_version()), p["region"], p["epoch"], p["force"])


@task(name="ami-bake", tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure, cache_key_fn=_bake_key, persist_result=True)
def bake(template: Template, region: str, bucket: str, epoch: str, owner: str | None = None,
         timeout_minutes: int = 120, force: bool = False, subnet_id: str | None = None) -> dict[str, Any]:
    """{'image_id', 'fingerprint', 'created', 'pcluster_version', 'warning', 'how'}: an image for the template.

    In order: this account's image with the fingerprint in `region`; a pinned AMI-registry entry with it
    (`pctl.ami_registry.offer`); ours in another region, copied here; else a bake. One bake per fingerprint
    at a time (`pctl.aws.ami_lock`): a concurrent run waits for that bake's image and reuses it.
    `created` is True when this run made the image here (baked or copied): a rollback deletes it.

    `owner` is the cluster whose state records the builder's instance, role and image the moment they
    exist (so a crash leaves nothing unrecorded); a standalone `pctl ami build` has no owner.
    `subnet_id` is where the builder runs (it needs the internet); None: a default-VPC subnet.
    """
    from pctl.aws import ami, iam
    from pctl.aws.ami_lock import LOCK_MARGIN_S, acquire_or_wait, lock_key
    from pctl.aws.session import client, make_session

    session = make_session(region)
    version = _pcluster_version()
    fp, base_image = ami.current_fingerprint(session, template, version)
    if not force:
        found = _existing(session, fp, version)
        if found:
            return found
    hold_s = timeout_minutes * 60 + LOCK_MARGIN_S
    s3 = client(session, "s3")
    lock, other = acquire_or_wait(
        s3, bucket, fp, holder=f"cluster {owner}" if owner else "pctl ami build", hold_s=hold_s,
        find_image=(lambda: None) if force else (lambda: (ami.find_baked_image(session, fp) or {}).get("ImageId")),
        wait_s=hold_s, poll_s=poll_seconds(30), log=log)
    if other:
        log(f"AMI: reusing {other}, which the other bake of fingerprint {fp[:12]} made")
        return {"image_id": other, "fingerprint": fp, "created": False, "pcluster_version": version,
                "warning": None, "how": "waited"}
    assert lock is not None
    try:
        subnet = ami.builder_subnet(session, subnet_id)
        log(f"AMI: baking an image for fingerprint {fp[:12]} in subnet {subnet} (this takes 20-60 minutes)")
        on_created = record_created(owner) if owner else None
        try:
            profile = iam.ensure_builder_profile(
                session, cluster=owner or "standalone", fingerprint=fp, bucket=bucket, prefix=ami.marker_prefix(fp),
                on_created=on_created, poll_s=poll_seconds(2),
            )
            # The account's Spack binary cache (issue 15): the bake installs from it and pushes what it builds
            # (in pctl's bucket, or the template's own binary_cache bucket; none with binary_cache: false).
            from pctl.cache.access import grant_builder
            from pctl.cache.keys import ensure_signing_key
            from pctl.cache.location import cache_bucket_for

            cache_bucket = cache_bucket_for(template.software.binary_cache, bucket)
            if cache_bucket:
                grant_builder(session, iam.builder_name(fp), cache_bucket, ensure_signing_key(session)[1])
            image_id = ami.bake_image(
                session, template=template, pcluster_version=version,
                script=_bake_script(template, region, cache_bucket=cache_bucket),
                bucket=bucket, timeout_s=timeout_minutes * 60, poll_s=poll_seconds(30), on_created=on_created,
                log=log, instance_profile=profile, subnet_id=subnet, profile_wait_s=120, base_image_id=base_image,
                client_token=lock.token,  # one per bake attempt: a retried RunInstances cannot duplicate (issue 14)
            )
        finally:
            _remove_builder(session, fp, owner, bucket)
    finally:
        try:
            lock.release()
        except Exception as exc:  # it expires on its own; never mask the bake's outcome
            log(f"WARNING: could not release the bake lock s3://{bucket}/{lock_key(fp)}: {exc}")
    log(f"AMI: {image_id} is ready")
    return {"image_id": image_id, "fingerprint": fp, "created": True, "pcluster_version": version, "warning": None,
            "how": "baked"}


def _existing(session: Any, fp: str, version: str) -> dict[str, Any] | None:
    """An image with this fingerprint without baking: ours here, a registry's, or ours copied from a region."""
    from pctl import ami_registry
    from pctl.aws import ami, ami_copy
    from pctl.aws.session import make_session
    from pctl.pcluster_manager import check_version_match

    found = ami.find_baked_image(session, fp)
    if found:
        image_id = found["ImageId"]
        tagged = ami.image_pcluster_version(found)
        # The fingerprint includes the version, so a mismatch means the tag was changed or the image
        # came from elsewhere: pcluster would refuse it at create, so say it now.
        warning = check_version_match(tagged, f"AMI {image_id}", installed=version)
        if warning:
            log(f"WARNING: {warning}")
        log(f"AMI: reusing {image_id} (fingerprint {fp[:12]}, cached: nothing to bake)")
        return {"image_id": image_id, "fingerprint": fp, "created": False,
                "pcluster_version": tagged or version, "warning": warning, "how": "reused"}
    offered = ami_registry.offer(session, fp, version)
    if offered and offered.accepted:
        entry, image_id = offered.found, offered.image_id
        log(f"AMI: the registry entry {entry.qualified} (account {entry.entry.owner_account}) has an image with this "
            f"template's fingerprint: using {image_id} instead of baking")
        return {"image_id": image_id, "fingerprint": fp, "created": False, "pcluster_version": version,
                "warning": None, "how": f"registry {entry.qualified}"}
    if offered:
        log(f"AMI: the registry entry {offered.found.qualified} (account {offered.found.entry.owner_account}) has "
            f"{offered.image_id} with this template's fingerprint; `pctl ami pull {offered.found.qualified} "
            f"--region {session.region_name}` accepts it, and the next create uses it instead of baking")
    elsewhere = ami_copy.find_in_other_regions(session, fp)
    if elsewhere:
        region, image = elsewhere
        log(f"AMI: {region} has {image['ImageId']} with fingerprint {fp[:12]}: copying it to {session.region_name} "
            "instead of baking again")
        source = make_session(region)
        copy = ami_copy.copy_image(source, image["ImageId"], session.region_name, poll_s=poll_seconds(30), log=log)
        return {"image_id": copy.image_id, "fingerprint": fp, "created": copy.created, "pcluster_version": version,
                "warning": None, "how": f"copied from {region}/{image['ImageId']}"}
    return None


def _remove_builder(session: Any, fp: str, owner: str | None, bucket: str) -> None:
    """After every bake: the builder instance (terminated, waited for), its role/profile and the bake's
    S3 objects (script, markers; a failed bake's log was copied to $PCTL_HOME/logs first) go.

    A failure here never masks the bake's own outcome: it is logged, and what remains stays recorded in
    the owner's state, where the flow's undo step or `pctl delete` (delete_leftovers) finds it.
    """
    from pctl.aws import ami, iam
    from pctl.aws.bucket import delete_prefix
    from pctl.aws.errors import DeleteError
    from pctl.aws.network import delete_resources

    try:
        delete_prefix(session, bucket, ami.marker_prefix(fp) + "/")
    except Exception as exc:
        log(f"WARNING: could not delete s3://{bucket}/{ami.marker_prefix(fp)}/: {exc}")
    builders = [r for r in state_resources(owner, "instance") if r.extra.get("role") == "bake-builder"] if owner else []
    targets = [*builders, *iam.builder_resources(session, fp)]
    try:
        delete_resources(session, targets, wait=True, timeout_s=900, poll_s=poll_seconds(5))
    except DeleteError as exc:
        if owner:
            forget(owner, exc.deleted)
        log(f"WARNING: could not delete {', '.join(str(r) for r in exc.remaining)} after the bake: {exc}; "
            + ("`pctl delete` removes it" if owner else "delete it by hand (aws iam delete-instance-profile / "
               "delete-role, or the console)"))
        return
    except Exception as exc:
        log(f"WARNING: could not delete the image builder's role {iam.builder_name(fp)}: {exc}")
        return
    if owner:
        forget(owner, targets)
    log(f"AMI: builder role {iam.builder_name(fp)} deleted")


@task(name="ami-delete", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def delete(image_id: str, region: str, owner: str | None = None) -> None:
    """Deregister the image and delete its snapshots (a rollback's compensation); the owner forgets it."""
    from pctl.aws import ami
    from pctl.aws.resource import Resource
    from pctl.aws.session import make_session

    deleted = ami.delete_image(make_session(region), image_id)
    if owner:
        forget(owner, [Resource("image", image_id, region), *deleted])
    log(f"AMI: deleted {image_id}")


@task(name="ami-list", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def list_images(region: str) -> list[Any]:
    from pctl.aws import ami
    from pctl.aws.session import make_session

    return list(ami.list_images(make_session(region)))


@task(name="ami-carry-over", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def carry_over(image_id: str, region: str, copy_timeout_minutes: int = 120) -> dict[str, Any] | None:
    """A rebuilt image gets what the image it replaces had: its sharing, and copies in the same regions.

    None when there is nothing it replaces (`pctl.aws.ami_lineage.replaced_image`). Idempotent: a retry
    finds the copies made so far and re-adds permissions that are already there.
    """
    from pctl.aws import ami_lineage
    from pctl.aws.session import make_session

    session = make_session(region)
    old = ami_lineage.replaced_image(session, image_id)
    if old is None:
        log(f"AMI: {image_id} replaces no earlier image: nothing to share or copy")
        return None
    log(f"AMI: {image_id} replaces {old['ImageId']}: sharing and copying it the same way")
    return ami_lineage.carry_over(session, old["ImageId"], image_id, log=log, poll_s=poll_seconds(30),
                                  copy_timeout_s=copy_timeout_minutes * 60)


def _bake_script(template: Template, region: str, cache_bucket: str | None = None) -> str:
    """What the builder runs: pctl's software script; for platform pcs, the PCS agent and Slurm first.

    ``cache_bucket``: the software script uses and fills the account's Spack binary cache there (pctl.cache)."""
    from pctl.model.template import Platform
    from pctl.render import ami_software_script

    software = ami_software_script(template, cache_bucket=cache_bucket)
    if template.cluster.platform is not Platform.pcs:
        return software
    from pctl.pcs.image import bake_script
    from pctl.pcs.limits import slurm_version_of

    return bake_script(region, slurm_version_of(template), software)
