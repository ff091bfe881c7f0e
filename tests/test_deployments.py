"""deployments.register against the session's real Prefect server: work pool, forms, schedule, limits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from deployments import specs
from deployments.register import register
from pctl.errors import PctlError

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def registered(prefect_server, aws_api_limit_removed):
    wanted = ["create-cluster", "delete-cluster", "verify-cluster", "cluster-status", "bake-ami", "ami-rebuild",
              "cache-warm"]
    res = register(pool="pctl-test-deploy", cron="15 2 * * 3", limit=5, templates=["starter"], only=wanted)
    return res


def _read(full_name: str):
    from prefect import get_client

    with get_client(sync_client=True) as client:
        return client.read_deployment_by_name(full_name)


@pytest.mark.prefect
def test_create_deployment_has_a_real_form_and_enforces_it(registered):
    from prefect import get_client

    assert "create-cluster/create-cluster" in registered.deployments
    dep = _read("create-cluster/create-cluster")
    assert dep.work_pool_name == "pctl-test-deploy"
    assert dep.enforce_parameter_schema
    schema = dep.parameter_openapi_schema
    assert schema["required"] == ["request"]
    defs = schema.get("definitions") or schema.get("$defs")
    assert {"CreateRequest", "TemplateSource"} <= set(defs)
    assert defs["CreateRequest"]["properties"]["dry_run"]["type"] == "boolean"
    assert defs["CreateRequest"]["properties"]["timeout_minutes"]["minimum"] == 1
    # The server validates parameters against that form: an out-of-range value is refused at submit time.
    with get_client(sync_client=True) as client, pytest.raises(Exception, match="(?i)validation|timeout_minutes"):
        client.create_flow_run_from_deployment(
            dep.id, parameters={"request": {"template": {"path": "starter"}, "timeout_minutes": 0}})


@pytest.mark.prefect
def test_register_is_idempotent_and_updates_the_aws_api_limit(registered, prefect_server):
    from prefect import get_client

    with get_client(sync_client=True) as client:
        assert client.read_concurrency_limit_by_tag(specs.AWS_API_TAG).concurrency_limit == 5
        pool = client.read_work_pool("pctl-test-deploy")
    assert pool.type == "process"
    again = register(pool="pctl-test-deploy", limit=3, only=["create-cluster"])
    assert again.deployments["create-cluster/create-cluster"] == registered.deployments["create-cluster/create-cluster"]
    assert again.aws_api_limit == 3


@pytest.mark.prefect
def test_every_lifecycle_flow_is_registered(registered):
    assert all(s.module_file.exists() for s in specs.SPECS)
    assert sorted(full.split("/")[1] for full in registered.deployments) == sorted(s.name for s in specs.SPECS)
    assert registered.missing == []


@pytest.mark.prefect
def test_ami_rebuild_is_scheduled_with_the_requested_cron_and_templates(registered):
    dep = _read(next(f for f in registered.deployments if f.endswith("/ami-rebuild")))
    crons = [s.schedule.cron for s in dep.schedules]
    assert crons == ["15 2 * * 3"]
    assert dep.parameters == {"request": {"templates": [{"path": "starter"}]}}


def test_register_refuses_the_ephemeral_fallback(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path))
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with pytest.raises(PctlError, match="no Prefect server"):
        register(only=["create-cluster"])


def test_unknown_deployment_name_is_refused(prefect_server):
    with pytest.raises(PctlError, match="unknown deployment"):
        register(pool="pctl-test-deploy", only=["create-clusterz"])


def test_cron_templates_and_limit_come_from_flag_then_env_then_default(monkeypatch):
    monkeypatch.delenv(specs.REBUILD_CRON_ENV, raising=False)
    monkeypatch.delenv(specs.REBUILD_TEMPLATES_ENV, raising=False)
    monkeypatch.delenv(specs.AWS_API_LIMIT_ENV, raising=False)
    assert specs.rebuild_cron() == "0 3 * * 0"
    assert specs.aws_api_limit() == specs.DEFAULT_AWS_API_LIMIT
    from pctl import library

    assert specs.rebuild_templates() == library.names() and "starter" in library.names()
    monkeypatch.setenv(specs.REBUILD_CRON_ENV, "0 5 1 * *")
    monkeypatch.setenv(specs.REBUILD_TEMPLATES_ENV, "starter, gpu ")
    monkeypatch.setenv(specs.AWS_API_LIMIT_ENV, "2")
    assert specs.rebuild_cron() == "0 5 1 * *" and specs.rebuild_cron("1 1 * * *") == "1 1 * * *"
    assert specs.rebuild_templates() == ["starter", "gpu"] and specs.rebuild_templates(["x"]) == ["x"]
    assert specs.aws_api_limit() == 2 and specs.aws_api_limit(9) == 9


@pytest.mark.parametrize("path", ["prefect.yaml", "deployments/prefect-ecs.yaml"])
def test_prefect_yaml_lists_the_same_deployments_as_register(path):
    doc = yaml.safe_load((REPO / path).read_text())
    listed = {d["name"]: d["entrypoint"] for d in doc["deployments"]}
    assert listed == {s.name: s.entrypoint for s in specs.SPECS}
    assert all(d["enforce_parameter_schema"] for d in doc["deployments"])
    rebuild = next(d for d in doc["deployments"] if d["name"] == "ami-rebuild")
    assert rebuild["schedules"][0]["cron"] == specs.DEFAULT_REBUILD_CRON
    pools = {d["work_pool"]["name"] for d in doc["deployments"]}
    assert pools == ({specs.WORK_POOL} if path == "prefect.yaml" else {"pctl-ecs"})


def test_ecs_job_variables_are_known_to_the_prefect_aws_ecs_worker():
    from prefect_aws.workers.ecs_worker import ECSWorker

    known = set(ECSWorker.get_default_base_job_template()["variables"]["properties"])
    doc = yaml.safe_load((REPO / "deployments/prefect-ecs.yaml").read_text())
    used = set(doc["definitions"]["work_pools"]["ecs"]["job_variables"])
    assert used <= known, used - known


@pytest.mark.prefect
def test_the_tag_limit_register_creates_really_serialises_tagged_tasks(prefect_server):
    """What register.ensure_aws_api_limit creates is enforced by Prefect 3.8 for tasks carrying the tag.

    A private tag (limit 1) so the session's `aws-api` limit, used by other tests' flows, is untouched.
    """
    import time

    from prefect import flow, task

    from deployments.register import ensure_aws_api_limit

    tag = "pctl-test-serial"
    assert ensure_aws_api_limit(1, tag=tag) == 1
    spans: list[tuple[float, float]] = []

    @task(tags=[tag])
    def aws_call(i: int) -> int:
        start = time.monotonic()
        time.sleep(0.4)
        spans.append((start, time.monotonic()))
        return i

    @flow
    def parallel() -> list[int]:
        futures = [aws_call.submit(i) for i in range(3)]
        return [f.result() for f in futures]

    assert sorted(parallel()) == [0, 1, 2]
    spans.sort()
    assert all(later[0] >= earlier[1] for earlier, later in zip(spans, spans[1:], strict=False)), spans
