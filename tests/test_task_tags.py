"""Every task that calls AWS carries the `aws-api` tag that the deployments' concurrency limit caps."""

from __future__ import annotations

import importlib
import pkgutil

import tasks
from tasks._common import AWS_API_TAG, transient_failure


def all_tasks():
    from prefect import Task

    for info in pkgutil.iter_modules(tasks.__path__):
        module = importlib.import_module(f"tasks.{info.name}")
        for value in vars(module).values():
            if isinstance(value, Task) and value.__module__ == module.__name__:
                yield value


def test_aws_tasks_carry_the_concurrency_tag():
    found = list(all_tasks())
    aws = [t for t in found if t.retry_condition_fn is transient_failure]
    assert len(aws) >= 12, [t.name for t in aws]  # network, bucket, upload, AMI, cluster, teardown, ...
    untagged = [t.name for t in aws if AWS_API_TAG not in t.tags]
    assert untagged == []
    # Local-only steps stay untagged, so they never wait for an AWS slot.
    assert AWS_API_TAG not in next(t for t in found if t.name == "render").tags
    assert AWS_API_TAG in next(t for t in found if t.name == "pcluster-validators").tags
