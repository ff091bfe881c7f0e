"""`pctl ami build|list|delete`: images with the template's software baked in (install: ami)."""

from __future__ import annotations

import click

from pctl.cli.output import emit_json, json_option, print_table, table


@click.group("ami")
def cli() -> None:
    """Custom AMIs for `software.install: ami` templates (reused by fingerprint)."""


@cli.command("build")
@click.argument("template")
@click.option("--region", help="AWS region (default: cluster.region).")
@click.option("--force", is_flag=True, help="Bake even when an image with the same fingerprint exists.")
@click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 600), default=120, show_default=True,
              help="Minutes to wait for the bake to finish.")
@click.option("--subnet-id", help="Subnet for the builder instance; it needs the internet (public, or behind a NAT). "
                                  "Default: a subnet of the region's default VPC.")
@click.option("-v", "--verbose", is_flag=True)
def build(template: str, region: str | None, force: bool, timeout_minutes: int, subnet_id: str | None,
          verbose: bool) -> None:
    """Bake TEMPLATE's software into an AMI (or print the existing one).

    The builder gets a temporary IAM role that may only read and write its own S3 prefix; the role and
    the builder are deleted after the bake, whatever the outcome.
    """
    from pctl.lifecycle.runner import prepare, run_flow
    from pctl.requests import AmiBuildRequest, TemplateSource

    click.echo(prepare(verbose), err=True)
    from flows.ami import bake_ami

    result = run_flow(bake_ami, AmiBuildRequest(template=TemplateSource(path=template), region=region,
                                                force=force, timeout_minutes=timeout_minutes,
                                                subnet_id=subnet_id))
    if result.get("warning"):
        click.echo(f"WARNING: {result['warning']}", err=True)
    how = result.get("how") or ("baked" if result["created"] else "reused")
    click.echo(f"{result['image_id']}  ({how}, fingerprint {result['fingerprint'][:12]})")


@cli.command("list")
@click.option("--region", required=True, help="AWS region.")
@json_option("Print the images as one JSON document (pctl.ami-list/v1).")
def list_(region: str, as_json: bool) -> None:
    """Images pctl baked in REGION."""
    from pctl.aws.ami import list_images
    from pctl.aws.session import make_session

    images = list_images(make_session(region))
    if as_json:
        emit_json("ami-list", region=region, images=[_image(i) for i in images])
        return
    if not images:
        click.echo(f"no pctl images in {region}")
        return
    from pctl.aws.ami import FINGERPRINT_TAG, PCLUSTER_VERSION_TAG, SPACK_TARGET_TAG, tag_dict
    from pctl.aws.ami_copy import COPIED_FROM_TAG, recorded_copies

    rows = []
    for i in images:
        tags = tag_dict(i)
        where = f"copy of {tags[COPIED_FROM_TAG]}" if COPIED_FROM_TAG in tags else ",".join(recorded_copies(i))
        rows.append((i["ImageId"], i.get("Name", ""), i.get("State", ""), tags.get(FINGERPRINT_TAG, "")[:12],
                     tags.get(PCLUSTER_VERSION_TAG, ""), tags.get(SPACK_TARGET_TAG, ""), where,
                     i.get("CreationDate", "")))
    print_table(["IMAGE", "NAME", "STATE", "FINGERPRINT", "PCLUSTER", "TARGET", "COPIES", "CREATED"], rows,
                styles={0: "bold cyan"})


def _image(i: dict) -> dict:
    """One image of `ami list --json`: id, name, state, created, and every tag."""
    return {"image_id": i["ImageId"], "name": i.get("Name", ""), "state": i.get("State", ""),
            "created_at": i.get("CreationDate", ""), "tags": {t["Key"]: t["Value"] for t in i.get("Tags", [])}}


