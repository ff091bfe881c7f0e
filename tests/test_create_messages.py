"""What `pctl create` says in the create path's corner cases (found by a fresh-user test, notes/H13.md):

- the CDK's Node.js warnings arrive as text lines, not as Python byte strings (real jsii, real Node.js);
- a ParallelCluster refusal gets a hint that fits it: fields only for config validation failures (real
  pcluster exceptions; and a real create under moto, whose S3 bucket setup AWS refuses with Forbidden);
- a binary template gives `pctl create` (CLI and `python -m flows.create`) validate's message;
- counts in task messages agree with their nouns; the "no cluster" hint names `--from-tags`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import pytest

from pctl import pcluster_engine as engine
from pctl.errors import AwsError, StateError
from tests.conftest import REPO

# The nine lines the jsii runtime (jsii 1.85) writes to stderr at start-up under Node.js 20, byte for byte.
NODE20_BANNER = b"".join(
    line.ljust(76).join((b"!!", b"!!\n")) if line is not None else b"!" * 80 + b"\n"
    for line in (
        None,
        b"",
        b"  Node 20 has reached end-of-life on 2026-04-30 and is not supported.",
        b"  Please upgrade to a supported node version as soon as possible.",
        b"",
        b"  This software is currently running on node v20.20.2.",
        b"  As of the current release of this software, supported node releases are:",
        b"",
        None,
    )
)

BANNER_TEXT = [
    "Node 20 has reached end-of-life on 2026-04-30 and is not supported.",
    "Please upgrade to a supported node version as soon as possible.",
    "This software is currently running on node v20.20.2.",
]


# ---- 1. the CDK's Node.js output ------------------------------------------------------------------


def test_banner_bytes_are_as_jsii_writes_them():
    lines = NODE20_BANNER.splitlines(keepends=True)
    assert len(lines) == 9 and all(len(line) == 81 for line in lines)
    assert lines[2] == b"!!  Node 20 has reached end-of-life on 2026-04-30 and is not supported.       !!\n"


def test_jsii_stderr_reader_gives_text_lines_once(capfd):
    """jsii's own reader function (as jsii's thread calls it) on the banner: nothing on the terminal, the
    text once through the queue, without the `!!` frame and the dangling 'releases are:' line."""
    from jsii._kernel.providers import process

    from pctl import cdk_output

    assert cdk_output.install()
    cdk_output.drain()
    process.stderr_sink(io.BytesIO(NODE20_BANNER + NODE20_BANNER))
    out, err = capfd.readouterr()
    assert "b'" not in err + out and "!!" not in err + out
    assert cdk_output.drain() == BANNER_TEXT
    process.stderr_sink(io.BytesIO(NODE20_BANNER))
    assert cdk_output.drain() == []  # once per process


def test_jsii_console_messages_and_plain_lines_become_text():
    import base64
    import json

    from jsii._kernel.providers import process

    from pctl import cdk_output

    cdk_output.install()
    cdk_output.drain()
    console = json.dumps({"stderr": base64.b64encode(b"[Warning at /demo] a CDK warning\n").decode()}).encode()
    process.stderr_sink(io.BytesIO(console + b"\n" + b"(node:1) a plain line\n"))
    assert cdk_output.drain() == ["[Warning at /demo] a CDK warning", "(node:1) a plain line"]


def test_create_cluster_hands_the_lines_to_notice(monkeypatch):
    """create_cluster passes whatever the CDK printed to `notice`, also when pcluster refuses."""
    from pctl import cdk_output

    def refuse(**_):
        cdk_output.sink(io.BytesIO(b"!" * 80 + b"\n!!  Another CDK warning.   !!\n" + b"!" * 80 + b"\n"))
        raise RuntimeError("boom")

    monkeypatch.setattr(engine, "_lib", lambda: type("Lib", (), {"create_cluster": staticmethod(refuse)}))
    got: list[str] = []
    with pytest.raises(Exception, match="boom"):
        engine.create_cluster("demo", "Region: us-east-1\n", "us-east-1", notice=got.append)
    assert got == ["ParallelCluster's CDK (Node.js) says: Another CDK warning."]


def test_real_node_process_prints_no_byte_strings():
    """The real thing: jsii starts Node.js for the CDK (about 3 s); the terminal gets no `b'...'` line."""
    code = (
        "import time\n"
        "from pctl import cdk_output\n"
        "cdk_output.install()\n"
        "from aws_cdk.core import App\n"
        "App()\n"
        "time.sleep(1)\n"
        "print('\\n'.join(cdk_output.drain()))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "b'" not in run.stderr and "!!" not in run.stderr + run.stdout
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    if "end-of-life" in run.stdout:  # Node.js 20 here: jsii warns; the warning arrives decoded
        assert f"This software is currently running on node {node}." in run.stdout.splitlines()


# ---- 2. hints after a ParallelCluster refusal ------------------------------------------------------


def _api_error(cls_name: str, message: str):
    from pcluster.api import errors

    return getattr(errors, cls_name)(message)


def test_config_validation_refusal_points_at_fields():
    from pcluster.api.errors import CreateClusterBadRequestException
    from pcluster.api.models import ConfigValidationMessage, CreateClusterBadRequestExceptionResponseContent
    from pcluster.api.models.validation_level import ValidationLevel

    exc = CreateClusterBadRequestException(CreateClusterBadRequestExceptionResponseContent(
        message="Invalid cluster configuration.",
        configuration_validation_errors=[ConfigValidationMessage(
            level=ValidationLevel.ERROR, type="ComputeResourceSizeValidator",
            message="Max count must be greater than or equal to min count.")]))
    err = engine._to_pctl_error(exc, "creating cluster demo")
    assert isinstance(err, AwsError)
    assert "ComputeResourceSizeValidator: Max count must be greater" in str(err)
    assert "fields" in err.hint and "template" in err.hint


@pytest.mark.parametrize("message", [
    "Unable to initialize s3 bucket. Forbidden",
    "Unable to initialize s3 bucket. Unexpected error when getting S3 bucket "
    "'parallelcluster-89e4e5f1cd12e98b-v1-do-not-delete': 'Forbidden'",
])
def test_bucket_forbidden_is_about_access_not_fields(message):
    err = engine._to_pctl_error(_api_error("InternalServiceException", message), "creating cluster demo")
    assert isinstance(err, AwsError)
    assert "field" not in err.hint
    assert "refused" in err.hint and "S3 bucket" in err.hint and "permission" in err.hint
    assert "template is not the cause" in err.hint
    if "89e4" in message:
        assert "parallelcluster-89e4e5f1cd12e98b-v1-do-not-delete" in err.hint


@pytest.mark.parametrize(("cls_name", "message", "kind", "words"), [
    ("InternalServiceException", "Unable to initialize s3 bucket. Bucket is in another region", AwsError,
     ["could not set up its S3 bucket", "pcluster-cli.log"]),
    ("InternalServiceException", "User: arn:aws:iam::1:user/x is not authorized to perform: cloudformation:CreateStack",
     AwsError, ["permission", "template is not the cause"]),
    ("InternalServiceException", "Unexpected failure", AwsError, ["pcluster-cli.log", "Re-run"]),
    ("LimitExceededException", "Too many stacks", AwsError, ["quota"]),
    ("BadRequestException", "The operation is not supported in region 'xx-east-1'", AwsError, ["reason above"]),
    ("NotFoundException", "Cluster 'ghost' does not exist", StateError, ["pctl list"]),
])
def test_other_refusals_say_what_they_are(cls_name, message, kind, words):
    err = engine._to_pctl_error(_api_error(cls_name, message), "creating cluster demo")
    assert type(err) is kind
    assert "field" not in err.hint
    for word in words:
        assert word in err.hint


def test_real_create_under_moto_bucket_forbidden(pcluster_world):
    """pcluster.lib's real create under moto: AWS (moto) refuses pcluster's S3 bucket set-up with
    Forbidden, the refusal H13 met. The hint is about access to that bucket, not template fields."""
    from tests.test_pcluster_engine import config

    with pytest.raises(AwsError) as info:
        engine.create_cluster("demo", config(pcluster_world), "us-east-1", notice=lambda line: None)
    assert "Unable to initialize s3 bucket" in str(info.value) and "Forbidden" in str(info.value)
    assert "field" not in info.value.hint and "S3 bucket parallelcluster-" in info.value.hint
    assert os.environ["PCLUSTER_LOG_FILE"] in info.value.hint
