"""The create journey through the CLI, as a user types it, against a moto server on 127.0.0.1.

Each `pctl ...` below is a separate process (`python -m tests.journey_pctl ...` is `pctl ...`), pointed at
the session's Prefect server and the moto server by environment, as a user's shell would be.

THE ONE MOCK: ParallelCluster's create/describe/delete (tests/journey_pctl.py says why and how: a small
real CloudFormation stack in moto stands in for pcluster's). After every path, what is left in moto and in
state is counted: nothing that pctl cannot show (`pctl status`) and remove (`pctl delete`).
"""

from __future__ import annotations

import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.prefect]

REGION = "us-east-1"
TEMPLATE = """\
cluster: {name: journey, region: us-east-1, os: alinux2023}
compute:
  head_node: t3.medium
  queues:
    - {name: compute, instance_types: [c6i.large], max_count: 4}
software: {spack_packages: [zlib]}
users: [{name: alice, uid: 2001, gid: 2001}]
networking: {ssh_allowed_cidr: 203.0.113.0/24}
"""


@pytest.fixture
def world(prefect_server, aws_endpoint, tmp_path):
    home = tmp_path / "pctl-home"
    template = tmp_path / "journey.yaml"
    template.write_text(TEMPLATE)
    env = {**os.environ, "PCTL_HOME": str(home), "PREFECT_API_URL": prefect_server,
           "PCTL_POLL_SECONDS": "0.02", "NO_COLOR": "1", "PCTL_ON_INTERRUPT": "rollback"}
    env.pop("PCTL_DEBUG", None)
    return type("World", (), {"home": home, "template": template, "env": env, "tmp": tmp_path})


def pctl(world, *args: str, env: dict | None = None, timeout: float = 150, stdin: str = "") -> subprocess.CompletedProcess:
    try:
        done = subprocess.run([sys.executable, "-m", "tests.journey_pctl", *args], cwd=REPO, env=env or world.env,
                              capture_output=True, text=True, timeout=timeout, input=stdin)
    except subprocess.TimeoutExpired as exc:
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        pytest.fail(f"`pctl {' '.join(args)}` still running after {timeout:.0f} s; its stderr:\n{err[-3000:]}")
    assert "Traceback" not in done.stdout + done.stderr, done.stderr[-3000:]
    return done


def leftovers() -> dict[str, list[str]]:
    """Everything pctl could have made, still in moto, by kind."""
    ec2 = boto3.client("ec2", region_name=REGION)
    tag = [{"Name": "tag-key", "Values": ["pctl:cluster"]}]
    out = {
        "vpcs": [v["VpcId"] for v in ec2.describe_vpcs(Filters=tag)["Vpcs"]],
        "subnets": [s["SubnetId"] for s in ec2.describe_subnets(Filters=tag)["Subnets"]],
        "igws": [g["InternetGatewayId"] for g in ec2.describe_internet_gateways(Filters=tag)["InternetGateways"]],
        "nats": [n["NatGatewayId"] for n in ec2.describe_nat_gateways(Filters=tag)["NatGateways"]
                 if n["State"] not in ("deleted", "deleting")],
        "eips": [a["AllocationId"] for a in ec2.describe_addresses()["Addresses"]],
        "sgs": [g["GroupId"] for g in ec2.describe_security_groups(Filters=tag)["SecurityGroups"]],
        "key_pairs": [k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]],
        "stacks": [s["StackName"] for s in boto3.client("cloudformation", region_name=REGION).describe_stacks()["Stacks"]
                   if s["StackStatus"] != "DELETE_COMPLETE"],
        "buckets": [b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]],
        "ssm_parameters": [p["Name"] for p in boto3.client("ssm", region_name=REGION).describe_parameters()["Parameters"]],
    }
    return {k: v for k, v in out.items() if v}


def states(world) -> list[str]:
    d = world.home / "clusters"
    return sorted(p.stem for p in d.glob("*.json")) if d.exists() else []


# ---- the journey ---------------------------------------------------------------------------------

