"""AWS ParallelCluster as engine (create/describe/delete) and as oracle (schema and validators).

pcluster is imported lazily: it takes ~1 s and pulls in CDK, and `pctl validate`/`render` must not pay
for it. pcluster reads the region from AWS_DEFAULT_REGION and caches clients and describe results
process-wide, so every call here sets the region for its duration and clears those caches first.
Not thread-safe for calls with different regions at the same time (the environment is process-wide).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from typing import Any

from pctl.errors import AwsError, ConfigError, PctlError, StateError

# moto's dry-run RunInstances rejects the block-device entries pcluster sends, so these two validators
# cannot run under moto. On real AWS they only re-check what the other validators already cover
# (instance type, AMI, subnet), so suppressing them everywhere keeps tier 2 identical in both worlds.
SUPPRESSED_VALIDATORS = frozenset({"HeadNodeLaunchTemplateValidator", "ComputeResourceLaunchTemplateValidator"})


def installed_version() -> str:
    from importlib.metadata import version

    return version("aws-parallelcluster")


@contextlib.contextmanager
def _region(region: str | None) -> Iterator[None]:
    saved = os.environ.get("AWS_DEFAULT_REGION")
    if region:
        os.environ["AWS_DEFAULT_REGION"] = region
    elif not saved:
        # Schema loading raises "AWS region not configured" without any region; tier 1 needs none really.
        os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    os.environ.setdefault("PCLUSTER_LOG_FILE", os.path.join(os.path.expanduser("~"), ".pctl", "pcluster-cli.log"))
    os.makedirs(os.path.dirname(os.environ["PCLUSTER_LOG_FILE"]), exist_ok=True)
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved


def _reset_caches() -> None:
    from pcluster.aws.aws_api import AWSApi
    from pcluster.aws.common import Cache

    AWSApi.reset()
    Cache.clear_all()


def _parse(config_text: str) -> dict:
    import yaml

    try:
        data = yaml.safe_load(config_text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"The ParallelCluster config is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError("The ParallelCluster config must be a YAML mapping.")
    return data


# ---- tier 1: schema -------------------------------------------------------------------------------


def schema_errors(config_text: str, cluster_name: str) -> dict | None:
    """pcluster's own schema messages (nested dict, e.g. {'HeadNode': {'Bogus': ['Unknown field.']}}), or None."""
    data = _parse(config_text)
    with _region(None):
        from marshmallow import ValidationError
        from pcluster.schemas.cluster_schema import ClusterSchema

        try:
            ClusterSchema(cluster_name=cluster_name).load(data)
        except ValidationError as exc:
            return exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    return None


# ---- tier 2: validators ---------------------------------------------------------------------------


def validator_failures(config_text: str, cluster_name: str, region: str) -> list[tuple[str, str, str]]:
    """Run pcluster's create-time validators; returns (level, validator type, message) for each failure.

    Level is "ERROR", "WARNING" or "INFO". Works under moto's mock_aws (with an official-style AMI and RSA
    key pairs, see tests/fixtures/aws.py) and against real AWS. A config that fails the schema returns one
    ("ERROR", "SchemaValidator", <messages>) entry.
    """
    with _region(region):
        from pcluster.config.common import TypeMatchValidatorsSuppressor
        from pcluster.models.cluster import BadRequestClusterActionError, Cluster, ConfigValidationError
        from pcluster.validators.common import FailureLevel

        _reset_caches()
        cluster = Cluster(cluster_name, config=config_text)
        suppressors = [TypeMatchValidatorsSuppressor(set(SUPPRESSED_VALIDATORS))]
        try:
            ignored = cluster.validate_create_request(suppressors, FailureLevel.INFO)
        except ConfigValidationError as exc:
            failures = exc.validation_failures or []
            if not failures:
                return [("ERROR", "ConfigValidator", str(exc))]
            return [(f.level.name, f.validator_type, f.message) for f in failures]
        except BadRequestClusterActionError as exc:
            return [("ERROR", "ClusterActionValidator", str(exc))]
        except Exception as exc:
            raise _to_pctl_error(exc, f"validating the ParallelCluster config of {cluster_name}") from exc
        return [(f.level.name, f.validator_type, f.message) for f in ignored or []]


# ---- engine ---------------------------------------------------------------------------------------


def _lib() -> Any:
    import pcluster.lib as lib

    return lib


_ACCESS = re.compile(r"Forbidden|AccessDenied|Access Denied|not authorized|UnauthorizedOperation|\b403\b", re.I)
_BUCKET = re.compile(r"bucket '([^']+)'")
# pcluster's API exceptions (pcluster.api.errors) whose message is about the config, and about a name taken.
_CONFIG_REFUSALS = {"CreateClusterBadRequestException", "UpdateClusterBadRequestException", "ConfigValidationError"}


def _log_file() -> str:
    return os.environ.get("PCLUSTER_LOG_FILE") or "~/.pctl/pcluster-cli.log"


