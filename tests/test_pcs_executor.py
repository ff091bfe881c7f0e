"""The PCS executor against botocore's Stubber: every request it sends, and every response the tests
feed it, is checked against AWS's `pcs` service model. moto has no `pcs` service; this is the boundary
that cannot run here (a real PCS controller lives in an AWS-owned account)."""

from __future__ import annotations

import copy
import datetime as dt

import boto3
import pytest
from botocore.stub import ANY, Stubber

from pctl.model.template import Template
from pctl.pcs.executor import Executor, PcsError, resolve
from pctl.pcs.plan import build_plan

NOW = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
ARN = "arn:aws:pcs:us-east-1:123456789012:cluster/"
DATA = {
    "cluster": {"name": "pcs-demo", "region": "us-east-1", "platform": "pcs"},
    "compute": {"head_node": "t3.medium", "queues": [
        {"name": "cpu", "instance_types": ["c6i.2xlarge"], "max_count": 4},
    ]},
}
REFS = {
    "security_group:id": "sg-0123456789abcdef0",
    "instance_profile:arn": "arn:aws:iam::123456789012:instance-profile/aws-pcs/pcs-demo-nodes",
    "instance_profile:login_arn": "arn:aws:iam::123456789012:instance-profile/aws-pcs/pcs-demo-login",
    "launch_template:cpu": "lt-0123456789abcdef0",
    "launch_template:login": "lt-0123456789abcdef1",
}


def cluster(status: str) -> dict:
    return {"name": "pcs-demo", "id": "pcs_c1", "arn": ARN + "pcs_c1", "status": status, "createdAt": NOW,
            "modifiedAt": NOW, "scheduler": {"type": "SLURM", "version": "26.05"}, "size": "SMALL",
            "networking": {"subnetIds": ["subnet-0123456789abcdef0"]}}


def group(name: str, gid: str, status: str) -> dict:
    return {"name": name, "id": gid, "arn": ARN + gid, "clusterId": "pcs_c1", "createdAt": NOW, "modifiedAt": NOW,
            "status": status, "subnetIds": ["subnet-0123456789abcdef0"], "iamInstanceProfileArn": REFS["instance_profile:arn"],
            "scalingConfiguration": {"minInstanceCount": 0, "maxInstanceCount": 4},
            "instanceConfigs": [{"instanceType": "c6i.2xlarge"}]}


def summary(item: dict) -> dict:
    keys = ("name", "id", "arn", "clusterId", "createdAt", "modifiedAt", "status")
    return {k: item[k] for k in keys if k in item}


def queue(status: str) -> dict:
    return {"name": "cpu", "id": "pcs_q1", "arn": ARN + "pcs_q1", "clusterId": "pcs_c1", "createdAt": NOW,
            "modifiedAt": NOW, "status": status, "computeNodeGroupConfigurations": [{"computeNodeGroupId": "pcs_g1"}]}


def not_found(stub: Stubber, op: str) -> None:
    stub.add_client_error(op, "ResourceNotFoundException", "not found", 404)