def test_dry_run_create_status_verify_delete(world, request):
    t = str(world.template)
    dry = pctl(world, "create", t, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "passed   AWS credentials: account 123456789012" in dry.stdout
    assert "pctl creates pctl-journey (RSA)" in dry.stdout
    assert "instance types: all 2 offered in us-east-1a" in dry.stdout
    # Tier 2 never checks a placeholder subnet: without --subnet-id it says why it is skipped.
    assert "skipped  ParallelCluster validators (tier 2): pctl creates the network" in dry.stdout
    assert f"Create it with: pctl create {t}\n" in dry.stdout
    assert states(world) == [] and leftovers() == {}

    made = pctl(world, "create", t, "--no-verify")
    assert made.returncode == 0, made.stderr
    assert "cluster journey: active" in made.stdout
    # The run is findable: named after cluster and action, with its UI link (a server is up).
    assert "Prefect run create-journey: http://127.0.0.1:" in made.stderr
    assert "/runs/flow-run/" in made.stderr  # the bundled UI's run page
    assert "cluster:journey" in _run_tags("create-journey")
    # The stack's progress: resources done of the total (the fake stack has 3), as plain lines (no tty).
    assert "3/3 resources" in made.stderr
    assert made.stderr.count("preflight passed   SSH access") == 1  # each progress line once
    key = world.home / "keys" / "pctl-journey.pem"
    assert key.read_text().startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    left = leftovers()
    assert left["key_pairs"] == ["pctl-journey"] and left["stacks"] == ["journey"] and len(left["vpcs"]) == 1

    # status reads only the state file: it answers with AWS unreachable, and prints no stray AWS line.
    offline = {**world.env, "AWS_ENDPOINT_URL": "https://127.0.0.1:9"}
    started = time.monotonic()
    st = pctl(world, "status", "journey", env=offline)
    assert st.returncode == 0, st.stderr
    assert time.monotonic() - started < 15
    assert "active" in st.stdout and "198.51.100.10" in st.stdout and st.stderr == ""
    live = pctl(world, "status", "journey", "--live")
    assert live.returncode == 0 and "CREATE_COMPLETE" in live.stdout

    _verify(world, request)

    gone = pctl(world, "delete", "journey", "--yes")
    assert gone.returncode == 0, gone.stderr
    assert "Prefect run delete-journey" in gone.stderr
    assert states(world) == [] and leftovers() == {}
    assert not key.exists()


def _run_tags(run_name: str) -> set[str]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[run_name])))
    return {t for r in runs for t in r.tags}


def _verify(world, request) -> None:
    """`pctl verify journey` against the loopback head node (real sshd, Lmod, Slurm) when this machine
    can run it; the state only lacks the head node's address, which the fake pcluster cannot give."""
    missing = pctl(world, "verify", "nosuch")
    assert missing.returncode == 1 and "no cluster named 'nosuch'" in missing.stderr
    assert "Prefect" not in missing.stderr  # found before Prefect starts
    try:
        node = request.getfixturevalue("headnode")
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:  # no root/packages, or another run holds it
        import warnings

        warnings.warn(f"verify step skipped: the loopback head node is not available here: {exc}", stacklevel=1)
        return
    done = pctl(world, "verify", "journey", "--host", node.host, "--port", str(node.port), "--user", node.user,
                "--key", node.key_path, "--fingerprint", node.fingerprint, "--template", node.template_path,
                "--timeout", "5")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verify passed" in done.stdout
    assert "Prefect run verify-journey" in done.stderr


# ---- failures before anything is made -----------------------------------------------------------

def test_no_credentials_creates_nothing(world):
    env = {k: v for k, v in world.env.items() if not k.startswith("AWS_") or k in ("AWS_ENDPOINT_URL", "AWS_CA_BUNDLE")}
    env |= {"AWS_SHARED_CREDENTIALS_FILE": str(world.tmp / "none"), "AWS_CONFIG_FILE": str(world.tmp / "none"),
            "AWS_EC2_METADATA_DISABLED": "true", "AWS_DEFAULT_REGION": REGION}
    done = pctl(world, "create", str(world.template), env=env)
    assert done.returncode == 1
    assert "AWS credentials: no AWS credentials found (region us-east-1)" in done.stderr
    assert "aws configure" in done.stderr and "profile in pctl" not in done.stderr
    assert "nothing was created" in done.stderr
    assert states(world) == [] and leftovers() == {}


def test_every_preflight_problem_at_once(world):
    no_cidr = world.tmp / "no-cidr.yaml"
    no_cidr.write_text(TEMPLATE.replace("networking: {ssh_allowed_cidr: 203.0.113.0/24}\n", ""))
    done = pctl(world, "create", str(no_cidr), "--key-name", "nosuchkey")
    assert done.returncode == 1
    assert "found 2 problems; nothing was created" in done.stderr
    assert "key pair: nosuchkey does not exist in us-east-1" in done.stderr
    assert "SSH access: no CIDR may SSH" in done.stderr and "--ssh-cidr" in done.stderr
    assert "checkip.amazonaws.com" in done.stderr
    assert states(world) == [] and leftovers() == {}
    # The dry run finds the same, and its suggested command carries every flag it was given.
    dry = pctl(world, "create", str(no_cidr), "--key-name", "nosuchkey", "--dry-run")
    assert dry.returncode == 1 and "nosuchkey does not exist" in dry.stderr
    assert f"pctl create {no_cidr} --key-name nosuchkey" in dry.stderr
    # --ssh-cidr fixes the CIDR; an imported key pair the other one.
    boto3.client("ec2", region_name=REGION).create_key_pair(KeyName="mine", KeyType="rsa")
    ok = pctl(world, "create", str(no_cidr), "--key-name", "mine", "--ssh-cidr", "198.51.100.7/32", "--dry-run")
    assert ok.returncode == 0, ok.stderr
    assert f"pctl create {no_cidr} --key-name mine --ssh-cidr 198.51.100.7/32" in ok.stdout