def _refusal(kind: str, message: str, has_details: bool, text: str) -> PctlError:
    """The error and the hint that fit what ParallelCluster refused; only config refusals point at fields.

    `kind` is pcluster's exception class name ("" when only its response data is known); the hints say what
    the refusal is and where its details are (pcluster's own log), never a cause the message does not give.
    """
    log = _log_file()
    region = os.environ.get("AWS_DEFAULT_REGION", "REGION")
    if has_details or kind in _CONFIG_REFUSALS:
        return AwsError(text, "ParallelCluster's checks above refer to the config pctl renders from the template "
                              "(`pctl render TEMPLATE` shows it): fix the template fields they name and re-run.")
    bucket = _BUCKET.search(message)
    where = f"its S3 bucket {bucket.group(1)}" if bucket else "its S3 bucket"
    if _ACCESS.search(message):
        if "s3 bucket" in message.lower():
            return AwsError(text, f"AWS refused ParallelCluster access to {where} (the template is not the cause): "
                                  "check that these credentials have ParallelCluster's S3 permissions on its "
                                  "parallelcluster-*-do-not-delete buckets and that no bucket policy refuses them; "
                                  f"{log} names the call. Re-run once that is fixed.")
        return AwsError(text, "AWS refused one of ParallelCluster's calls (the template is not the cause): check "
                              f"that these credentials have the permissions ParallelCluster needs; {log} names the "
                              "call. Re-run once that is fixed.")
    if "s3 bucket" in message.lower():
        return AwsError(text, f"ParallelCluster could not set up {where}; {log} has the AWS error. Re-run once it is fixed.")
    if kind == "NotFoundException" or "does not exist" in message or "not found" in message.lower():
        return StateError(text, "Check the cluster name and region (pctl list).")
    if kind == "ConflictException":
        return AwsError(text, f"ParallelCluster already has a cluster or stack of this name (`pcluster list-clusters "
                              f"--region {region}`): pick another --name, or delete that one first.")
    if kind == "LimitExceededException":
        return AwsError(text, "An AWS limit or quota named above was reached: raise it (Service Quotas) or free "
                              "some, then re-run.")
    if kind == "BadRequestException":
        return AwsError(text, f"ParallelCluster rejected the request for the reason above ({log} has the details); "
                              "fix what it names and re-run.")
    return AwsError(text, f"ParallelCluster failed on its side; {log} has the details. Re-run once the cause is "
                          "fixed (a passing AWS error goes away on a re-run).")


def _to_pctl_error(exc: BaseException, doing: str) -> PctlError:
    """pcluster raises APIOperationException (with a data dict), ParameterException, or its API errors."""
    if isinstance(exc, PctlError):
        return exc
    data = getattr(exc, "data", None)
    content = getattr(exc, "content", None)  # pcluster.api.errors.*Exception carry a response model
    if data is None and content is not None and hasattr(content, "to_dict"):
        data = content.to_dict()
    if isinstance(data, dict):
        message = data.get("message") or type(exc).__name__
        details = (
            data.get("configurationValidationErrors")
            or data.get("configuration_validation_errors")
            or data.get("validationMessages")
            or data.get("validation_messages")
            or []
        )
        lines = [
            f"- {d.get('level', '')} {d.get('type', '')}: {d.get('message', d)}" for d in details if isinstance(d, dict)
        ]
        text = f"ParallelCluster refused while {doing}: {message}"
        if lines:
            text += "\n" + "\n".join(lines)
        kind = type(exc).__name__ if content is not None else ""
        return _refusal(kind, str(message), bool(lines), text)
    from pctl.aws.errors import to_pctl_error

    return to_pctl_error(exc, doing)


def create_cluster(name: str, config_text: str, region: str, *, suppress: bool = True,
                   notice: Callable[[str], None] | None = None) -> dict:
    """Start creating the cluster's CloudFormation stack (returns at once; poll with describe_cluster).

    ``suppress`` passes pcluster's two launch-template dry-run validators as suppressed, exactly as tier 2
    does; all other validators run and block the create at ERROR level. ``notice`` gets each text line the
    CDK's Node.js process printed (e.g. its Node.js end-of-life warning, see pctl.cdk_output), once, after
    the call (also when it fails); without it they go to the `pctl.pcluster` logger as warnings.
    """
    from pctl import cdk_output

    cdk_output.install()
    with _region(region), _cdk_notices(notice):
        _reset_caches()
        try:
            return _lib().create_cluster(
                cluster_name=name,
                # pcluster.lib reads a str argument as a FILE NAME; a mapping is dumped to YAML for it.
                cluster_configuration=_parse(config_text),
                region=region,
                suppress_validators=[f"type:{v}" for v in sorted(SUPPRESSED_VALIDATORS)] if suppress else None,
                validation_failure_level="ERROR",
            )
        except Exception as exc:
            raise _to_pctl_error(exc, f"creating cluster {name}") from exc


@contextlib.contextmanager
def _cdk_notices(notice: Callable[[str], None] | None) -> Iterator[None]:
    """Hand the CDK's queued output lines to `notice` when the block ends, however it ends."""
    from pctl import cdk_output

    try:
        yield
    finally:
        lines = cdk_output.drain()
        if notice is None:
            import logging

            logger = logging.getLogger("pctl.pcluster")
            notice = logger.warning
        for line in lines:
            with contextlib.suppress(Exception):  # a notice must never hide the create's own outcome
                notice(f"ParallelCluster's CDK (Node.js) says: {line}")


def describe_cluster(name: str, region: str) -> dict:
    with _region(region):
        _reset_caches()
        try:
            return _lib().describe_cluster(cluster_name=name, region=region)
        except Exception as exc:
            raise _to_pctl_error(exc, f"describing cluster {name}") from exc


def delete_cluster(name: str, region: str) -> dict:
    with _region(region):
        _reset_caches()
        try:
            return _lib().delete_cluster(cluster_name=name, region=region)
        except Exception as exc:
            raise _to_pctl_error(exc, f"deleting cluster {name}") from exc


def list_clusters(region: str) -> list[dict]:
    with _region(region):
        _reset_caches()
        clusters: list[dict] = []
        token = None
        try:
            while True:
                kwargs = {"next_token": token} if token else {}
                page = _lib().list_clusters(region=region, **kwargs)
                clusters += page.get("clusters", [])
                token = page.get("nextToken")
                if not token:
                    return clusters
        except Exception as exc:
            raise _to_pctl_error(exc, f"listing clusters in {region}") from exc