@cli.command("delete")
@click.argument("image_id")
@click.option("--region", required=True, help="AWS region.")
@click.option("--yes", is_flag=True, help="Do not ask.")
def delete(image_id: str, region: str, yes: bool) -> None:
    """Deregister IMAGE_ID and delete its snapshots (only images pctl baked)."""
    from pctl.aws.ami import delete_image, list_images
    from pctl.aws.session import make_session
    from pctl.errors import PctlError

    session = make_session(region)
    if image_id not in {i["ImageId"] for i in list_images(session)}:
        raise PctlError(f"{image_id} is not an image pctl baked in {region}", "`pctl ami list --region ...`")
    if not yes:
        click.confirm(f"Delete {image_id} and its snapshots?", abort=True)
    deleted = delete_image(session, image_id)
    click.echo(f"deleted {', '.join(str(r) for r in deleted) or image_id}")


# ---- sharing ------------------------------------------------------------------------------------

def _session(region: str | None):  # noqa: ANN202 - boto3.Session
    import os

    from pctl.aws.ami_copy import check_region
    from pctl.aws.session import make_session
    from pctl.errors import PctlError

    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise PctlError("no region", "pass --region (the image's region)")
    return make_session(check_region(region))


def _audience_options(f):  # noqa: ANN001, ANN202 - click decorator stack
    f = click.option("--region", help="The image's region (default: $AWS_REGION / $AWS_DEFAULT_REGION).")(f)
    f = click.option("--public", is_flag=True, help="Every AWS account (asks you to type the image's name).")(f)
    f = click.option("--ou-arn", "ou_arns", multiple=True, help="An organizational unit ARN (repeatable).")(f)
    f = click.option("--org-arn", "org_arns", multiple=True, help="An organization ARN (repeatable).")(f)
    f = click.option("--account", "accounts", multiple=True, help="A 12-digit AWS account id (repeatable).")(f)
    return f


def _check_org_xor(org_arns: tuple[str, ...], ou_arns: tuple[str, ...]) -> None:
    from pctl.errors import PctlError

    if org_arns and ou_arns:
        raise PctlError("--org-arn and --ou-arn together", "share with the organization or with some of its OUs, "
                                                            "not both (run share twice if you mean both)")


@cli.command("share")
@click.argument("image_id")
@_audience_options
@json_option("Print the result as one JSON document (pctl.ami-share/v1).")
def share(image_id: str, accounts: tuple[str, ...], org_arns: tuple[str, ...], ou_arns: tuple[str, ...],
          public: bool, region: str | None, as_json: bool) -> None:
    """Let accounts, an organization/OU, or everyone launch IMAGE_ID (and copy its snapshots).

    Accounts get the launch permission and create-volume permission on the image's snapshots; an
    organization or OU gets the launch permission (EC2 cannot share snapshots with organizations).
    """
    from pctl.aws import ami_share
    from pctl.aws.ami import CLUSTER_TAG, tag_dict
    from pctl.errors import PctlError

    _check_org_xor(org_arns, ou_arns)
    who = ami_share.audience(accounts, org_arns, ou_arns, public)
    session = _session(region)
    image = ami_share.owned_image(session, image_id)
    if public:
        name = tag_dict(image).get(CLUSTER_TAG) or image.get("Name") or image_id
        click.echo(f"WARNING: a public image can be launched by every AWS account. Everything on its disk is "
                   f"readable by anyone: the software, files under /opt and /home, any key, token or password a "
                   f"build step left, and its snapshots can be copied. {image_id} ({image.get('Name', '')}) in "
                   f"{session.region_name}.", err=True)
        typed = click.prompt(f"Type the image's cluster name ({name}) to make it public", default="",
                             show_default=False, err=True)
        if typed.strip() != name:
            raise PctlError("the name did not match; nothing was shared", "type it exactly")
    elif not as_json:
        click.echo(f"Sharing {image_id} in {session.region_name} with: "
                   + ", ".join(next(iter(p.values())) for p in who.launch_permissions()), err=True)
    result = ami_share.share(session, image_id, who)
    for note in result.notes:
        click.echo(f"NOTE: {note}", err=True)
    if as_json:
        emit_json("ami-share", image_id=image_id, region=session.region_name, added=result.added,
                  snapshots=result.snapshots, notes=result.notes)
        return
    click.echo(f"{image_id}: shared ({len(result.added)} launch permissions; snapshots: "
               f"{', '.join(result.snapshots) or 'none'})")


