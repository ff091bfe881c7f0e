"""`pctl ami build|list|delete`: images with the template's software baked in (install: ami)."""

from __future__ import annotations

import click

from pctl.cli.output import table


@click.group("ami")
def cli() -> None:
    """Custom AMIs for `software.install: ami` templates (reused by fingerprint)."""


@cli.command("build")
@click.argument("template")
@click.option("--region", help="AWS region (default: cluster.region).")
@click.option("--force", is_flag=True, help="Bake even when an image with the same fingerprint exists.")
@click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 600), default=120, show_default=True)
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
    click.echo(f"{result['image_id']}  ({'baked' if result['created'] else 'reused'}, fingerprint {result['fingerprint'][:12]})")


@cli.command("list")
@click.option("--region", required=True, help="AWS region.")
def list_(region: str) -> None:
    """Images pctl baked in REGION."""
    from pctl.aws.ami import list_images
    from pctl.aws.session import make_session

    images = list_images(make_session(region))
    if not images:
        click.echo(f"no pctl images in {region}")
        return
    rows = []
    for i in images:
        tags = {t["Key"]: t["Value"] for t in i.get("Tags", [])}
        fp = next((v for k, v in tags.items() if "fingerprint" in k), "")
        ver = next((v for k, v in tags.items() if "version" in k), "")
        rows.append((i["ImageId"], i.get("Name", ""), i.get("State", ""), fp[:12], ver, i.get("CreationDate", "")))
    click.echo(table(["IMAGE", "NAME", "STATE", "FINGERPRINT", "PCLUSTER", "CREATED"], rows))


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
