"""The preflight's checks one by one (pctl.lifecycle.preflight), the stack progress reader and the plan's
create command. Fast: offline, moto in-process, or botocore's Stubber for Service Quotas (moto has no EC2
quotas, so the quota check is fed real-shaped answers through the Stubber: tier 4)."""

from __future__ import annotations

import json

import pytest

from pctl.lifecycle import preflight as pf
from pctl.lifecycle.settings import CreateSettings
from pctl.model.loader import load_text

TEMPLATE = """\
cluster: {name: pf, region: us-east-1, os: alinux2023}
compute:
  head_node: t3.medium
  queues:
    - {name: small, instance_types: [c6i.large], max_count: 4}
    - {name: big, instance_types: [c6i.32xlarge], max_count: 10}
software: {spack_packages: [zlib]}
users: [{name: alice, uid: 2001, gid: 2001}]
"""


def _template(text: str = TEMPLATE):
    loaded = load_text(text, "pf.yaml")
    assert loaded.template is not None, loaded.issues
    return loaded.template


def _settings(**kw) -> CreateSettings:
    base = dict(name="pf", region="us-east-1", key_name=None, subnet_id=None, compute_subnet_id=None,
                ssh_allowed_cidr="203.0.113.0/24", template_hash="0" * 64)
    return CreateSettings(**(base | kw))


def test_ssh_check_names_the_flag_and_how_to_find_your_ip():
    missing = pf.ssh_check(_settings(ssh_allowed_cidr=None))
    assert missing.outcome == "failed"
    assert "--ssh-cidr" in missing.hint and "checkip.amazonaws.com" in missing.hint
    assert pf.ssh_check(_settings()).outcome == "passed"
    assert pf.ssh_check(_settings(ssh_allowed_cidr=None, subnet_id="subnet-0123456789abcdef0")).outcome == "passed"


def test_placeholder_check_finds_what_nobody_fills_in():
    assert pf.placeholder_check(_template(), _settings(), "pctl-pf").outcome == "passed"
    block = TEMPLATE.replace("    - {name: big,", "    - {name: gpu, instance_types: [p5.48xlarge], max_count: 1, "
                             "capacity_type: capacity_block}\n    - {name: big,")
    found = pf.placeholder_check(_template(block), _settings(), "pctl-pf")
    assert found.outcome == "failed" and "capacity block reservation id" in found.detail


def test_node_check_without_node(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    found = pf.node_check()
    assert found.outcome == "failed" and "Node.js 18+" in found.hint


def test_node_check_too_old(monkeypatch, tmp_path):
    node = tmp_path / "node"
    node.write_text("#!/bin/sh\necho v16.20.0\n")
    node.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    found = pf.node_check()
    assert found.outcome == "failed" and "v16.20.0" in found.detail


@pytest.mark.parametrize("version, outcome", [("v20.20.2", "warning"), ("v22.11.0", "passed"), ("v24.1.0", "passed")])
def test_node_check_warns_after_end_of_life(monkeypatch, tmp_path, version, outcome):
    """Node 20 ended on 2026-04-30: ParallelCluster's CDK then warns on every create, so preflight says it first."""
    import datetime

    node = tmp_path / "node"
    node.write_text(f"#!/bin/sh\necho {version}\n")
    node.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    class Today(datetime.date):
        @classmethod
        def today(cls):
            return cls(2026, 11, 30)

    monkeypatch.setattr(pf.datetime, "date", Today)
    found = pf.node_check()
    assert found.outcome == outcome, found
    if outcome == "warning":
        assert "end-of-life on 2026-04-30" in found.detail and "22" in found.hint


def _stubbed_quota(monkeypatch, answer):
    """Service Quotas answers through botocore's Stubber; other clients come from the moto session."""
    import boto3
    from botocore.stub import Stubber

    import pctl.aws.session as sess

    sq = boto3.client("service-quotas", region_name="us-east-1")
    stub = Stubber(sq)
    params = {"ServiceCode": "ec2", "QuotaCode": "L-1216C47A"}
    if isinstance(answer, str):
        stub.add_client_error("get_service_quota", service_error_code=answer, expected_params=params)
    else:
        stub.add_response("get_service_quota", {"Quota": {"QuotaCode": "L-1216C47A", "Value": answer}}, params)
    stub.activate()
    real = sess.client
    monkeypatch.setattr(sess, "client", lambda session, service, **k: sq if service == "service-quotas"
                        else real(session, service, **k))
    return stub


@pytest.mark.parametrize(("answer", "outcome"), [(5000.0, "passed"), (640.0, "warning"), (64.0, "failed"),
                                                 ("NoSuchResourceException", "skipped")])
def test_quota_of_the_largest_queue(aws, monkeypatch, answer, outcome):
    stub = _stubbed_quota(monkeypatch, answer)
    found = pf.quota_check(aws, _template())
    assert found.outcome == outcome, found
    assert "queue big" in found.detail  # 10 x c6i.32xlarge (128 vCPUs) = 1280 vCPUs
    if outcome == "warning":
        assert "1280 vCPUs at full scale" in found.detail and "max_count" in found.hint
    if outcome == "failed":
        assert "one node of queue big needs 128 vCPUs" in found.detail
    stub.assert_no_pending_responses()


def test_zone_and_key_checks_under_moto(aws, monkeypatch, tmp_path):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path))
    zone = pf.zone_for(aws, _settings())
    assert zone == "us-east-1a"
    assert pf.zone_check(aws, _template(), zone).outcome == "passed"
    bad = _template(TEMPLATE.replace("c6i.large", "c6i.notatype"))
    missing = pf.zone_check(aws, bad, zone)
    assert missing.outcome == "failed" and "c6i.notatype" in missing.detail
    check, to_create = pf.key_check(aws, _settings())
    assert check.outcome == "passed" and to_create == "pctl-pf"
    check, to_create = pf.key_check(aws, _settings(key_name="nosuch"))
    assert check.outcome == "failed" and to_create is None
    # A pctl-pf key pair in AWS whose private key is not here cannot be used: say so.
    aws.client("ec2").create_key_pair(KeyName="pctl-pf", KeyType="rsa")
    check, _ = pf.key_check(aws, _settings())
    assert check.outcome == "failed" and "private key is not at" in check.detail