@cli.command("unshare")
@click.argument("image_id")
@_audience_options
@json_option("Print the result as one JSON document (pctl.ami-unshare/v1).")
def unshare(image_id: str, accounts: tuple[str, ...], org_arns: tuple[str, ...], ou_arns: tuple[str, ...],
            public: bool, region: str | None, as_json: bool) -> None:
    """Take back launch (and snapshot) permissions from accounts, an organization/OU, or everyone."""
    from pctl.aws import ami_share

    _check_org_xor(org_arns, ou_arns)
    session = _session(region)
    result = ami_share.unshare(session, image_id, ami_share.audience(accounts, org_arns, ou_arns, public))
    if as_json:
        emit_json("ami-unshare", image_id=image_id, region=session.region_name, removed=result.added,
                  snapshots=result.snapshots)
        return
    click.echo(f"{image_id}: {len(result.added)} permissions removed")


@cli.command("permissions")
@click.argument("image_id")
@click.option("--region", help="The image's region (default: $AWS_REGION / $AWS_DEFAULT_REGION).")
@json_option("Print the permissions as one JSON document (pctl.ami-permissions/v1).")
def permissions(image_id: str, region: str | None, as_json: bool) -> None:
    """Who may launch IMAGE_ID, and who may create volumes from its snapshots."""
    from pctl.aws import ami_share

    session = _session(region)
    perms = ami_share.permissions(session, image_id)
    if as_json:
        emit_json("ami-permissions", region=session.region_name, **perms)
        return
    rows = [("launch", image_id, k, v) for p in perms["launch"] for k, v in p.items()]
    rows += [("create-volume", snap, k, v) for snap, ps in perms["snapshots"].items() for p in ps for k, v in p.items()]
    if not rows:
        click.echo(f"{image_id} is private: only this account may launch it")
        return
    click.echo(table(["PERMISSION", "ON", "KIND", "WHO"], rows))


# ---- copies -------------------------------------------------------------------------------------

@cli.command("copy")
@click.argument("image_id")
@click.option("--to-region", "to_regions", multiple=True, required=True, help="Target region (repeatable).")
@click.option("--region", help="The image's region (default: $AWS_REGION / $AWS_DEFAULT_REGION).")
@click.option("--kms-key-id", help="Customer managed KMS key for the copy (default: the account's EBS default key). "
                                   "Needed to share the copy with other accounts.")
@click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 600), default=120, show_default=True,
              help="Minutes to wait for each copy to become available.")
@json_option("Print the copies as one JSON document (pctl.ami-copy/v1).")
def copy(image_id: str, to_regions: tuple[str, ...], region: str | None, kms_key_id: str | None,
         timeout_minutes: int, as_json: bool) -> None:
    """Copy IMAGE_ID (encrypted, same tags and fingerprint) to other regions and wait for each copy.

    Running it again finds the copies it made (pending or done) instead of copying again.
    """
    from pctl.aws.ami_copy import copy_image
    from pctl.cli.output import progress

    session = _session(region)
    copies = []
    with progress() as p:
        for target in dict.fromkeys(to_regions):
            copies.append(copy_image(session, image_id, target, kms_key_id=kms_key_id, timeout_s=timeout_minutes * 60,
                                     poll_s=_poll(), log=p))
    if as_json:
        emit_json("ami-copy", source={"region": session.region_name, "image_id": image_id},
                  copies=[c.__dict__ for c in copies])
        return
    for c in copies:
        click.echo(f"{c.region}: {c.image_id} ({'copied' if c.created else 'found, copied earlier'})")


def _poll() -> float:
    import os

    try:
        return float(os.environ.get("PCTL_POLL_SECONDS", 15))
    except ValueError:
        return 15.0


# ---- the AMI registry ---------------------------------------------------------------------------

