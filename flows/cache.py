"""The binary cache flow: warm the account's Spack binary cache with a template's packages (docs/cache.md).

    python -m flows.cache warm templates/bioinformatics.yaml [--subnet-id subnet-...]

It runs the AMI bake's builder without making an image: the builder installs what the cache holds and
pushes what it builds, signed. The builder, its role and its S3 prefix are removed whatever happens,
Ctrl-C included; a builder a killed run left carries `pctl:role=cache-warm-builder` and the template's
cluster name (`pctl delete NAME --from-tags` finds it).
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows._run import announce, namer
from pctl.requests import CacheWarmRequest
from pctl.words import plural
from tasks._common import log


@flow(name="warm-cache", flow_run_name=namer("warm-cache"), log_prints=False)
def warm_cache(request: CacheWarmRequest) -> dict[str, Any]:
    """Build the template's packages into the cache; returns {"builder", "seconds", "bucket", "region"}."""
    from flows.ami import _bucket
    from pctl.cache.location import cache_bucket_for
    from tasks import cache
    from tasks.validate import validate_template

    announce(request)
    text, source = request.template.resolve()
    template = validate_template(text, source)
    region = request.region or template.cluster.region
    bucket = _bucket(region)
    where = cache_bucket_for(template.software.binary_cache, bucket)
    if where:
        specs = plural(len(template.software.spack_packages), "spec")
        log(f"warming the binary cache s3://{where}/spack-cache/ with {specs} of {source} "
            "(a builder instance; this takes as long as the builds)")
    result = cache.warm(template, region, bucket, request.timeout_minutes, request.subnet_id)
    log(f"cache warm for {template.cluster.name}: done in {result['seconds']} s (builder {result['builder']}, terminated)")
    return {**result, "bucket": where, "region": region}


if __name__ == "__main__":
    from pctl.cli import run_command

    run_command("cache", prog_name="python -m flows.cache")
