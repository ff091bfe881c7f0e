"""pctl.aws.preflight.online_checks against moto."""

from __future__ import annotations

import os

from pctl.aws.preflight import online_checks
from pctl.model.template import Template
from pctl.validation.issues import Level


def template(**over) -> Template:
    data = {
        "cluster": {"name": "demo", "region": "us-east-1", **over.pop("cluster", {})},
        "compute": {"head_node": "t3.medium",
                    "queues": [{"name": "compute", "instance_types": ["c6i.2xlarge"], "max_count": 4}]},
        **over,
    }
    return Template.model_validate(data)


def codes(issues, level=Level.ERROR):
    return [(i.code, i.field) for i in issues if i.level is level]


def test_good_template_has_no_errors(pcluster_world):
    t = template(cluster={"key_name": pcluster_world.key_name}, networking={"subnet_id": pcluster_world.subnet_id})
    assert codes(online_checks(pcluster_world.session, t)) == []


def test_unknown_instance_type_in_region_is_an_error_with_hint(aws):
    t = template()
    t.compute.queues[0].instance_types = ["c6i.2xlarge", "c6i.gigantic"]
    issues = online_checks(aws, t)
    errors = [i for i in issues if i.level is Level.ERROR]
    assert [(i.code, i.field) for i in errors] == [("InstanceTypeOffered", "compute.queues[0].instance_types[1]")]
    assert "c6i.gigantic" in errors[0].message and "describe-instance-type-offerings" in errors[0].hint


def test_missing_key_pair_and_subnet_are_errors(aws):
    t = template(cluster={"key_name": "nobody"}, networking={"subnet_id": "subnet-0123456789abcdef0"})
    assert sorted(codes(online_checks(aws, t))) == [("KeyPairExists", "cluster.key_name"),
                                                   ("SubnetExists", "networking.subnet_id")]


def test_explicit_subnet_and_key_override_template(pcluster_world):
    issues = online_checks(pcluster_world.session, template(), subnet_id="subnet-0123456789abcdef0", key_name="nobody")
    assert sorted(codes(issues)) == [("KeyPairExists", "cluster.key_name"), ("SubnetExists", "networking.subnet_id")]


def test_quota_warning_when_max_counts_exceed_vcpu_quota(aws):
    """moto's Service Quotas knows no EC2 quotas (NoSuchResourceException), so the one GetServiceQuota
    answer is stubbed with botocore's Stubber on pctl's cached client; everything else is moto."""
    from botocore.stub import Stubber

    from pctl.aws.session import client

    t = template()
    t.compute.queues[0].max_count = 1000
    with Stubber(client(aws, "service-quotas")) as stub:
        stub.add_response("get_service_quota", {"Quota": {"QuotaCode": "L-1216C47A", "Value": 640.0}},
                          {"ServiceCode": "ec2", "QuotaCode": "L-1216C47A"})
        warnings = [i for i in online_checks(aws, t) if i.code == "VcpuQuota"]
        stub.assert_no_pending_responses()
    assert len(warnings) == 1 and warnings[0].level is Level.WARNING
    assert "8002 vCPUs" in warnings[0].message and "640" in warnings[0].message and "L-1216C47A" in warnings[0].hint


def test_quota_within_limit_and_unanswered_quota_are_silent(aws):
    """Under moto Service Quotas cannot answer for EC2: no warning. With a stubbed large quota: none either."""
    from botocore.stub import Stubber

    from pctl.aws.session import client

    assert [i for i in online_checks(aws, template()) if i.level is Level.WARNING] == []
    with Stubber(client(aws, "service-quotas")) as stub:
        stub.add_response("get_service_quota", {"Quota": {"Value": 5000.0}})
        assert [i for i in online_checks(aws, template()) if i.code == "VcpuQuota"] == []


def test_unreachable_api_is_a_warning_not_a_crash(monkeypatch):
    """No moto here: an endpoint nothing listens on stands in for an unreachable AWS."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    session = boto3.Session(region_name="us-east-1")
    from pctl.aws import session as session_mod

    monkeypatch.setattr(session_mod, "_RETRIES", {"mode": "standard", "max_attempts": 1})
    issues = online_checks(session, template(cluster={"key_name": "k"}))
    assert issues and all(i.level is Level.WARNING for i in issues)
    assert any("Could not check online" in i.message for i in issues)
    assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:9"
