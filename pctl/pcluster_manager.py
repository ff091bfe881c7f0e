"""Installing and checking AWS ParallelCluster, and warning when versions drift apart.

pcluster ties AMIs and clusters to its own version: a custom AMI must be built by the version that
creates the cluster, and a cluster is best updated/deleted by the version that created it. So pctl
records the version that built each AMI and created each cluster, and `check_version_match` turns a
mismatch into a warning with the fix.

Install: a virtualenv under $PCTL_HOME/pcluster/venv (or pipx, when present, with its home under
$PCTL_HOME). The pip step streams its output (it takes about a minute) and has a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from pctl.config import pctl_home
from pctl.errors import PctlError

PACKAGE = "aws-parallelcluster"
PINNED_VERSION = "3.16.1"  # the version pctl is tested with (pyproject pins it)
INSTALL_TIMEOUT = 900.0


# ---- versions --------------------------------------------------------------------------------------

def installed_version() -> str | None:
    """The pcluster version pctl drives: the engine's answer, else the package in this environment."""
    try:
        from pctl.pcluster_engine import installed_version as engine_version
    except ImportError:
        engine_version = None
    if engine_version is not None:
        try:
            found = engine_version()
        except Exception:  # the engine may not be importable in a minimal install; fall back
            found = None
        if found:
            return str(found)
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def pinned_version() -> str:
    """The version to install by default: what this environment carries, else the tested pin."""
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return PINNED_VERSION


def managed_venv() -> Path:
    return pctl_home() / "pcluster" / "venv"


def _site_packages(venv_dir: Path) -> list[Path]:
    return sorted(venv_dir.glob("lib/python*/site-packages")) + sorted(venv_dir.glob("Lib/site-packages"))


def managed_version(venv_dir: Path | None = None) -> str | None:
    """The aws-parallelcluster version in pctl's managed venv (read from its metadata, no subprocess)."""
    paths = [str(p) for p in _site_packages(venv_dir or managed_venv())]
    if not paths:
        return None
    for dist in metadata.distributions(path=paths):
        if (dist.metadata["Name"] or "").lower() == PACKAGE:
            return dist.version
    return None


def pcluster_executable() -> Path | None:
    """The managed `pcluster`, else pipx's under $PCTL_HOME/bin, else one on PATH."""
    for candidate in (managed_venv() / "bin" / "pcluster", pctl_home() / "bin" / "pcluster"):
        if candidate.exists():
            return candidate
    found = shutil.which("pcluster")
    return Path(found) if found else None