def test_an_existing_name_is_refused_before_prefect(world):
    assert pctl(world, "create", str(world.template), "--no-verify").returncode == 0
    started = time.monotonic()
    again = pctl(world, "create", str(world.template))
    assert again.returncode == 1 and "already exists (status active)" in again.stderr
    assert "Prefect" not in again.stderr and time.monotonic() - started < 20
    assert pctl(world, "delete", "journey", "--yes").returncode == 0
    assert states(world) == [] and leftovers() == {}


# ---- failures after the create began: a recorded failed state, nothing pctl cannot remove --------

@pytest.mark.parametrize("fault", ["create", "stack"])
def test_a_failed_cluster_step_rolls_back(world, fault):
    done = pctl(world, "create", str(world.template), "--no-verify", env={**world.env, "PCTL_FAKE_FAIL": fault})
    assert done.returncode == 1
    step = "cluster create" if fault == "create" else "cluster wait"
    assert f"failed at step '{step}'" in done.stderr and "injected" in done.stderr
    assert leftovers() == {}
    st = pctl(world, "status", "journey")
    assert "rolled_back" in st.stdout and step in st.stdout
    assert pctl(world, "delete", "journey", "--yes").returncode == 0
    assert states(world) == []


def _foreground() -> None:
    """preexec_fn: SIGINT as an interactive shell gives its foreground command (default, unblocked). A CI
    harness may start the suite with SIGINT ignored (a background job of a script), and children inherit it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _catches_sigint(pid: int) -> str:
    """'' when the process has a SIGINT handler (Python's), else its signal masks from /proc."""
    fields = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
    bit = 1 << (signal.SIGINT - 1)
    if int(fields["SigCgt"], 16) & bit and not int(fields["SigBlk"], 16) & bit:
        return ""
    return f"SigIgn={fields['SigIgn'].strip()} SigBlk={fields['SigBlk'].strip()} SigCgt={fields['SigCgt'].strip()}"


def _finish(proc: subprocess.Popen, timeout: float, what: str) -> tuple[str, str]:
    """communicate(); past the timeout, the child's thread stacks (faulthandler, SIGABRT) go into the failure."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER=1: every thread's stack to stderr
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"{what}: the child still ran {timeout:.0f} s later; its stderr and stacks:\n{err[-8000:]}")


def _interrupt(world, extra_env: dict) -> subprocess.CompletedProcess:
    env = {**world.env, "PCTL_FAKE_CREATE_SECONDS": "600", "PYTHONFAULTHANDLER": "1", **extra_env}
    proc = subprocess.Popen([sys.executable, "-m", "tests.journey_pctl", "create", str(world.template), "--no-verify"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_foreground)
    state_file = world.home / "clusters" / "journey.json"
    deadline = time.monotonic() + 240
    try:  # wait until the cluster step is polling (the stack exists), then Ctrl-C
        while time.monotonic() < deadline and proc.poll() is None:
            if state_file.exists() and "journey" in leftovers().get("stacks", []):
                break
            time.sleep(0.3)
        if proc.poll() is not None or time.monotonic() >= deadline:
            out, err = _finish(proc, 5, "the create never reached the cluster step")
            pytest.fail(f"the create never reached the cluster step (exit {proc.returncode}):\n{err[-3000:]}")
        time.sleep(1)
        assert not (masks := _catches_sigint(proc.pid)), f"the child cannot take a Ctrl-C: {masks}"
        proc.send_signal(signal.SIGINT)
        out, err = _finish(proc, 240, "Ctrl-C during the cluster wait")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "Traceback" not in out + err, err[-3000:]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_ctrl_c_rolls_back_by_default(world):
    done = _interrupt(world, {})
    assert done.returncode == 130, done.stderr[-2000:]
    assert "interrupted during cluster wait" in done.stderr
    assert done.stderr.count("pctl: error:") == 1 and "\ninterrupted\n" not in done.stderr  # one message
    assert leftovers() == {}
    st = (world.home / "clusters" / "journey.json").read_text()
    assert '"status": "rolled_back"' in st and "interrupted (Ctrl-C)" in st


def test_ctrl_c_can_keep_the_cluster_building(world):
    done = _interrupt(world, {"PCTL_ON_INTERRUPT": "keep"})
    assert done.returncode == 130
    assert "everything created so far is kept" in done.stderr
    st = pctl(world, "status", "journey")
    assert "create_failed" in st.stdout and "journey" in leftovers().get("stacks", [])
    # What was kept, pctl shows and removes.
    assert pctl(world, "delete", "journey", "--yes").returncode == 0
    assert states(world) == [] and leftovers() == {}


# ---- delete --forget -----------------------------------------------------------------------------

def test_forget_removes_only_an_entry_with_nothing_left(world):
    from pctl import state

    os.environ["PCTL_HOME"] = str(world.home)  # this process writes the entries pctl then reads
    try:
        st = state.ClusterState(name="ghost", region=REGION)
        st.set_status(state.Status.CREATE_FAILED, "network: NoCredentialsError")
        st.add_resource("vpc", "vpc-0123456789abcdef0", REGION)  # recorded, but already gone
        state.save(st)
        live = state.ClusterState(name="alive", region=REGION)
        vpc = boto3.client("ec2", region_name=REGION).create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        live.set_status(state.Status.CREATE_FAILED, "network: injected")
        live.add_resource("vpc", vpc, REGION)
        state.save(live)
    finally:
        os.environ.pop("PCTL_HOME")
    refused = pctl(world, "delete", "alive", "--forget", stdin="alive\n")
    assert refused.returncode == 1 and f"still exists:  vpc {vpc}" in refused.stderr
    wrong = pctl(world, "delete", "ghost", "--forget", stdin="ghots\n")
    assert wrong.returncode == 1 and "did not match" in wrong.stderr and "ghost" in states(world)
    done = pctl(world, "delete", "ghost", "--forget", stdin="ghost\n")
    assert done.returncode == 0, done.stderr
    assert "gone:          vpc vpc-0123456789abcdef0" in done.stderr
    assert states(world) == ["alive"]
    nocreds = {**world.env, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "",
               "AWS_SHARED_CREDENTIALS_FILE": str(world.tmp / "none"), "AWS_CONFIG_FILE": str(world.tmp / "none"),
               "AWS_EC2_METADATA_DISABLED": "true"}
    unchecked = pctl(world, "delete", "alive", "--forget", "--yes", env=nocreds)
    assert unchecked.returncode == 1 and f"not checked:   vpc {vpc}" in unchecked.stderr
    assert states(world) == ["alive"]


def test_status_of_a_create_that_died(world):
    """A create killed without a chance to record (SIGKILL) leaves `creating`: status says it stopped."""
    from pctl import state

    os.environ["PCTL_HOME"] = str(world.home)
    try:
        st = state.ClusterState(name="dead", region=REGION)
        st.set_status(state.Status.CREATING, "from x.yaml")
        state.save(st)
    finally:
        os.environ.pop("PCTL_HOME")
    out = pctl(world, "status", "dead").stdout
    assert "the create stopped without recording why" in out
    Path(world.home / "clusters" / "dead.json").unlink()


def test_python_m_flows_create_prints_each_line_once(world):
    done = pctl(world, "--flow", "create", str(world.template), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("valid (0 warnings)") == 1
    # passed, or a warning for a Node.js past its end-of-life: once either way
    assert len(re.findall(r"preflight (?:passed |warning) +Node\.js", done.stderr)) == 1, done.stderr
    assert "Prefect run create-journey: http://127.0.0.1:" in done.stderr
    assert "telemetry" not in done.stderr.lower()
    assert "Plan for cluster journey" in done.stdout


def test_ctrl_c_on_a_terminal_asks_and_can_keep(world):
    """On a terminal (a pty here) the live progress line updates in place, and Ctrl-C asks what to do."""
    import pty
    import select

    master, slave = pty.openpty()
    env = {**world.env, "PCTL_FAKE_CREATE_SECONDS": "600", "TERM": "xterm", "COLUMNS": "200"}
    env.pop("PCTL_ON_INTERRUPT")
    proc = subprocess.Popen([sys.executable, "-m", "tests.journey_pctl", "create", str(world.template), "--no-verify"],
                            cwd=REPO, env=env, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
                            preexec_fn=_foreground)
    os.close(slave)
    seen = ""

    def read_until(text: str, timeout: float) -> bool:
        nonlocal seen
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    seen += os.read(master, 65536).decode(errors="replace")
                except OSError:
                    return text in seen
            if text in seen:
                return True
        return False

    try:
        assert read_until("/3 resources", 240), seen[-2000:]
        assert not (masks := _catches_sigint(proc.pid)), f"the child cannot take a Ctrl-C: {masks}"
        proc.send_signal(signal.SIGINT)
        assert read_until("Roll back", 60), seen[-2000:]
        os.write(master, b"keep\n")
        read_until("pctl: error:", 120)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert "Traceback" not in seen
    assert proc.returncode == 130, seen[-2000:]
    assert "everything created so far is kept" in seen
    assert "journey" in leftovers().get("stacks", [])
    assert pctl(world, "delete", "journey", "--yes").returncode == 0
    assert states(world) == [] and leftovers() == {}
