"""Render: the template plus the AWS facts known so far -> the pcluster config and node scripts."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.model.template import Template
from pctl.words import plural
from tasks._common import log


def rendered_dir(name: str) -> Path:
    from pctl.state import home

    return home() / "rendered" / name


@task(name="render", cache_policy=NO_CACHE)
def render_cluster(
    template: Template,
    name: str,
    *,
    subnet_id: str | None = None,
    compute_subnet_id: str | None = None,
    key_name: str | None = None,
    ssh_allowed_cidr: str | None = None,
    scripts_s3_prefix: str | None = None,
    custom_ami: str | None = None,
    extra_tags: dict[str, str] | None = None,
    write: bool = True,
    vpc_cidr: str | None = None,
    cache_policy_arn: str | None = None,
):  # -> pctl.render.Rendered
    """Render with what is known; missing AWS values stay marked placeholders (a dry run has none)."""
    from pctl.render import RenderOptions, render

    if name != template.cluster.name:
        template = template.model_copy(update={"cluster": template.cluster.model_copy(update={"name": name})})
    options = RenderOptions(
        subnet_id=subnet_id, compute_subnet_id=compute_subnet_id, key_name=key_name,
        ssh_allowed_cidr=ssh_allowed_cidr, scripts_s3_prefix=scripts_s3_prefix, custom_ami=custom_ami,
        extra_tags=dict(extra_tags or {}), vpc_cidr=vpc_cidr, cache_policy_arn=cache_policy_arn,
    )
    options.check()
    rendered = render(template, options)
    for warning in rendered.warnings:  # SSH exposure of the effective range (issue 14)
        log(f"WARNING: {warning}")
    if write:
        out = rendered_dir(name)
        rendered.write(out)
        log(f"rendered {plural(len(rendered.files), 'file')} to {out}"
            + (f" ({plural(len(rendered.placeholders), 'placeholder')})" if rendered.placeholders else ""))
    return rendered