@pytest.fixture()
def pcs():
    client = boto3.client("pcs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def plan() -> dict:
    return build_plan(Template.model_validate(copy.deepcopy(DATA)), "subnet-0123456789abcdef0", {})


def executor(client) -> Executor:
    return Executor(client, poll_seconds=0, sleep=lambda _s: None)


def test_create_from_nothing_waits_for_active_at_each_level(pcs):
    client, stub = pcs
    not_found(stub, "get_cluster")
    stub.add_response("create_cluster", {"cluster": cluster("CREATING")},
                      {**resolve(plan()["requests"][0]["params"], REFS), "clientToken": ANY})
    stub.add_response("get_cluster", {"cluster": cluster("CREATING")}, {"clusterIdentifier": "pcs_c1"})
    stub.add_response("get_cluster", {"cluster": cluster("ACTIVE")}, {"clusterIdentifier": "pcs_c1"})
    stub.add_response("list_compute_node_groups", {"computeNodeGroups": []}, {"clusterIdentifier": "pcs_c1"})
    stub.add_response("create_compute_node_group", {"computeNodeGroup": group("cpu", "pcs_g1", "CREATING")})
    stub.add_response("create_compute_node_group", {"computeNodeGroup": group("login", "pcs_g2", "CREATING")})
    stub.add_response("get_compute_node_group", {"computeNodeGroup": group("cpu", "pcs_g1", "ACTIVE")})
    stub.add_response("get_compute_node_group", {"computeNodeGroup": group("login", "pcs_g2", "ACTIVE")})
    stub.add_response("list_queues", {"queues": []}, {"clusterIdentifier": "pcs_c1"})
    stub.add_response("create_queue", {"queue": queue("CREATING")}, {
        "clusterIdentifier": "pcs_c1", "queueName": "cpu", "clientToken": ANY, "tags": ANY,
        "computeNodeGroupConfigurations": [{"computeNodeGroupId": "pcs_g1"}]})
    stub.add_response("get_queue", {"queue": queue("ACTIVE")}, {"clusterIdentifier": "pcs_c1", "queueIdentifier": "pcs_q1"})
    ex = executor(client)
    refs = ex.apply(plan(), REFS)
    assert refs["cluster:id"] == "pcs_c1" and refs["node_group:cpu"] == "pcs_g1" and refs["queue:cpu"] == "pcs_q1"
    assert [kind for kind, _ in ex.created] == ["cluster", "node_group", "node_group", "queue"]


def test_resume_after_a_failure_at_the_node_group_step_creates_only_what_is_missing(pcs):
    client, stub = pcs
    stub.add_response("get_cluster", {"cluster": cluster("ACTIVE")}, {"clusterIdentifier": "pcs-demo"})
    stub.add_response("get_cluster", {"cluster": cluster("ACTIVE")}, {"clusterIdentifier": "pcs_c1"})
    # the first run made the cpu group, then failed before the login group
    stub.add_response("list_compute_node_groups", {"computeNodeGroups": [summary(group("cpu", "pcs_g1", "ACTIVE"))]},
                      {"clusterIdentifier": "pcs_c1"})
    stub.add_response("create_compute_node_group", {"computeNodeGroup": group("login", "pcs_g2", "CREATING")})
    stub.add_response("get_compute_node_group", {"computeNodeGroup": group("cpu", "pcs_g1", "ACTIVE")})
    stub.add_response("get_compute_node_group", {"computeNodeGroup": group("login", "pcs_g2", "ACTIVE")})
    stub.add_response("list_queues", {"queues": []}, {"clusterIdentifier": "pcs_c1"})
    stub.add_response("create_queue", {"queue": queue("CREATING")})
    stub.add_response("get_queue", {"queue": queue("ACTIVE")})
    ex = executor(client)
    ex.apply(plan(), REFS)
    assert [kind for kind, _ in ex.created] == ["node_group", "queue"]  # no second cluster, no second cpu group


def test_a_failed_state_stops_with_the_reason(pcs):
    client, stub = pcs
    failed = cluster("CREATE_FAILED") | {"errorInfo": [{"code": "Quota", "message": "cluster limit reached"}]}
    stub.add_response("get_cluster", {"cluster": cluster("CREATING")}, {"clusterIdentifier": "pcs-demo"})
    stub.add_response("get_cluster", {"cluster": failed}, {"clusterIdentifier": "pcs_c1"})
    with pytest.raises(PcsError, match="CREATE_FAILED: cluster limit reached"):
        executor(client).apply(plan(), REFS)


def test_a_wait_that_never_ends_times_out(pcs):
    client, stub = pcs
    ticks = iter(range(0, 10_000, 1000))
    stub.add_response("get_cluster", {"cluster": cluster("CREATING")}, {"clusterIdentifier": "pcs-demo"})
    for _ in range(2):  # clock 0: CREATING, sleep; clock 1000: CREATING, sleep; clock 2000: past 1500 s
        stub.add_response("get_cluster", {"cluster": cluster("CREATING")}, {"clusterIdentifier": "pcs_c1"})
    ex = Executor(client, poll_seconds=0, timeout=1500, sleep=lambda _s: None, clock=lambda: next(ticks))
    with pytest.raises(PcsError, match="still CREATING after 1500 s"):
        ex.apply(plan(), REFS)


def test_delete_goes_queues_then_node_groups_then_cluster(pcs):
    client, stub = pcs
    stub.add_response("get_cluster", {"cluster": cluster("ACTIVE")}, {"clusterIdentifier": "pcs-demo"})
    stub.add_response("list_queues", {"queues": [summary(queue("ACTIVE"))]}, {"clusterIdentifier": "pcs_c1"})
    stub.add_response("delete_queue", {}, {"clusterIdentifier": "pcs_c1", "queueIdentifier": "pcs_q1"})
    stub.add_response("get_queue", {"queue": queue("DELETING")})
    not_found(stub, "get_queue")
    stub.add_response("list_compute_node_groups", {"computeNodeGroups": [
        summary(group("cpu", "pcs_g1", "ACTIVE")), summary(group("login", "pcs_g2", "DELETING"))]})
    stub.add_response("delete_compute_node_group", {}, {"clusterIdentifier": "pcs_c1", "computeNodeGroupIdentifier": "pcs_g1"})
    not_found(stub, "get_compute_node_group")
    # login was already DELETING (a delete interrupted earlier): not asked again, only waited for
    stub.add_response("get_compute_node_group", {"computeNodeGroup": group("login", "pcs_g2", "DELETED")})
    stub.add_response("delete_cluster", {}, {"clusterIdentifier": "pcs_c1"})
    stub.add_response("get_cluster", {"cluster": cluster("DELETING")})
    not_found(stub, "get_cluster")
    done = executor(client).delete("pcs-demo")
    assert done == ["queue cpu", "node group cpu", "node group login", "cluster pcs-demo"]


def test_delete_of_an_absent_cluster_deletes_nothing(pcs):
    client, stub = pcs
    not_found(stub, "get_cluster")
    assert executor(client).delete("pcs-demo") == []


def test_status_reports_pcs_states(pcs):
    client, stub = pcs
    stub.add_response("get_cluster", {"cluster": cluster("ACTIVE")})
    stub.add_response("list_compute_node_groups", {"computeNodeGroups": [summary(group("cpu", "pcs_g1", "UPDATING"))]})
    stub.add_response("list_queues", {"queues": [summary(queue("ACTIVE"))]})
    status = executor(client).status("pcs-demo")
    assert status == {"cluster": {"name": "pcs-demo", "id": "pcs_c1", "status": "ACTIVE"},
                      "node_groups": [{"name": "cpu", "id": "pcs_g1", "status": "UPDATING"}],
                      "queues": [{"name": "cpu", "id": "pcs_q1", "status": "ACTIVE"}]}