@cli.command("publish")
@click.argument("image_id")
@click.option("--registry", "source", required=True, help="Registry source to publish to (`pctl registry list`).")
@click.option("--name", help="Entry name (default: <cluster>-<os>-<arch>).")
@click.option("--region", help="The image's region (default: $AWS_REGION / $AWS_DEFAULT_REGION).")
@click.option("--description", default="", help="One line for `pctl ami search`.")
@json_option("Print the entry as one JSON document (pctl.ami-publish/v1).")
def publish(image_id: str, source: str, name: str | None, region: str | None, description: str,
            as_json: bool) -> None:
    """Publish IMAGE_ID (and its copies) as an entry of the registry SOURCE: commit, and push if allowed."""
    from pctl import ami_registry
    from pctl.ami_registry.store import source_url

    source_url(source)  # an unknown source is refused before any AWS call
    session = _session(region)
    entry = ami_registry.entry_for_image(session, image_id, name=name, description=description)
    done = ami_registry.publish(source, entry)
    if as_json:
        emit_json("ami-publish", source=source, commit=done.commit, pushed=done.pushed, message=done.message,
                  entry=entry.model_dump())
        return
    click.echo(f"{source}/{entry.name}: {done.message}", err=not done.pushed)
    if not done.pushed:
        raise SystemExit(1)


@cli.command("search")
@click.argument("term", default="")
@click.option("--os", "os_", help="Only this OS (e.g. alinux2023).")
@click.option("--arch", type=click.Choice(["x86_64", "arm64"]), help="Only this architecture.")
@click.option("--pcluster-version", help="Only images baked for this ParallelCluster version.")
@click.option("--offline", is_flag=True, help="Search the pinned copies; do not fetch the sources.")
@json_option("Print the matches as one JSON document (pctl.ami-search/v1).")
def search(term: str, os_: str | None, arch: str | None, pcluster_version: str | None, offline: bool,
           as_json: bool) -> None:
    """Registry images matching TERM (name, description, package, target, or a fingerprint prefix)."""
    from pctl import ami_registry

    if not offline:
        _fetch_sources()
    found = ami_registry.search(term, os=os_, arch=arch, pcluster_version=pcluster_version)
    if as_json:
        emit_json("ami-search", matches=[{"entry": f.qualified, "commit": f.commit, **f.entry.model_dump()}
                                         for f in found])
        return
    if not found:
        click.echo("no registry images match")
        return
    click.echo(table(["ENTRY", "PCLUSTER", "OS", "ARCH", "TARGET", "REGIONS", "PACKAGES"],
                     [(f.qualified, f.entry.pcluster_version, f.entry.os, f.entry.arch, f.entry.spack_target,
                       ",".join(f.entry.images), ", ".join(f.entry.packages)[:60]) for f in found]))


def _fetch_sources() -> None:
    """Fetch every registry source; a failed fetch keeps the last pinned copy and says so."""
    from pctl import ami_registry

    for r in ami_registry.update():
        if r.status in ("offline", "failed"):
            click.echo(f"WARNING: {r.source}: {r.message}", err=True)


@cli.command("pull")
@click.argument("name")
@click.option("--template", "template_path", help="Resolve for this template's cluster.region.")
@click.option("--region", help="Resolve for this region (default: the template's, else $AWS_REGION).")
@click.option("--offline", is_flag=True, help="Use the pinned copies; do not fetch the sources.")
@json_option("Print the resolved image as one JSON document (pctl.ami-pull/v1).")
def pull(name: str, template_path: str | None, region: str | None, offline: bool, as_json: bool) -> None:
    """The image id of registry entry NAME for a region, checked: same ParallelCluster, launchable here."""
    from pctl import ami_registry
    from pctl.pcluster_engine import installed_version

    if template_path and not region:
        from pctl.errors import PctlError
        from pctl.model.loader import TemplateError, load_template

        try:
            region = load_template(template_path).cluster.region
        except TemplateError as exc:
            raise PctlError(str(exc)) from exc  # its own message carries the hint
    session = _session(region)
    if not offline:
        _fetch_sources()
    pulled = ami_registry.pull(name, session.region_name, session, installed_version())
    if as_json:
        emit_json("ami-pull", **pulled.to_dict())
        return
    click.echo(pulled.image_id)
    click.echo(f"{pulled.found.qualified} (fingerprint {pulled.found.entry.fingerprint[:12]}) in {pulled.region}; "
               "`pctl create` uses it for a template with this fingerprint instead of baking", err=True)