def test_stack_progress_reads_cloudformation(aws):
    from pctl.lifecycle.stack_progress import read

    assert read(aws, "nosuch") is None
    body = {"Resources": {f"P{i}": {"Type": "AWS::SSM::Parameter",
                                    "Properties": {"Name": f"/x/p{i}", "Type": "String", "Value": "v"}}
                          for i in range(2)}}
    aws.client("cloudformation").create_stack(StackName="c1", TemplateBody=json.dumps(body))
    prog = read(aws, "c1")
    assert (prog.status, prog.done, prog.total) == ("CREATE_COMPLETE", 2, 2)
    assert prog.event
    line = prog.line("c1", 125)
    assert line.startswith("cluster c1: CREATE_COMPLETE | 2/2 resources | ") and line.endswith("2:05 elapsed")


def test_the_create_command_carries_every_flag():
    from pctl.lifecycle.plan import create_command
    from pctl.requests import CreateRequest, TemplateSource

    req = CreateRequest(template=TemplateSource(path="my lab.yaml"), name="lab", key_name="my key",
                        subnet_id="subnet-0123456789abcdef0", ssh_cidr="198.51.100.7/32", dry_run=True)
    assert create_command("my lab.yaml", req) == (
        "pctl create 'my lab.yaml' --name lab --key-name 'my key' --subnet-id subnet-0123456789abcdef0 "
        "--ssh-cidr 198.51.100.7/32")


def test_cache_check_needs_a_key_or_gpg_and_the_named_bucket(aws, monkeypatch):
    """The binary cache (issue 15): found before anything is made, with a fix each (moto in-process)."""
    from pctl.cache import keys

    check = pf.cache_check(aws, _template())
    assert check.outcome == "passed" and "the create makes the account's first signing key" in check.detail
    monkeypatch.setattr(keys, "gpg_program", lambda: None)  # a machine without GnuPG, and no key yet
    check = pf.cache_check(aws, _template())
    assert check.outcome == "failed" and "gpg" in check.detail and "binary_cache: false" in check.hint
    assert pf.cache_check(aws, _template(TEMPLATE.replace("[zlib]}", "[zlib], binary_cache: false}"))) is None
    aws.client("secretsmanager").create_secret(Name="pctl/spack-cache/signing-key", SecretString=json.dumps(
        {"fingerprint": "A" * 40, "public": "-----BEGIN PGP PUBLIC KEY BLOCK-----", "private": "x"}))
    check = pf.cache_check(aws, _template())  # a key exists: gpg is not needed here
    assert check.outcome == "passed" and "A" * 16 in check.detail
    named = _template(TEMPLATE.replace("[zlib]}", "[zlib], binary_cache: 's3://lab-spack-cache'}"))
    check = pf.cache_check(aws, named)
    assert check.outcome == "failed" and "s3://lab-spack-cache does not exist" in check.detail
    aws.client("s3").create_bucket(Bucket="lab-spack-cache")
    assert pf.cache_check(aws, named).outcome == "passed"


def test_a_create_without_credentials_fails_before_prefect_starts(tmp_path, monkeypatch, capsys):
    """Every preflight problem at once, before Prefect starts (its temporary server takes ~15 s)."""
    from pctl.cli import main

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    for var in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE"):
        monkeypatch.setenv(var, str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    monkeypatch.setenv("PATH", str(tmp_path))  # no node either: both problems in one message
    path = tmp_path / "pf.yaml"
    path.write_text(TEMPLATE)
    with pytest.raises(SystemExit) as exit_:
        main(["create", str(path), "--ssh-cidr", "203.0.113.0/24"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1, err
    assert "nothing was created" in err and "AWS credentials: no AWS credentials found" in err and "Node.js" in err
    assert "Prefect" not in err and "Traceback" not in err  # `prepare` (Prefect's start) says "Prefect: ..."
    from pctl import state

    assert state.list_all() == []
