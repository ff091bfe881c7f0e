"""The scheduled `ami-rebuild` deployment, run the way the schedule runs it: through a real process worker.

AWS is moto's server (`aws_endpoint`); the worker's flow-run process reaches it through AWS_ENDPOINT_URL.
An image carrying the starter template's fingerprint already exists, so the rebuild must reuse it, bake
nothing, and say so in the run's logs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time

import pytest

POOL = "pctl-test-rebuild"

pytestmark = [
    pytest.mark.usefixtures("aws_api_limit_removed"),
    pytest.mark.prefect,
    pytest.mark.slow,
]


def _image_with_starter_fingerprint(region: str) -> tuple[str, str]:
    import boto3

    from pctl.aws.ami import FINGERPRINT_TAG, PCLUSTER_BUILD_STATUS_TAG, current_fingerprint
    from pctl.library import path_of
    from pctl.model.loader import load_template
    from pctl.pcluster_engine import installed_version

    session = boto3.Session(region_name=region)
    fp, _base = current_fingerprint(session, load_template(path_of("starter")), installed_version())
    ec2 = boto3.client("ec2", region_name=region)
    base = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    instance = ec2.run_instances(ImageId=base, MinCount=1, MaxCount=1, InstanceType="t3.micro")["Instances"][0]
    image = ec2.create_image(InstanceId=instance["InstanceId"], Name="pctl-starter-baked")["ImageId"]
    # A finished bake also carries pcluster's build-status tag (pctl counts an image as usable only then).
    ec2.create_tags(Resources=[image], Tags=[{"Key": FINGERPRINT_TAG, "Value": fp},
                                             {"Key": PCLUSTER_BUILD_STATUS_TAG, "Value": "available"}])
    return image, fp


def test_scheduled_rebuild_with_an_unchanged_fingerprint_is_a_no_op_that_says_so(
        prefect_server, aws_endpoint, tmp_path):
    from prefect import get_client
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
    from prefect.deployments import run_deployment

    from deployments.register import register

    image_id, _fp = _image_with_starter_fingerprint("us-east-1")
    reg = register(pool=POOL, cron="0 3 * * 0", templates=["starter"], only=["ami-rebuild"])
    (full,) = reg.deployments
    # What the schedule would submit: the deployment's own default parameters, plus the region.
    run = run_deployment(full, parameters={"request": {"templates": [{"path": "starter"}], "region": "us-east-1"}},
                         timeout=0)
    env = {**os.environ, "PCTL_HOME": str(tmp_path / "home"),
           "PREFECT_TASKS_REFRESH_CACHE": "true"}  # judge AWS now, not a cached result from another test
    worker = subprocess.run(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process", "--run-once"],
        env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    with get_client(sync_client=True) as client:
        deadline = time.monotonic() + 120
        while not (fr := client.read_flow_run(run.id)).state.is_final():
            assert time.monotonic() < deadline, f"still {fr.state_name}"
            time.sleep(0.5)
        assert fr.state.is_completed(), f"{fr.state.message}\n{worker.stdout[-3000:]}"
        logs = " | ".join(log.message for log in client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id]))))
        # Only the lookup happened: no builder instance beyond the one this test made.
        import boto3

        instances = [i for r in boto3.client("ec2", region_name="us-east-1").describe_instances()["Reservations"]
                     for i in r["Instances"]]
    assert re.search(rf"starter: unchanged\b[^|]*{image_id}", logs), logs
    assert "baked" not in logs
    assert len(instances) == 1
