"""AWS ParallelCluster as engine (create/describe/delete) and as oracle (schema and validators).

pcluster is imported lazily: it takes ~1 s and pulls in CDK, and `pctl validate`/`render` must not pay
for it. pcluster reads the region from AWS_DEFAULT_REGION and caches clients and describe results
process-wide, so every call here sets the region for its duration and clears those caches first.
Not thread-safe for calls with different regions at the same time (the environment is process-wide).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
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
        if "does not exist" in message or "not found" in message.lower():
            return StateError(text, "Check the cluster name and region (pctl list).")
        return AwsError(text, "Fix the reported fields in the template and re-run.")
    from pctl.aws.errors import to_pctl_error

    return to_pctl_error(exc, doing)


def create_cluster(name: str, config_text: str, region: str, *, suppress: bool = True) -> dict:
    """Start creating the cluster's CloudFormation stack (returns at once; poll with describe_cluster).

    ``suppress`` passes pcluster's two launch-template dry-run validators as suppressed, exactly as tier 2
    does; all other validators run and block the create at ERROR level.
    """
    with _region(region):
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
