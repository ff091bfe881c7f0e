"""AMI flows: bake one template's image (`bake_ami`), and the scheduled rebuild of changed templates.

    python -m flows.ami build templates/starter.yaml
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
    # No owner cluster: a standalone image has no per-cluster epoch; its fingerprint alone is the cache key.
    return ami.bake(template, region, _bucket(region), "standalone", None, request.timeout_minutes, request.force)


@flow(name="rebuild-amis", log_prints=False)
def rebuild_amis(request: AmiRebuildRequest) -> list[dict[str, Any]]:
    """Re-bake only templates whose fingerprint has no image yet (a Spack or pcluster change)."""
    out = []
    for source in request.templates:
        result = bake_ami(AmiBuildRequest(template=source, region=request.region))
        log(f"{source.label()}: {'baked' if result['created'] else 'unchanged'} {result['image_id']}")
        out.append({"template": source.label(), **result})
    return out


if __name__ == "__main__":
    import sys

    from pctl.cli import main

    main(["ami", *sys.argv[1:]])
