"""`--json` of the commands that run lifecycle flows: the dry-run plan, create, status, list, delete.

Run through `pctl.cli.main` as a user types them, against the session's Prefect server and a moto
server on 127.0.0.1. THE ONE MOCK (as in tests/test_flow_lifecycle.py): ParallelCluster's own
CloudFormation stack cannot run under moto, so `fake_pcluster` stands in for its create/describe/delete.
"""

from __future__ import annotations

import json

import boto3
import pytest

pytestmark = [pytest.mark.prefect]

TEMPLATE = """
cluster: {name: jsontest, region: us-east-1, os: alinux2023, key_name: mykey}
compute:
  head_node: t3.medium
  queues:
    - {name: compute, instance_types: [c6i.large], max_count: 4}
networking: {ssh_allowed_cidr: 203.0.113.0/24}
"""


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    return tmp_path / "pctl"


def _doc(capsys, kind: str, *argv: str) -> dict:
    from pctl.cli import main

    try:
        main(list(argv))
    except SystemExit as exc:
        out, err = capsys.readouterr()
        assert exc.code == 0, err
    else:
        out, err = capsys.readouterr()
    doc = json.loads(out)  # stdout is exactly one document; progress went to stderr
    assert doc["schema"] == f"pctl.{kind}/v1", doc
    return doc


def test_dry_run_plan_json(prefect_server, home, tmp_path, monkeypatch, capsys):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(home / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = tmp_path / "jsontest.yaml"
    path.write_text(TEMPLATE)
    plan = _doc(capsys, "plan", "create", str(path), "--dry-run", "--json")
    assert plan["name"] == "jsontest" and plan["region"] == "us-east-1"
    assert [s["key"] for s in plan["steps"]][0] == "network"
    assert {c["name"]: c["outcome"] for c in plan["checks"]}["template (offline)"] == "passed"
    assert plan["create_command"].startswith("pctl create ") and plan["monthly_usd"] > 0


def test_create_status_list_delete_json(prefect_server, aws_endpoint, home, fake_pcluster, fast_task_retries,
                                        tmp_path, capsys):
    boto3.client("ec2", region_name="us-east-1").create_key_pair(KeyName="mykey", KeyType="rsa")
    path = tmp_path / "jsontest.yaml"
    path.write_text(TEMPLATE)

    created = _doc(capsys, "create", "create", str(path), "--no-verify", "--timeout", "1", "--json")
    assert created["name"] == "jsontest" and created["status"] == "active"

    status = _doc(capsys, "status", "status", "jsontest", "--json")
    assert status["state"]["status"] == "active" and "pcluster" in status and "live_error" in status
    assert status["next_step"]

    listed = _doc(capsys, "list", "list", "--json")
    assert [(c["name"], c["status"]) for c in listed["clusters"]] == [("jsontest", "active")]

    deleted = _doc(capsys, "delete", "delete", "jsontest", "--yes", "--json")
    assert deleted["name"] == "jsontest" and deleted["status"] == "deleted"
    assert _doc(capsys, "list", "list", "--json")["clusters"] == []
