"""Least-privilege S3 access of the cluster's node roles (issue 14), read from pcluster's own config objects:
the IAM policy resources ParallelCluster generates are `S3Access.resource_regex` (pcluster.config)."""

from __future__ import annotations

import copy

import yaml

import pctl.validation  # noqa: F401  (import order: validation before the loader)
from pctl.model.template import Template
from pctl.render import RenderOptions, render

BASE = {
    "cluster": {"name": "demo", "region": "us-east-1", "os": "alinux2023"},
    "compute": {"head_node": "t3.medium", "queues": [{"name": "compute", "instance_types": ["c6i.2xlarge"],
                                                      "max_count": 8}]},
}
SCRIPTS = "s3://pctl-123456789012-us-east-1/pctl/demo/scripts"


def policy_resources(mounts: list[dict]) -> dict[str, dict[str, set[str]]]:
    """{node: {"read": resources, "write": resources}} as pcluster would put them in the S3Access policy."""
    from pcluster.schemas.cluster_schema import ClusterSchema

    data = copy.deepcopy(BASE)
    data["data"] = {"s3_mounts": mounts}
    rendered = render(Template.model_validate(data), RenderOptions(
        subnet_id="subnet-0123456789abcdef0", key_name="k", scripts_s3_prefix=SCRIPTS))
    config = ClusterSchema(cluster_name="demo").load(yaml.safe_load(rendered.config_text))
    out = {}
    for label, iam in (("head", config.head_node.iam), ("compute", config.scheduling.queues[0].iam)):
        res: dict[str, set[str]] = {"read": set(), "write": set()}
        for access in iam.s3_access:
            res["write" if access.enable_write_access else "read"].update(access.resource_regex)
        out[label] = res
    # The account's Spack binary cache (issue 15): only the head node installs, so only it may write the cache
    # prefix (a plain render: `pctl create` gives it a managed policy instead, tests/test_cache_iam.py).
    from pctl.cache.location import s3_access as cache_access

    cache = cache_access(SCRIPTS.removeprefix("s3://").split("/")[0])
    shared = f"{cache['bucket']}/{cache['key']}"
    assert shared in out["head"]["write"] and cache["write"]
    out["head"]["write"].discard(shared)
    assert out["head"] == out["compute"]
    return out["head"]


def test_node_role_reads_only_its_own_scripts_prefix_of_pctls_bucket():
    res = policy_resources([])
    assert res == {"read": {"pctl-123456789012-us-east-1/pctl/demo/scripts/*"}, "write": set()}


def test_read_write_mount_with_a_prefix_writes_only_under_that_prefix():
    res = policy_resources([
        {"bucket": "lab-results", "mount_point": "/data/results", "read_only": False, "prefix": "runs/2024/"},
        {"bucket": "lab-refs", "mount_point": "/data/refs"},
    ])
    assert res["write"] == {"lab-results/runs/2024/*"}
    # mount-s3 lists the bucket: read stays bucket-wide, write does not
    assert {"lab-results", "lab-results/*", "lab-refs", "lab-refs/*"} <= res["read"]
    assert not any(r.startswith("pctl-123456789012-us-east-1") and r.endswith("-1") for r in res["read"])
    assert {r for r in res["read"] if r.startswith("pctl-")} == {"pctl-123456789012-us-east-1/pctl/demo/scripts/*"}


def test_read_write_mount_without_a_prefix_writes_the_bucket():
    res = policy_resources([{"bucket": "scratch-bkt", "mount_point": "/scratch", "read_only": False}])
    assert res["write"] == {"scratch-bkt", "scratch-bkt/*"}
