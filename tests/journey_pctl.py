"""`pctl` as a user types it, for tests/test_cli_journey.py: `python -m tests.journey_pctl ARGS` == `pctl ARGS`
(`python -m tests.journey_pctl --flow create ARGS` == `python -m flows.create ARGS`), with ONE boundary mocked.

THE ONE MOCK, and why: ParallelCluster's own CloudFormation stack cannot run under moto (moto cannot
evaluate pcluster's CDK template; see docs/lifecycle.md), so `pctl.pcluster_engine`'s create/describe/
delete are played by `StackPcluster`: a small real CloudFormation stack in the moto server, named after
the cluster like pcluster's. Because it lives in moto, separate `pctl` processes (create, then status,
then delete) see the same cluster, and the stack-progress display reads real CloudFormation events.
Everything pctl itself creates (key pair, VPC, subnets, gateways, security group, bucket, objects) is
real boto3 against the moto server.

Knobs (environment): PCTL_FAKE_CREATE_SECONDS keeps the stack "CREATE_IN_PROGRESS" that long after the
create (for Ctrl-C tests); PCTL_FAKE_FAIL=create|stack makes the create call or the stack fail.
"""

from __future__ import annotations

import json
import os
import sys
import time

from pctl.errors import AwsError, NotFound


def _cf(region: str):
    import boto3

    return boto3.client("cloudformation", region_name=region)


def _stack_template(name: str) -> str:
    resources = {f"Part{i}": {"Type": "AWS::SSM::Parameter",
                              "Properties": {"Name": f"/pctl-fake/{name}/part{i}", "Type": "String", "Value": "x"}}
                 for i in range(3)}
    return json.dumps({"Resources": resources})


class StackPcluster:
    def create_cluster(self, name: str, config_text: str, region: str, **_):
        if os.environ.get("PCTL_FAKE_FAIL") == "create":
            raise AwsError("injected: CreateCluster refused")
        if "PCTL-PLACEHOLDER" in config_text or "subnet-" not in config_text:
            raise AssertionError("a config with placeholders reached ParallelCluster")
        _cf(region).create_stack(StackName=name, TemplateBody=_stack_template(name),
                                 Tags=[{"Key": "parallelcluster:version", "Value": "fake"},
                                       {"Key": "pctl-fake:created", "Value": str(time.time())}])
        return {"clusterName": name, "clusterStatus": "CREATE_IN_PROGRESS"}

    def describe_cluster(self, name: str, region: str, **_):
        try:
            stack = _cf(region).describe_stacks(StackName=name)["Stacks"][0]
        except Exception as exc:
            if "does not exist" in str(exc):
                raise NotFound(f"cluster {name} does not exist") from None
            raise
        status = stack["StackStatus"]
        if status == "DELETE_COMPLETE":
            raise NotFound(f"cluster {name} does not exist")
        tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        hold = float(os.environ.get("PCTL_FAKE_CREATE_SECONDS", "0"))
        if status == "CREATE_COMPLETE" and time.time() - float(tags.get("pctl-fake:created", 0)) < hold:
            status = "CREATE_IN_PROGRESS"
        if status == "CREATE_COMPLETE" and os.environ.get("PCTL_FAKE_FAIL") == "stack":
            return {"clusterName": name, "clusterStatus": "CREATE_FAILED",
                    "failures": [{"failureCode": "HeadNodeBootstrapFailure", "failureReason": "injected"}]}
        info = {"clusterName": name, "clusterStatus": status, "cloudFormationStackStatus": stack["StackStatus"]}
        if status == "CREATE_COMPLETE":
            info["headNode"] = {"publicIpAddress": "198.51.100.10", "privateIpAddress": "10.42.0.10"}
        return info

    def delete_cluster(self, name: str, region: str, **_):
        _cf(region).delete_stack(StackName=name)
        return {"clusterName": name, "clusterStatus": "DELETE_IN_PROGRESS"}


def install() -> None:
    import pctl.pcluster_engine as engine

    fake = StackPcluster()
    engine.create_cluster = fake.create_cluster
    engine.describe_cluster = fake.describe_cluster
    engine.delete_cluster = fake.delete_cluster


if __name__ == "__main__":
    install()
    args = sys.argv[1:]
    if args[:1] == ["--flow"]:
        name = args[1]
        sys.argv = [f"flows/{name}.py", *args[2:]]
        import flows  # noqa: F401 - pctl's Prefect settings, as `python -m flows.NAME` applies them
        from pctl.cli import run_command

        run_command(name, prog_name=f"python -m flows.{name}")
    else:
        from pctl.cli import main

        main(args)
