"""`pctl cache warm` as the Prefect flow `warm-cache` (flows/cache.py), against the session's Prefect server
and the moto server on 127.0.0.1.

THE ONE STAND-IN: no builder instance boots under moto, so nothing runs the warm script; a thread plays the
builder and writes its completion marker (`done` or `failed`), as tests/test_flow_ami.py does for bakes.
Everything else (bucket, signing key in Secrets Manager, builder role and profile, RunInstances,
termination, clean-up) is real boto3 against moto.
"""

from __future__ import annotations

import threading
import time

import boto3
import pytest

from pctl.requests import CacheWarmRequest, TemplateSource
from tests.test_flow_ami import official_amis  # noqa: F401  (fixture: ParallelCluster's official AMIs in moto)

pytestmark = [pytest.mark.prefect]

REGION = "us-east-1"


def _play(outcome: str) -> threading.Thread:
    ec2, s3 = boto3.client("ec2", region_name=REGION), boto3.client("s3", region_name=REGION)

    def run() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            res = ec2.describe_instances(Filters=[{"Name": "tag:pctl:role", "Values": ["cache-warm-builder"]},
                                                  {"Name": "instance-state-name", "Values": ["pending", "running"]}])
            if res["Reservations"]:
                for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
                    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="pctl-bakes/warm").get("Contents", [])]
                    if keys:
                        s3.put_object(Bucket=bucket, Key=f"{keys[0].rsplit('/', 1)[0]}/{outcome}", Body=b"tail of the log\n")
                        return
            time.sleep(0.05)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


@pytest.fixture
def env(prefect_server, official_amis, aws_endpoint, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    monkeypatch.setenv("PCTL_POLL_SECONDS", "0.05")


def _left() -> dict[str, list[str]]:
    ec2, iam, s3 = (boto3.client(n, region_name=REGION) for n in ("ec2", "iam", "s3"))
    running = [i["InstanceId"] for r in ec2.describe_instances(
        Filters=[{"Name": "tag:pctl:role", "Values": ["cache-warm-builder"]}])["Reservations"]
        for i in r["Instances"] if i["State"]["Name"] != "terminated"]
    keys = [o["Key"] for b in s3.list_buckets()["Buckets"]
            for o in s3.list_objects_v2(Bucket=b["Name"], Prefix="pctl-bakes/").get("Contents", [])]
    out = {"instances": running, "roles": [r["RoleName"] for r in iam.list_roles(PathPrefix="/pctl/")["Roles"]],
           "bake_objects": keys, "images": [i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]]}
    return {k: v for k, v in out.items() if v}


def test_warm_runs_as_a_flow_and_leaves_only_the_key(env):
    from flows.cache import warm_cache

    th = _play("done")
    result = warm_cache(CacheWarmRequest(template=TemplateSource(path="starter"), timeout_minutes=1))
    th.join(5)
    assert result["builder"].startswith("i-") and result["bucket"] == "pctl-123456789012-us-east-1"
    assert _left() == {}
    secret = boto3.client("secretsmanager", region_name=REGION).describe_secret(SecretId="pctl/spack-cache/signing-key")
    assert secret["Name"] == "pctl/spack-cache/signing-key"  # kept: the account's key outlives every warm


def test_a_failed_warm_is_one_message_and_still_cleans_up(env, capsys):
    from pctl.cli import main

    th = _play("failed")
    with pytest.raises(SystemExit) as exit_:
        main(["cache", "warm", "starter", "--timeout", "1"])
    th.join(5)
    err = capsys.readouterr().err
    assert exit_.value.code == 1, err
    assert "pctl: error: The software install on the cache builder failed" in err and "Traceback" not in err
    assert _left() == {}


def test_a_template_without_a_cache_is_refused_before_prefect_starts(tmp_path, capsys):
    from pctl.cli import main

    t = tmp_path / "nocache.yaml"
    t.write_text("cluster: {name: nocache, region: us-east-1}\ncompute: {head_node: t3.medium, queues: "
                 "[{name: cpu, instance_types: [c6i.large]}]}\nsoftware: {spack_packages: [zlib], binary_cache: false}\n")
    with pytest.raises(SystemExit) as exit_:
        main(["cache", "warm", str(t)])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "nothing to warm" in err and "Traceback" not in err and "Prefect" not in err
