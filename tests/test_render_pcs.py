"""platform: pcs renders pcs/plan.json; each request is validated against AWS's `pcs` service model.

moto has no `pcs` service, so botocore's Stubber stands in for the endpoint: it runs the real client's
parameter validation against the service model and returns an empty response (no network)."""

from __future__ import annotations

import copy
import json

import boto3
import pytest
from botocore.stub import Stubber

from pctl.model.template import Template
from pctl.pcs import limits
from pctl.pcs.executor import REF_RE, resolve
from pctl.render import RenderOptions, render

DATA = {
    "cluster": {"name": "pcs-demo", "region": "us-east-1", "platform": "pcs"},
    "compute": {"head_node": "t3.medium", "queues": [
        {"name": "q", "instance_types": ["c6i.2xlarge", "c6i.4xlarge"], "max_count": 12, "min_count": 1},
        {"name": "spot", "instance_types": ["c6i.4xlarge"], "max_count": 30, "capacity_type": "spot"},
    ]},
}

# Well-formed stand-ins for what pctl's own steps produce before the PCS calls.
STAND_INS = {
    "cluster:id": "pcs_abcdef1234",
    "security_group:id": "sg-0123456789abcdef0",
    "instance_profile:arn": "arn:aws:iam::123456789012:instance-profile/aws-pcs/pcs-demo-nodes",
    "instance_profile:login_arn": "arn:aws:iam::123456789012:instance-profile/aws-pcs/pcs-demo-login",
}


def plan_of(data: dict, **options) -> dict:
    r = render(Template.model_validate(copy.deepcopy(data)), RenderOptions(**options))
    return json.loads(r.files["pcs/plan.json"])


def stand_ins(plan: dict) -> dict:
    refs = dict(STAND_INS)
    for text in REF_RE.findall(json.dumps(plan["requests"])):
        kind, name = text
        if f"{kind}:{name}" not in refs:
            refs[f"{kind}:{name}"] = {"launch_template": "lt-0123456789abcdef0", "node_group": "pcs_ng12345678",
                                      "subnet": "subnet-0123456789abcdef0"}[kind]
    return refs


def test_pcs_plan_requests_match_the_service_model():
    plan = plan_of(DATA, subnet_id="subnet-0123456789abcdef0")
    ops = [req["operation"] for req in plan["requests"]]
    # one node group per vCPU group (c6i.2xlarge: 8, c6i.4xlarge: 16), one for spot, one login group
    assert ops == ["create_cluster"] + ["create_compute_node_group"] * 4 + ["create_queue"] * 2
    client = boto3.client("pcs", region_name="us-east-1")
    refs = stand_ins(plan)
    with Stubber(client) as stub:
        for req in plan["requests"]:
            params = resolve(req["params"], refs)
            stub.add_response(req["operation"], {}, params)
            getattr(client, req["operation"])(**params)  # raises ParamValidationError if malformed
        stub.assert_no_pending_responses()


def test_node_groups_share_one_vcpu_count_and_keep_max_count_a_hard_cap():
    plan = plan_of(DATA)
    groups = {g["name"]: g for g in plan["node_groups"]}
    q_groups = [g for g in plan["node_groups"] if g["queue"] == "q"]
    assert len(q_groups) == 2 and all(len(g["instance_types"]) == 1 for g in q_groups)
    assert sum(g["max_count"] for g in q_groups) == 12 and sum(g["min_count"] for g in q_groups) == 1
    assert groups["login"]["instance_types"] == ["t3.medium"] and groups["login"]["max_count"] == 1
    queue = next(r["params"] for r in plan["requests"] if r["operation"] == "create_queue")
    assert [c["computeNodeGroupId"] for c in queue["computeNodeGroupConfigurations"]] == [
        "${node_group:q-1}", "${node_group:q-2}"]


