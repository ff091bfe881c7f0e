"""AMI flows: bake one template's image (`bake_ami`), and the scheduled rebuild of changed templates.

    python -m flows.ami build templates/starter.yaml [--subnet-id subnet-...]

The builder runs in `subnet_id` (it needs the internet for Spack), else in a subnet of the region's
default VPC; with neither the flow fails with that hint before anything is created.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from pctl.requests import AmiBuildRequest, AmiRebuildRequest
from tasks._common import log


def _bucket(region: str) -> str:
    from pctl.aws import bucket as b
    from pctl.aws.session import make_session

    session = make_session(region)
    name = b.default_bucket_name(session, region)
    b.ensure_bucket(session, name, region)
    return name


@flow(name="bake-ami", log_prints=False)
def bake_ami(request: AmiBuildRequest) -> dict[str, Any]:
    """Bake (or reuse, unless force) the image for the template's software; returns its id and fingerprint."""
    from tasks import ami
    from tasks.validate import validate_template

    text, source = request.template.resolve()
    template = validate_template(text, source)
    region = request.region or template.cluster.region
    # No owner cluster, so no state epoch to key a cache on: always run the task. Its own lookup by
    # fingerprint (one DescribeImages) is the cache, and it never hands back an image deleted since.
    bake = ami.bake.with_options(refresh_cache=True)
    result = bake(template, region, _bucket(region), "standalone", None, request.timeout_minutes, request.force,
                  request.subnet_id)
    return {**result, "region": region}


@flow(name="rebuild-amis", log_prints=False)
def rebuild_amis(request: AmiRebuildRequest) -> list[dict[str, Any]]:
    """Re-bake only templates whose fingerprint has no image yet (a Spack or pcluster change).

    A new image is shared like the image it replaces and copied to the same regions (`tasks.ami.carry_over`).
    """
    from tasks import ami

    out = []
    for source in request.templates:
        result = bake_ami(AmiBuildRequest(template=source, region=request.region, subnet_id=request.subnet_id))
        outcome = "re-baked" if result["created"] else "unchanged (cached)"
        log(f"{source.label()}: {outcome}: {result['image_id']} (fingerprint {result['fingerprint'][:12]})")
        if result["created"]:
            # The new image is shared and copied like the one it replaces (pctl.aws.ami_lineage).
            result["carried_over"] = ami.carry_over(result["image_id"], result["region"])
        out.append({"template": source.label(), "outcome": outcome, **result})
    return out


if __name__ == "__main__":
    from pctl.cli import run_command

    run_command("ami", prog_name="python -m flows.ami")
