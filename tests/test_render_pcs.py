"""platform: pcs renders pcs/plan.json; each request is validated against AWS's `pcs` service model.

moto has no `pcs` service, so botocore's Stubber stands in for the endpoint: it runs the real client's
parameter validation against the service model and returns an empty response (no network)."""

from __future__ import annotations

import copy
import json

import boto3
from botocore.stub import Stubber

from pctl.model.template import Template
from pctl.render import RenderOptions, render

DATA = {
    "cluster": {"name": "pcs-demo", "region": "us-east-1", "platform": "pcs"},
    "compute": {"head_node": "t3.medium", "queues": [
        {"name": "q", "instance_types": ["c6i.2xlarge", "c6i.4xlarge"], "max_count": 12, "min_count": 1},
        {"name": "spot", "instance_types": ["c6i.4xlarge"], "max_count": 30, "capacity_type": "spot"},
    ]},
}


def test_pcs_plan_requests_match_the_service_model():
    t = Template.model_validate(copy.deepcopy(DATA))
    r = render(t, RenderOptions(subnet_id="subnet-0123456789abcdef0"))
    plan = json.loads(r.files["pcs/plan.json"])
    ops = [req["operation"] for req in plan["requests"]]
    assert ops == ["create_cluster", "create_compute_node_group", "create_queue", "create_compute_node_group", "create_queue"]
    client = boto3.client("pcs", region_name="us-east-1")
    with Stubber(client) as stub:
        for req in plan["requests"]:
            stub.add_response(req["operation"], {}, req["params"])
            getattr(client, req["operation"])(**req["params"])  # raises ParamValidationError if malformed
        stub.assert_no_pending_responses()
    groups = [req["params"] for req in plan["requests"] if req["operation"] == "create_compute_node_group"]
    assert groups[0]["scalingConfiguration"] == {"minInstanceCount": 1, "maxInstanceCount": 12}
    assert groups[0]["computeNodeGroupName"] == "q-q" and groups[1]["purchaseOption"] == "SPOT"
    assert {c["instanceType"] for c in groups[0]["instanceConfigs"]} == {"c6i.2xlarge", "c6i.4xlarge"}


def test_parallelcluster_platform_has_no_pcs_plan():
    data = copy.deepcopy(DATA)
    data["cluster"]["platform"] = "parallelcluster"
    assert "pcs/plan.json" not in render(Template.model_validate(data)).files
