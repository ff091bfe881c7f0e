"""Validate: the template offline (always), against the account (when AWS is reachable), and the rendered
config with pcluster's own schema (tier 1, offline) and validators (tier 2, needs AWS)."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.errors import ValidationFailed
from pctl.lifecycle.settings import check_template
from pctl.model.template import Template
from pctl.words import plural
from tasks._common import AWS_RETRIES, AWS_RETRY_DELAYS, AWS_TAGS, log, transient_failure

__all__ = ["ValidationFailed", "check_template", "validate_template", "validate_online", "check_schema", "check_validators"]


@task(name="validate-template", cache_policy=NO_CACHE)
def validate_template(text: str, source: str) -> Template:
    """Offline checks; errors fail the run at once (they are the user's to fix, retrying cannot help)."""
    template, warnings = check_template(text, source)
    for line in warnings:
        log(line)
    log(f"template {source}: valid ({plural(len(warnings), 'warning')})")
    return template


@task(name="validate-online", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES,
      retry_delay_seconds=AWS_RETRY_DELAYS, retry_condition_fn=transient_failure)
def validate_online(template: Template, region: str, subnet_id: str | None, key_name: str | None) -> list[str]:
    """Checks that need the account: key pair, subnet, instance types offered in the region..."""
    try:
        from pctl.aws.preflight import online_checks
    except ImportError:
        log("online checks: pctl.aws.preflight is not available in this build; skipped")
        return []

    from pctl.aws.session import make_session
    from pctl.validation.issues import Level

    issues = online_checks(make_session(region), template, subnet_id=subnet_id, key_name=key_name)
    errors = [i for i in issues if i.level is Level.ERROR]
    for i in issues:
        log(i.render())
    if errors:
        raise ValidationFailed("the AWS account is not ready for this template:\n"
                               + "\n".join(i.render() for i in errors))
    return [i.render() for i in issues]


def _flatten(messages: object, path: str = "") -> list[str]:
    """pcluster's nested marshmallow messages -> 'HeadNode.Bogus: Unknown field.' lines."""
    if isinstance(messages, dict):
        out: list[str] = []
        for key, value in messages.items():
            out += _flatten(value, f"{path}.{key}" if path else str(key))
        return out
    if isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            return [f"{path}: {' '.join(messages)}" if path else " ".join(messages)]
        out = []
        for m in messages:
            out += _flatten(m, path)
        return out
    return [f"{path}: {messages}" if path else str(messages)]


@task(name="pcluster-schema", cache_policy=NO_CACHE)
def check_schema(config_text: str, name: str) -> list[str] | None:
    """Tier 1: ParallelCluster's own schema, offline. Its error lines (empty: passed; None: no engine)."""
    try:
        from pctl.pcluster_engine import schema_errors
    except ImportError:
        return None
    messages = schema_errors(config_text, name)
    return _flatten(messages) if messages else []


@task(name="pcluster-validators", cache_policy=NO_CACHE, tags=AWS_TAGS)
def check_validators(config_text: str, name: str, region: str) -> tuple[list[str], list[str]] | None:
    """Tier 2: ParallelCluster's validators against the account. (errors, warnings); None: no engine."""
    try:
        from pctl.pcluster_engine import validator_failures
    except ImportError:
        return None
    failures = validator_failures(config_text, name, region)
    errors = [f"{kind}: {msg}" for level, kind, msg in failures if level == "ERROR"]
    warnings = [f"{kind}: {msg}" for level, kind, msg in failures if level == "WARNING"]
    for w in warnings:
        log(f"ParallelCluster warning: {w}")
    return errors, warnings
