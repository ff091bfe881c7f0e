"""`pctl cache list|prune|warm|key`: the account's Spack binary cache in S3 (docs/cache.md)."""

from __future__ import annotations

import click

from pctl.cli.commands.completion import template_argument
from pctl.cli.output import emit_json, json_option, print_table

_BUCKET_HELP = ("The cache's bucket, NAME or s3://NAME as in software.binary_cache "
                "(default: pctl's bucket of the account and region, pctl-<account>-<region>).")
_REGION_HELP = ("AWS region (default: the global config's region, `pctl config set region R`, "
                "then $AWS_REGION / $AWS_DEFAULT_REGION).")


def _bucket_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """--bucket NAME, s3://NAME or s3://NAME/ -> NAME; a click usage error (exit 2) for anything else."""
    from pctl.cache.location import user_bucket

    if value is None:
        return None
    try:
        return user_bucket(value if value.startswith("s3://") else f"s3://{value}")
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}. Give the bucket's name, e.g. --bucket my-lab-cache or "
                                 "--bucket s3://my-lab-cache, or leave it out for pctl's bucket.",
                                 ctx=ctx, param=param) from exc


def _region(region: str | None) -> str:
    """--region, else the global config's region (pctl.config: $PCTL_REGION, $AWS_REGION and
    $AWS_DEFAULT_REGION override the file there, as everywhere in pctl). ConfigError when none is set, or
    for a region botocore does not know (a typo would otherwise surface as "could not reach AWS")."""
    from pctl.config import CHECKS, HINTS, load_config
    from pctl.errors import ConfigError

    if region:
        problem = CHECKS["region"](region)
        if problem:
            raise ConfigError(f"--region: {problem}", HINTS["region"])
        return region
    found = load_config().region
    if not found:
        raise ConfigError("no AWS region for the cache (it is one per account and region)",
                          "pass --region R, set a default with `pctl config set region R`, "
                          "or export AWS_REGION (or AWS_DEFAULT_REGION)")
    return found


def _where(region: str, bucket: str | None):
    """(session, bucket): the given bucket, else pctl's bucket of the account and region."""
    from pctl.aws.bucket import default_bucket_name
    from pctl.aws.session import make_session

    session = make_session(region)
    return session, bucket or default_bucket_name(session, region)


def _s3(session):
    from pctl.aws.session import client

    return client(session, "s3")


def _entries(s3, bucket: str, named: bool):
    """The cache's entries; None when the bucket does not exist yet (pctl's own bucket only: a bucket the
    user named that does not exist is an error). Every AWS failure becomes a PctlError with its fix."""
    from pctl.aws.errors import error_code, to_pctl_error
    from pctl.cache.index import list_entries
    from pctl.errors import AwsError

    try:
        return list_entries(s3, bucket)
    except Exception as exc:
        if error_code(exc) == "NoSuchBucket":
            if not named:
                return None
            raise AwsError(f"bucket {bucket} (--bucket) does not exist",
                           "check the name (the template's software.binary_cache), or leave --bucket out "
                           "for pctl's bucket") from exc
        raise to_pctl_error(exc, f"reading the binary cache in s3://{bucket}/spack-cache/") from exc


@click.group("cache")
def cli() -> None:
    """The account's Spack binary cache: what earlier installs built, reused by every install."""


@cli.command("list")
@click.option("--region", help=_REGION_HELP)
@click.option("--bucket", callback=_bucket_option, help=_BUCKET_HELP)
@click.option("--packages", "show_packages", is_flag=True, help="Also list each group's packages.")
@json_option("Print the cache as one JSON document (pctl.cache-list/v1).")
def list_(region: str | None, bucket: str | None, show_packages: bool, as_json: bool) -> None:
    """What the cache holds, by OS, target, compiler and Spack version."""
    from pctl.cache.index import summary

    region = _region(region)
    named = bucket is not None
    session, bucket = _where(region, bucket)
    entries = _entries(_s3(session), bucket, named)
    rows = summary(entries or [])
    if as_json:
        emit_json("cache-list", region=region, bucket=bucket, bucket_exists=entries is not None, groups=rows)
        return
    if entries is None:
        click.echo(f"the Spack cache is empty: pctl's bucket s3://{bucket} does not exist yet (the first "
                   "`pctl create`, AMI bake or `pctl cache warm` in this account and region makes it)")
        return
    if not rows:
        click.echo(f"the Spack cache in s3://{bucket}/spack-cache/ is empty")
        return
    print_table(("OS", "TARGET", "COMPILER", "SPACK", "PACKAGES"),
                [(r["os"], r["target"], r["compiler"], r["spack_version"], r["count"]) for r in rows], right=(4,))
    if show_packages:
        for r in rows:
            click.echo(f"{r['os']} {r['target']} {r['compiler']} spack {r['spack_version']}: {' '.join(r['packages'])}")


