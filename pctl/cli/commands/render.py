"""`pctl render TEMPLATE -o DIR`: the pcluster config, node scripts and Spack environment, offline."""

from __future__ import annotations

import sys

import click

from pctl.cli.commands import light_pydantic
from pctl.cli.commands.completion import template_argument
from pctl.cli.output import emit_json, json_option, plural


@click.command("render")
@template_argument()
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False),
              help="Directory to write cluster-config.yaml, scripts/, spack/ and modules/ into.")
@click.option("--subnet-id", help="Subnet for the head node (and compute, unless --compute-subnet-id).")
@click.option("--compute-subnet-id", help="Subnet for the compute queues.")
@click.option("--key-name", help="EC2 key pair for SSH to the head node.")
@click.option("--ssh-cidr", help="CIDR allowed to SSH to the head node (default: the template's, else the VPC's).")
@click.option("--scripts-s3-prefix", help="s3://bucket/prefix where the files of scripts/ are uploaded.")
@click.option("--custom-ami", help="AMI id (install: ami, or any custom image).")
@click.option("--strict", is_flag=True, help="Warnings fail too (e.g. SSH open to the internet from --ssh-cidr).")
@json_option("Print what was written and the placeholders left as one JSON document (pctl.render/v1).")
def cli(template: str, outdir: str, subnet_id: str | None, compute_subnet_id: str | None, key_name: str | None,
        ssh_cidr: str | None, scripts_s3_prefix: str | None, custom_ami: str | None, as_json: bool,
        strict: bool = False) -> None:
    """Render TEMPLATE (a path or a library name) to files, without touching AWS.

    Values you do not pass stay as placeholders marked `# PCTL-PLACEHOLDER` in the config.
    Invalid templates print the validation report and exit 1.
    """
    from pathlib import Path

    light_pydantic()
    from pctl.library import resolve
    from pctl.render import RenderOptions, render
    from pctl.validation import validate_file

    report, loaded = validate_file(resolve(template))
    if not report.ok(False) or loaded.template is None:
        if as_json:
            emit_json("render", source=report.source, valid=False, written=[], placeholders=[],
                      validation=report.to_dict())
            sys.exit(1)
        click.echo(report.render(), err=True)
        click.echo(f"{report.source}: invalid ({report.summary()})", err=True)
        sys.exit(1)
    if report.warnings:
        click.echo(report.render(), err=True)

    options = RenderOptions(subnet_id=subnet_id, compute_subnet_id=compute_subnet_id, key_name=key_name,
                            ssh_allowed_cidr=ssh_cidr, scripts_s3_prefix=scripts_s3_prefix, custom_ami=custom_ami,
                            ssh_source="--ssh-cidr", strict=strict)
    rendered = render(loaded.template, options)
    for warning in rendered.warnings:  # SSH exposure (issue 14); ConfigError instead under --strict
        click.echo(f"warning: {warning}", err=True)
    out = Path(outdir)
    written = rendered.write(out)
    if as_json:
        emit_json("render", source=report.source, valid=True, output=str(out), written=[str(p) for p in written],
                  placeholders=list(dict.fromkeys(rendered.placeholders)), validation=report.to_dict())
        return
    for path in written:
        click.echo(f"wrote {path}")
    if rendered.placeholders:
        left = list(dict.fromkeys(rendered.placeholders))
        from pctl.model.template import Platform
        from pctl.render.rendered import CONFIG_FILE, PCS_PLAN_FILE

        where = out / (PCS_PLAN_FILE if loaded.template.cluster.platform is Platform.pcs else CONFIG_FILE)
        click.echo(f"{plural(len(left), 'placeholder')} left in {where}:")
        for description in left:
            click.echo(f"  - {description}")
