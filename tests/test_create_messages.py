"""What `pctl create` says in the create path's corner cases (found by a fresh-user test, notes/H13.md):

- the CDK's Node.js warnings arrive as text lines, not as Python byte strings (real jsii, real Node.js);
- a ParallelCluster refusal gets a hint that fits it: fields only for config validation failures (real
  pcluster exceptions; and a real create under moto, whose S3 bucket setup AWS refuses with Forbidden);
- a binary template gives `pctl create` (CLI and `python -m flows.create`) validate's message;
- counts in task messages agree with their nouns; the "no cluster" hint names `--from-tags`.
"""

from __future__ import annotations

import ast
import io
import os
import re
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


def test_jsii_stderr_reader_gives_text_lines_once(capfd, monkeypatch):
    """jsii's own reader function (as jsii's thread calls it) on the banner: nothing on the terminal, the
    text once through the queue, without the `!!` frame and the dangling 'releases are:' line."""
    from jsii._kernel.providers import process

    from pctl import cdk_output

    # as in a fresh process: a real CDK run earlier in this one (another test file) already handed it out
    monkeypatch.setattr(cdk_output, "_reported", set())
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
    # pcluster names the bucket in some runs and not in others (it depends on how far its set-up got)
    assert "field" not in info.value.hint and "access to its S3 bucket" in info.value.hint
    assert os.environ["PCLUSTER_LOG_FILE"] in info.value.hint


# ---- 3. a binary template, through the create path ------------------------------------------------

BINARY = b"cluster:\n  name: demo\n  region: us-east-1\n  os: \xf0\x28\x8c\xbc\x00\x01 rest\n"


def _cli_env(tmp_path) -> dict[str, str]:
    env = {**os.environ, "PCTL_HOME": str(tmp_path / "home"), "AWS_ENDPOINT_URL": "https://127.0.0.1:9",
           "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    env.pop("PCTL_DEBUG", None)
    env.pop("PREFECT_API_URL", None)
    return env


def test_template_source_reports_a_binary_file_as_validate_does(tmp_path):
    from pctl.errors import ConfigError
    from pctl.model.loader import load_file
    from pctl.requests import TemplateSource

    path = tmp_path / "binary.yaml"
    path.write_bytes(BINARY)
    issue = load_file(path).issues[0]  # what `pctl validate` reports
    with pytest.raises(ConfigError) as info:
        TemplateSource(path=str(path)).resolve()
    assert str(info.value) == f"{path}:4:7: this is not a UTF-8 text file (byte 0xf0 cannot be read as text)"
    assert (issue.line, issue.column, issue.message) == (4, 7, str(info.value).split(": ", 1)[1])
    assert info.value.hint == issue.hint and "UTF-8" in info.value.hint
    assert "codec" not in str(info.value)


@pytest.mark.parametrize("argv", [["-m", "pctl", "create", "binary.yaml", "--dry-run"],
                                  ["-m", "flows.create", "binary.yaml", "--dry-run"]])
def test_create_of_a_binary_file_says_what_validate_says(tmp_path, argv):
    """Real processes, as a user starts them (AWS points at a closed port; nothing may reach it)."""
    (tmp_path / "binary.yaml").write_bytes(BINARY)
    env = _cli_env(tmp_path)
    run = lambda args: subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True,  # noqa: E731
                                      text=True, timeout=120, stdin=subprocess.DEVNULL)
    validate = run(["-m", "pctl", "validate", "binary.yaml"])
    create = run(argv)
    assert create.returncode == 1 and "Traceback" not in create.stderr and "codec" not in create.stderr
    wanted = "binary.yaml:4:7: this is not a UTF-8 text file (byte 0xf0 cannot be read as text)"
    assert create.stderr.splitlines()[0] == f"pctl: error: {wanted}"
    assert "binary.yaml:4:7: error: this is not a UTF-8 text file (byte 0xf0 cannot be read as text)" in validate.stdout + validate.stderr
    hint = next(line for line in (validate.stdout + validate.stderr).splitlines() if "hint:" in line).split("hint: ")[1]
    assert create.stderr.splitlines()[1] == f"  hint: {hint}"


# ---- 4. counts in task and flow messages ----------------------------------------------------------

# Files the lead edits this session (2026-11-30): their counts are left for the lead (see notes/H15.md).
NOT_MINE: set[str] = set()
_COUNT_NOUN = re.compile(r"\{(?:len\([^{}]*\)|(?:\w+_)?(?:minutes|seconds|count))\}\s+(?:[\w-]+\s+){0,3}?[A-Za-z]+s\b")


def _plural_slips(path) -> list[str]:
    """f-strings of a module that put a count before a plural noun without pctl.words.plural."""
    tree = ast.parse(path.read_text())
    slips = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # adjacent f"..." "..." pieces are one JoinedStr
            text = "".join(v.value if isinstance(v, ast.Constant) else "{" + ast.unparse(v.value) + "}"
                           for v in node.values)
            slips += [f"{path.name}:{node.lineno}: {m.group(0)}" for m in _COUNT_NOUN.finditer(text)]
    return slips


def test_the_slip_finder_finds_slips(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('log(f"deleting {len(x)} leftover resources: "\n    f"{y}")\nlog(f"{plural(len(x), \'file\')}")\n'
                      'raise E(f"still running after {timeout_minutes} minutes")\n')
    assert _plural_slips(sample) == ["sample.py:1: {len(x)} leftover resources",
                                     "sample.py:4: {timeout_minutes} minutes"]


def test_task_and_flow_messages_count_with_plural():
    files = sorted([*REPO.glob("tasks/*.py"), *REPO.glob("flows/*.py")])
    slips = [s for f in files if str(f.relative_to(REPO)) not in NOT_MINE for s in _plural_slips(f)]
    assert not slips, "use pctl.words.plural for these counts:\n" + "\n".join(slips)


def test_one_leftover_is_one_resource(aws, tmp_path, monkeypatch):
    """The delete's leftover sweep (tasks.teardown, run as its plain function) under moto, with one
    recorded IAM policy: the log line counts it as one resource."""
    import json

    from pctl import state
    from pctl.lifecycle import progress
    from tasks.teardown import delete_leftovers

    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    arn = aws.client("iam").create_policy(PolicyName="pctl-one-spack-cache", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                  "Resource": "arn:aws:s3:::b/*"}]}))["Policy"]["Arn"]
    st = state.ClusterState(name="one", region="us-east-1")
    st.add_resource("iam_policy", arn, "us-east-1")
    state.save(st)
    lines: list[str] = []
    with progress.listening(lines.append):
        assert delete_leftovers.fn("one", "us-east-1") == [arn]
    assert f"deleting 1 leftover resource: iam_policy {arn} (us-east-1)" in lines, lines


# ---- 5. no cluster of that name: the way to resources whose local state is gone ---------------------


@pytest.mark.parametrize("argv", [["-m", "pctl", "status", "ghost"], ["-m", "pctl", "delete", "ghost", "--yes"],
                                  ["-m", "flows.delete", "ghost", "--yes"]])
def test_no_cluster_hint_names_from_tags(tmp_path, argv):
    run = subprocess.run([sys.executable, *argv], cwd=tmp_path, env=_cli_env(tmp_path), capture_output=True,
                         text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert run.returncode == 1
    message, hint = run.stderr.strip().splitlines()
    assert message.startswith("pctl: error: no cluster named 'ghost'")
    assert hint.startswith("  hint: `pctl list` shows the clusters pctl knows")
    assert "`pctl delete ghost --from-tags --region REGION`" in hint and "local state is lost" in hint