@cli.command("prune")
@click.option("--region", help=_REGION_HELP)
@click.option("--bucket", callback=_bucket_option, help=_BUCKET_HELP)
@click.option("--yes", is_flag=True, help="Delete without asking.")
@click.option("--dry-run", is_flag=True, help="Only list what would be removed.")
def prune(region: str | None, bucket: str | None, yes: bool, dry_run: bool) -> None:
    """Remove binaries that no template names (library, registry, cluster states), after listing them.

    A package is kept when a template asks for it or when a kept package depends on it."""
    from pctl.aws.errors import to_pctl_error
    from pctl.cache.index import prune as do_prune
    from pctl.cache.index import prune_plan
    from pctl.cache.names import named_packages
    from pctl.errors import PctlError

    region = _region(region)
    named = named_packages()
    if named.problems:
        raise PctlError("cannot tell what every template needs, so nothing is pruned:\n  " + "\n  ".join(named.problems),
                        "fix or remove those templates/states, or run `pctl registry update`")
    given = bucket is not None
    session, bucket = _where(region, bucket)
    s3 = _s3(session)
    entries = _entries(s3, bucket, given)
    if entries is None:
        click.echo(f"nothing to prune: pctl's bucket s3://{bucket} does not exist yet, so there is no cache")
        return
    remove = prune_plan(entries, named.packages)
    if not remove:
        click.echo(f"nothing to prune: every binary in s3://{bucket}/spack-cache/ is named by a template "
                   f"({len(named.sources)} read)")
        return
    print_table(("PACKAGE", "HASH", "OS", "TARGET", "COMPILER", "SPACK"),
                [(f"{e.name}@{e.version}", e.hash[:7], e.os, e.target, e.compiler, e.spack_version) for e in remove])
    click.echo(f"{len(remove)} binaries are named by none of {len(named.sources)} templates")
    if dry_run:
        return
    if not yes:
        click.confirm(f"Delete these {len(remove)} binaries from s3://{bucket}/spack-cache/?", abort=True)
    try:
        n = do_prune(s3, bucket, remove)
    except Exception as exc:
        raise to_pctl_error(exc, f"pruning s3://{bucket}/spack-cache/") from exc
    click.echo(f"deleted {n} objects; the index is rewritten")


@cli.command("warm")
@template_argument()
@click.option("--region", help="AWS region (default: cluster.region in the template).")
@click.option("--timeout", "timeout_minutes", type=click.IntRange(1, 600), default=180, show_default=True,
              help="Minutes to wait for the builder to finish (it is terminated then).")
@click.option("--subnet-id", help="Subnet for the builder; it needs the internet. Default: the default VPC's.")
@click.option("-v", "--verbose", is_flag=True)
def warm(template: str, region: str | None, timeout_minutes: int, subnet_id: str | None, verbose: bool) -> None:
    """Build TEMPLATE's packages into the cache on a temporary builder (always terminated).

    The cache is the template's own (software.binary_cache), pctl's bucket by default. Runs as the
    Prefect flow `warm-cache` (also a deployment), so it shows in the Prefect UI."""
    from pctl.errors import PctlError
    from pctl.library import resolve
    from pctl.lifecycle.runner import prepare, run_flow
    from pctl.requests import CacheWarmRequest, TemplateSource
    from pctl.validation import validate_file

    report, loaded = validate_file(resolve(template))  # before Prefect starts: a bad template fails at once
    if loaded.template is None or report.errors:
        raise PctlError(f"cannot warm the cache for {template}: it is not valid\n{report.render()}",
                        f"fix it first (`pctl validate {template}`)")
    if loaded.template.software.binary_cache is False:
        raise PctlError(f"{template} turns the binary cache off (software.binary_cache: false): nothing to warm",
                        "remove binary_cache: false, or name a bucket (binary_cache: s3://BUCKET)")
    _need_credentials(region or loaded.template.cluster.region, f"warming the cache for {template}")
    click.echo(prepare(verbose), err=True)
    from flows.cache import warm_cache

    result = run_flow(warm_cache, CacheWarmRequest(template=TemplateSource(path=template), region=region,
                                                   timeout_minutes=timeout_minutes, subnet_id=subnet_id))
    click.echo(f"cache warm for {loaded.template.cluster.name}: done in {result['seconds']} s "
               f"(builder {result['builder']}, terminated; s3://{result['bucket']}/spack-cache/)")


@cli.command("key")
@click.option("--region", help=_REGION_HELP)
@json_option("Print the key's fingerprint and public key (pctl.cache-key/v1).")
def key(region: str | None, as_json: bool) -> None:
    """The cache's signing key (made and stored in Secrets Manager on first use): fingerprint, public key."""
    from pctl.aws.session import make_session
    from pctl.cache.keys import ensure_signing_key

    region = _region(region)
    k, arn = ensure_signing_key(make_session(region))
    if as_json:
        emit_json("cache-key", region=region, fingerprint=k.fingerprint, secret=arn, public=k.public)
        return
    click.echo(f"fingerprint {k.fingerprint}\nsecret      {arn}\n{k.public}")


def _need_credentials(region: str, doing: str) -> None:
    """Before Prefect starts: no AWS credentials at all (a local lookup, no network) is the preflight's
    "AWS credentials" failure, at once, not after Prefect's temporary server has started."""
    from pctl.aws.session import make_session
    from pctl.errors import AwsError
    from pctl.lifecycle.preflight import CREDENTIALS_FIX

    if make_session(region).get_credentials() is None:
        raise AwsError(f"no AWS credentials found (region {region}) while {doing}", CREDENTIALS_FIX)