def test_spot_queue_gets_purchase_option_and_allocation_strategy():
    data = copy.deepcopy(DATA)
    data["compute"]["queues"][1]["allocation_strategy"] = "capacity-optimized"
    spot = next(r["params"] for r in plan_of(data)["requests"]
                if r["operation"] == "create_compute_node_group" and r["params"]["computeNodeGroupName"] == "spot")
    assert spot["purchaseOption"] == "SPOT"
    assert spot["spotOptions"] == {"allocationStrategy": "capacity-optimized"}
    default = next(r["params"] for r in plan_of(DATA)["requests"]
                   if r["operation"] == "create_compute_node_group" and r["params"]["computeNodeGroupName"] == "spot")
    assert default["spotOptions"] == {"allocationStrategy": "price-capacity-optimized"}


def test_cluster_size_follows_the_node_count():
    assert plan_of(DATA)["size"] == "MEDIUM"  # 12 + 30 + 1 login nodes > 32
    small = copy.deepcopy(DATA)
    small["compute"]["queues"] = [{"name": "q", "instance_types": ["c6i.2xlarge"], "max_count": 8}]
    assert plan_of(small)["size"] == "SMALL"
    assert limits.cluster_size(2049) is None


def test_no_subnet_is_a_named_placeholder_not_a_fake_id():
    plan = plan_of(DATA)
    assert plan["placeholders"] and "subnet" in plan["placeholders"][0]
    assert "subnet-0000" not in json.dumps(plan)


def test_slurm_versions_are_ones_the_service_model_lists():
    """PCS documents its Slurm versions in the model's `SchedulerRequest.version` (no enum)."""
    import re

    model = boto3.client("pcs", region_name="us-east-1").meta.service_model
    doc = model.shape_for("SchedulerRequest").members["version"].documentation
    documented = set(re.findall(r"\d+\.\d+", doc.split("Valid Values", 1)[1]))
    assert set(limits.SLURM_VERSIONS) <= documented
    assert limits.DEFAULT_SLURM_VERSION in limits.SLURM_VERSIONS


def test_the_template_chooses_the_slurm_release():
    from pctl.aws.ami import fingerprint
    from pctl.validation import validate_text

    data = copy.deepcopy(DATA)
    data["cluster"]["slurm_version"] = "25.05"
    plan = plan_of(data)
    assert plan["slurm_version"] == "25.05"
    assert plan["requests"][0]["params"]["scheduler"] == {"type": "SLURM", "version": "25.05"}
    assert plan_of(DATA)["slurm_version"] == limits.DEFAULT_SLURM_VERSION
    # a baked PCS image holds its Slurm: another release is another image
    t_new, t_old = Template.model_validate(data), Template.model_validate(DATA)
    assert fingerprint(t_new, "3.11.1", "ami-0123456789abcdef0") != fingerprint(t_old, "3.11.1", "ami-0123456789abcdef0")

    base = "cluster: {name: pcs-demo, region: us-east-1, platform: PLATFORM, slurm_version: VERSION}\n" \
           "compute: {head_node: t3.medium, queues: [{name: q, instance_types: [c6i.large]}]}\n" \
           "shared_storage: [{name: shared, mount_point: /shared, type: efs}]\n"
    report = validate_text(base.replace("PLATFORM", "pcs").replace("VERSION", "'23.11'"), "t.yaml")[0]
    [err] = report.errors
    assert err.field == "cluster.slurm_version" and err.line == 1 and "24.11" in err.hint, report.render()
    report = validate_text(base.replace("PLATFORM", "pcs").replace("VERSION", "25.05"), "t.yaml")[0]
    assert [e.field for e in report.errors] == ["cluster.slurm_version"] and "quote" in report.render()
    report = validate_text(base.replace("PLATFORM", "parallelcluster").replace("VERSION", "'25.05'"), "t.yaml")[0]
    assert not report.errors and any(w.field == "cluster.slurm_version" for w in report.warnings), report.render()


def test_name_limits_match_the_service_model():
    model = boto3.client("pcs", region_name="us-east-1").meta.service_model
    cluster = model.operation_model("CreateCluster").input_shape.members["clusterName"].metadata
    group = model.operation_model("CreateComputeNodeGroup").input_shape.members["computeNodeGroupName"].metadata
    queue = model.operation_model("CreateQueue").input_shape.members["queueName"].metadata
    assert (cluster["min"], cluster["max"]) == (limits.NAME_MIN, limits.CLUSTER_NAME_MAX)
    assert group["max"] == limits.GROUP_NAME_MAX and queue["max"] == limits.QUEUE_NAME_MAX
    assert limits.name_problem("pcs_x1", 25) and limits.name_problem("ab", 25)
    assert limits.name_problem("ok-name\n", 25) and limits.name_problem("ok-name", 25) is None