def _same(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def check_version_match(recorded: str | None, what: str, *, installed: str | None = None) -> str | None:
    """A warning when `what` (e.g. "AMI ami-0abc" or "cluster genomics") was made by another pcluster.

    `recorded` None (nothing recorded, e.g. an older state file) -> None: nothing to compare.
    `installed` defaults to installed_version().
    """
    if not recorded:
        return None
    current = installed if installed is not None else installed_version()
    if current is None:
        return (f"{what} was made with pcluster {recorded}, but pcluster is not installed: "
                f"run `pctl pcluster install --version {recorded}`")
    if _same(recorded, current):
        return None
    return (f"{what} was made with pcluster {recorded}, but pcluster {current} is installed: "
            f"pcluster refuses custom AMIs from another version and may not update or delete clusters it did "
            f"not create; rebuild with {current} or run `pctl pcluster install --version {recorded}`")


# ---- install / upgrade -----------------------------------------------------------------------------

@dataclass
class InstallPlan:
    method: str  # "venv" | "pipx"
    target: Path
    spec: str
    commands: list[list[str]]
    env: dict[str, str] = field(default_factory=dict)

    def render(self) -> str:
        env = " ".join(f"{k}={v}" for k, v in self.env.items())
        return "\n".join(" ".join([env] * bool(env) + c) for c in self.commands)


def _spec(version: str | None, upgrade: bool) -> str:
    if version:
        try:
            Version(version)
        except InvalidVersion as exc:
            raise PctlError(f"{version!r} is not a version number", "e.g. --version 3.16.1") from exc
        return f"{PACKAGE}=={version}"
    return PACKAGE if upgrade else f"{PACKAGE}=={pinned_version()}"


def plan_install(version: str | None = None, *, upgrade: bool = False, use_pipx: bool | None = None,
                 python: str = sys.executable) -> InstallPlan:
    """The commands an install (or upgrade) runs. No version: the pinned one (upgrade: the newest)."""
    spec = _spec(version, upgrade)
    pipx = shutil.which("pipx") if use_pipx is not False else None
    if use_pipx and pipx is None:
        raise PctlError("pipx is not installed", "drop --pipx to install into a venv under $PCTL_HOME")
    if pipx:
        home = pctl_home()
        env = {"PIPX_HOME": str(home / "pipx"), "PIPX_BIN_DIR": str(home / "bin")}
        return InstallPlan("pipx", home / "pipx", spec, [[pipx, "install", "--force", spec]], env)
    target = managed_venv()
    vpython = str(target / "bin" / "python")
    pip = [vpython, "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
    if upgrade:
        pip.append("--upgrade")
    return InstallPlan("venv", target, spec, [[python, "-m", "venv", str(target)], [*pip, spec]])


@dataclass
class InstallResult:
    plan: InstallPlan
    ran: bool
    version: str | None = None
    previous: str | None = None


Runner = Callable[..., Any]


def install(version: str | None = None, *, upgrade: bool = False, dry_run: bool = False,
            use_pipx: bool | None = None, pip_command: list[str] | None = None,
            timeout: float = INSTALL_TIMEOUT, runner: Runner = subprocess.run) -> InstallResult:
    """Install (or upgrade) pcluster. dry_run: only the plan.

    pip_command replaces the pip step (the spec is appended; "{python}" becomes the venv's python):
    tests use it to run a real venv without downloading ~180 MB.
    """
    plan = plan_install(version, upgrade=upgrade, use_pipx=use_pipx)
    previous = managed_version() if plan.method == "venv" else None
    if dry_run:
        return InstallResult(plan, ran=False, previous=previous)
    env = {**os.environ, **plan.env, "PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    if plan.method == "venv":
        vpython = plan.target / "bin" / "python"
        if not vpython.exists():
            # In-process: the same as `python -m venv`, without pip when a test injects the pip step.
            venv.EnvBuilder(with_pip=pip_command is None, symlinks=os.name != "nt").create(plan.target)
        step = plan.commands[1]
        if pip_command is not None:
            step = [c.replace("{python}", str(vpython)) for c in pip_command] + [plan.spec]
        steps = [step]
    else:
        steps = plan.commands
    for cmd in steps:
        try:
            done = runner(cmd, env=env, timeout=timeout, check=False, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise PctlError(f"installing {plan.spec} timed out after {timeout:.0f} s",
                            "check the network (or a pip index setting) and retry") from exc
        except FileNotFoundError as exc:
            raise PctlError(f"cannot run {cmd[0]}: {exc.strerror}") from exc
        if done.returncode != 0:
            raise PctlError(f"installing {plan.spec} failed (exit {done.returncode}); see the output above",
                            "fix what pip reported and re-run; the previous install is untouched by a failed pip")
    version_now = managed_version(plan.target) if plan.method == "venv" else None
    return InstallResult(plan, ran=True, version=version_now, previous=previous)


# ---- check -----------------------------------------------------------------------------------------

@dataclass
class CheckItem:
    name: str
    ok: bool
    detail: str
    hint: str | None = None


def node_status(timeout: float = 5.0) -> CheckItem:
    node = shutil.which("node")
    if node is None:
        return CheckItem("node", False, "not on PATH",
                         "pcluster create-cluster and build-image need Node.js: install Node 18+ (e.g. `apt-get "
                         "install nodejs` or from nodejs.org) and put `node` on PATH")
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=timeout, check=False)
        version = out.stdout.strip() or out.stderr.strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return CheckItem("node", False, f"{node} does not run: {exc}", "reinstall Node.js")
    return CheckItem("node", True, f"{version} ({node})")


def credentials_status(session: Any = None, timeout: float = 5.0) -> CheckItem:
    """STS GetCallerIdentity with a short timeout; every failure is reported, none raised."""
    try:
        import boto3
        from botocore.config import Config

        session = session or boto3.Session()
        cfg = Config(connect_timeout=timeout, read_timeout=timeout, retries={"max_attempts": 1})
        ident = session.client("sts", config=cfg, region_name=session.region_name or "us-east-1").get_caller_identity()
    except Exception as exc:  # NoCredentialsError, ClientError, EndpointConnectionError, ...
        return CheckItem("aws credentials", False, f"{type(exc).__name__}: {exc}",
                         "configure credentials (`aws configure`, `aws sso login`, or AWS_PROFILE)")
    return CheckItem("aws credentials", True, f"account {ident['Account']} as {ident['Arn']}")


def check(session: Any = None) -> list[CheckItem]:
    items: list[CheckItem] = []
    current = installed_version()
    if current is None:
        items.append(CheckItem("pcluster", False, "aws-parallelcluster is not installed",
                               "run `pctl pcluster install`"))
    else:
        ok = _same(current, PINNED_VERSION)
        items.append(CheckItem(
            "pcluster", ok, f"{current} (pctl is tested with {PINNED_VERSION})",
            None if ok else f"`pctl pcluster install --version {PINNED_VERSION}` matches what pctl is tested with"))
    managed = managed_version()
    exe = pcluster_executable()
    items.append(CheckItem("pcluster cli", exe is not None,
                           (str(exe) if exe else "not found") + (f" (managed venv: {managed})" if managed else ""),
                           None if exe else "run `pctl pcluster install` for a `pcluster` command"))
    items.append(node_status())
    items.append(credentials_status(session))
    return items
