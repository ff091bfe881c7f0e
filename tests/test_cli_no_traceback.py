"""No traceback reaches a user: every `pctl` command and every `python -m flows.*` module, given bad input,
answers with a short message and a non-zero exit, never "Traceback".

Each case is a real process, as a user would start it. AWS points at a closed port (nothing here may reach
it); the bad inputs are the ones users type: a missing or broken template, an unknown cluster, an unknown
flag, a malformed id. Lifecycle errors ("no cluster named x", an invalid template) must come back before
Prefect starts: no "Prefect" line in the output and under a few seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import click
import pytest

from tests.conftest import REPO

BROKEN = "cluster: {name: x, region: us-east-1\ncompute: [\n"  # not even YAML
INVALID = """\
cluster: {name: bad, region: us-east-1, os: alinux2023}
compute:
  head_node: t3.medium
  queues:
    - {name: compute, instance_types: [c6i.large], max_count: 0}
software: {spack_packages: [zlib]}
users: [{name: alice, uid: 2001, gid: 2001}]
"""


def _leaf_commands() -> list[tuple[list[str], list[click.Argument]]]:
    from pctl.cli import cli

    ctx = click.Context(cli)
    out = []

    def walk(cmd: click.Command, path: list[str]) -> None:
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                sub = cmd.get_command(ctx, name)
                assert sub is not None, f"`pctl {' '.join([*path, name])}` does not load"
                walk(sub, [*path, name])
        else:
            out.append((path, [p for p in cmd.params if isinstance(p, click.Argument)]))

    walk(cli, [])
    return out


def _lifecycle(argv: list[str]) -> bool:
    """A lifecycle command or flow module: its input errors must come back before Prefect starts."""
    if argv[1] == "pctl":
        return argv[2] in ("create", "status", "delete", "verify", "list")
    return argv[1] in ("flows.create", "flows.delete", "flows.status", "flows.verify")


def _run(argv: list[str], env: dict[str, str], cwd) -> tuple[list[str], subprocess.CompletedProcess]:
    done = subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)
    return argv, done


@pytest.fixture
def env(tmp_path):
    e = {**os.environ, "PCTL_HOME": str(tmp_path / "home"), "AWS_ENDPOINT_URL": "https://127.0.0.1:9",
         "PCTL_ON_INTERRUPT": "rollback", "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
    e.pop("PCTL_DEBUG", None)
    e.pop("PREFECT_API_URL", None)
    return e


def test_every_command_and_flow_module_with_bad_input(tmp_path, env):
    broken, invalid = tmp_path / "broken.yaml", tmp_path / "invalid.yaml"
    broken.write_text(BROKEN)
    invalid.write_text(INVALID)
    cases: list[list[str]] = []
    for path, args in _leaf_commands():
        cases.append(["-m", "pctl", *path, "--no-such-flag"])
        names = [a.name for a in args]
        if names[:1] == ["template"]:
            cases += [["-m", "pctl", *path, str(broken)], ["-m", "pctl", *path, str(invalid)],
                      ["-m", "pctl", *path, str(tmp_path / "missing.yaml")]]
    # The lifecycle commands (and their flow modules) with the inputs users get wrong.
    cases += [
        ["-m", "pctl", "create", str(invalid), "--dry-run"],
        ["-m", "pctl", "create", str(invalid), "--name", "9-not-a-name"],
        ["-m", "pctl", "create", str(broken), "--ssh-cidr", "0.0.0.0/33"],
        ["-m", "pctl", "status", "nosuch"], ["-m", "pctl", "status", "not_a/name"],
        ["-m", "pctl", "delete", "nosuch", "--yes"], ["-m", "pctl", "delete", "nosuch", "--forget"],
        ["-m", "pctl", "verify", "nosuch"], ["-m", "pctl", "verify"],
        ["-m", "flows.create", str(invalid)], ["-m", "flows.create", str(broken), "--dry-run"],
        ["-m", "flows.create", "--no-such-flag"], ["-m", "flows.delete", "nosuch", "--yes"],
        ["-m", "flows.status", "nosuch"], ["-m", "flows.verify", "nosuch"],
        ["-m", "flows.ami", "build", str(invalid)], ["-m", "flows.ami", "--no-such-flag"],
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda argv: _run(argv, env, tmp_path), cases))
    problems = []
    for argv, done in results:
        out = done.stdout + done.stderr
        shown = f"python {' '.join(argv)} -> exit {done.returncode}:\n{out[-1500:]}"
        if "Traceback" in out:
            problems.append("TRACEBACK: " + shown)
        elif done.returncode == 0 or not out.strip():
            problems.append("NO ERROR: " + shown)
        elif done.returncode not in (1, 2):
            problems.append("EXIT CODE: " + shown)
        elif _lifecycle(argv) and "Prefect" in out:
            problems.append("PREFECT STARTED: " + shown)
    assert not problems, "\n\n".join(problems)


def test_no_such_cluster_is_one_line_and_fast(env, tmp_path):
    import time

    for argv in (["-m", "pctl", "status", "ghost"], ["-m", "pctl", "delete", "ghost"],
                 ["-m", "pctl", "verify", "ghost"], ["-m", "flows.delete", "ghost"]):
        start = time.monotonic()
        _, done = _run(argv, env, tmp_path)
        assert done.returncode == 1
        assert done.stderr.startswith("pctl: error: no cluster named 'ghost'"), done.stderr
        assert len(done.stderr.strip().splitlines()) == 2  # the message and its hint
        if argv[1] == "pctl":  # no Prefect import at all (a flow module imports it, but starts no run)
            assert time.monotonic() - start < 20  # ~0.3 s idle; generous for a loaded CI machine


def test_flows_create_has_its_own_usage_and_no_telemetry_notice(env, tmp_path):
    _, done = _run(["-m", "flows.create", "--help"], env, tmp_path)
    assert done.returncode == 0
    assert done.stdout.startswith("Usage: python -m flows.create [OPTIONS] TEMPLATE")
    _, bad = _run(["-m", "flows.create", str(tmp_path / "missing.yaml")], env, tmp_path)
    assert "telemetry" not in (bad.stdout + bad.stderr).lower()
    assert bad.stderr.startswith("pctl: error: cannot read template")


def test_an_internal_error_is_one_line_with_the_traceback_under_pctl_debug(env, tmp_path):
    code = ("import pctl.cli.commands.list as m\n"
            "def boom(*a, **k):\n    raise RuntimeError('a bug')\n"
            "m.cli.callback = boom\n"
            "from pctl.cli import main\nmain(['list'])\n")
    _, done = _run(["-c", code], env, tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "pctl: internal error: RuntimeError: a bug (re-run with PCTL_DEBUG=1 for the traceback, and report it)"]
    _, debug = _run(["-c", code], {**env, "PCTL_DEBUG": "1"}, tmp_path)
    assert "Traceback" in debug.stderr and "a bug" in debug.stderr