def test_parallelcluster_platform_has_no_pcs_plan():
    data = copy.deepcopy(DATA)
    data["cluster"]["platform"] = "parallelcluster"
    assert "pcs/plan.json" not in render(Template.model_validate(data)).files


@pytest.mark.parametrize("name", ["a" * 60, "x-1", "data_science"])
def test_long_or_odd_queue_names_become_legal_pcs_names(name):
    from pctl.pcs.plan import pcs_name

    legal = pcs_name(name, limits.GROUP_NAME_MAX)
    assert limits.name_problem(legal, limits.GROUP_NAME_MAX) is None


def test_pcs_validation_names_what_pcs_cannot_do():
    from pctl.validation import validate_text

    data = copy.deepcopy(DATA)
    data["cluster"]["name"] = "a" * 45
    data["data"] = {"fsx_lustre": [{"mount_point": "/fsx"}]}
    report, _ = validate_text(json.dumps(data))
    by_code = {(i.code, i.level.value if hasattr(i.level, "value") else str(i.level)) for i in report.issues}
    codes = {c for c, _ in by_code}
    assert {"PcsClusterName", "PcsSharedStorage"} <= codes
    assert "PcsHeadNode" not in codes  # t3.medium is a login-sized type: nothing to warn about
    data["compute"]["head_node"] = "c6i.8xlarge"  # 32 vCPUs running 24/7 only for logins
    report, _ = validate_text(json.dumps(data))
    [w] = [i for i in report.warnings if i.code == "PcsHeadNode"]
    assert w.path == ("compute", "head_node") and "32 vCPUs" in w.message and "t3.large" in w.hint
    assert any(i.code == "PcsSharedStorage" and i.path == ("data", "fsx_lustre", 0) for i in report.errors)
    big = copy.deepcopy(DATA)
    big["compute"]["queues"][0]["max_count"] = 5000
    report, _ = validate_text(json.dumps(big))
    assert any(i.code == "PcsClusterSize" for i in report.errors)


def test_pcs_holds_ten_node_groups_and_ten_queues():
    from pctl.validation import validate_text

    sizes = ["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge"]
    data = copy.deepcopy(DATA)
    data["compute"]["queues"] = [{"name": "many", "instance_types": [f"c6i.{s}" for s in sizes], "max_count": 18}]
    report, _ = validate_text(json.dumps(data))
    assert not any(i.code == "PcsCounts" for i in report.errors)  # 9 groups + login = 10: fits
    data["compute"]["queues"][0]["instance_types"].append("c5.9xlarge")  # 36 vCPUs: a tenth size
    report, _ = validate_text(json.dumps(data))
    assert any(i.code == "PcsCounts" and "11 compute node groups" in i.message for i in report.errors)
    data = copy.deepcopy(DATA)
    data["compute"]["queues"] = [{"name": f"q{i:02d}", "instance_types": ["c6i.large"], "max_count": 1} for i in range(11)]
    report, _ = validate_text(json.dumps(data))
    assert any(i.code == "PcsCounts" and "11 queues" in i.message for i in report.errors)


def test_os_without_an_image_is_refused_on_both_platforms():
    from pcluster.constants import PRIVATE_OSES

    from pctl.model.constants import PRIVATE_OSES as PCTL_PRIVATE
    from pctl.validation import validate_text

    assert set(PCTL_PRIVATE) == set(PRIVATE_OSES)  # ParallelCluster's own list of OSes with no official AMI
    data = copy.deepcopy(DATA)
    data["cluster"]["platform"] = "parallelcluster"
    data["cluster"]["os"] = "rocky9"
    report, _ = validate_text(json.dumps(data))
    assert any(i.code == "OsImage" and i.path == ("cluster", "os") for i in report.errors)
    data["cluster"]["platform"] = "pcs"
    data["cluster"]["os"] = "ubuntu2204"
    report, _ = validate_text(json.dumps(data))
    assert any(i.code == "PcsOs" for i in report.errors)
