"""pcluster install/check/version-match. Nothing big is downloaded: the install test creates a real
(tiny, pip-less) venv and injects the pip step; the version checks use the real installed package."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import pytest

from pctl import pcluster_manager as pm


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_installed_version_is_the_real_package() -> None:
    from pcluster.utils import get_installed_version

    assert pm.installed_version() == metadata.version("aws-parallelcluster") == get_installed_version()
    assert pm.pinned_version() == metadata.version("aws-parallelcluster")


def test_check_version_match() -> None:
    current = pm.installed_version()
    assert current
    assert pm.check_version_match(current, "cluster lab") is None
    assert pm.check_version_match(None, "cluster lab") is None  # nothing recorded: nothing to compare
    warning = pm.check_version_match("3.9.0", "AMI ami-0123")
    assert warning and "AMI ami-0123 was made with pcluster 3.9.0" in warning and current in warning
    assert "pctl pcluster install --version 3.9.0" in warning
    assert pm.check_version_match("3.16.1", "x", installed="3.16.1.0") is None  # same version, other spelling


def test_not_installed_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pm, "installed_version", lambda: None)
    warning = pm.check_version_match("3.16.1", "cluster a")
    assert warning and "pcluster is not installed" in warning


def test_plan_venv_commands(home: Path) -> None:
    plan = pm.plan_install("3.15.0", use_pipx=False, python="/usr/bin/python3")
    target = home / "pcluster" / "venv"
    assert plan.method == "venv" and plan.target == target
    assert plan.commands == [
        ["/usr/bin/python3", "-m", "venv", str(target)],
        [str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
         "aws-parallelcluster==3.15.0"],
    ]
    default = pm.plan_install(use_pipx=False)
    assert default.spec == f"aws-parallelcluster=={metadata.version('aws-parallelcluster')}"
    upgrade = pm.plan_install(upgrade=True, use_pipx=False)
    assert upgrade.spec == "aws-parallelcluster" and "--upgrade" in upgrade.commands[1]
    with pytest.raises(pm.PctlError, match="not a version number"):
        pm.plan_install("latest; rm -rf /", use_pipx=False)


def test_plan_pipx_commands(home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake_pipx = bindir / "pipx"  # only looked up on PATH, never run: this test checks command construction
    fake_pipx.write_text("#!/bin/sh\nexit 99\n")
    fake_pipx.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    plan = pm.plan_install("3.16.1")
    assert plan.method == "pipx"
    assert plan.commands == [[str(fake_pipx), "install", "--force", "aws-parallelcluster==3.16.1"]]
    assert plan.env == {"PIPX_HOME": str(home / "pipx"), "PIPX_BIN_DIR": str(home / "bin")}
    assert pm.plan_install("3.16.1", use_pipx=False).method == "venv"
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(pm.PctlError, match="pipx is not installed"):
        pm.plan_install(use_pipx=True)


def test_dry_run_changes_nothing(home: Path) -> None:
    result = pm.install("3.16.1", dry_run=True, use_pipx=False)
    assert not result.ran and not home.exists()


def test_install_creates_a_real_venv_and_runs_the_pip_step_in_it(home: Path, tmp_path: Path) -> None:
    record = tmp_path / "pip-args.json"
    # The injected pip step: the venv's own python records its prefix and arguments, and writes the
    # dist-info that pip would, so managed_version() reads it back like a real install.
    script = (
        "import json, sys, pathlib, sysconfig;"
        f"pathlib.Path({str(record)!r}).write_text(json.dumps({{'prefix': sys.prefix, 'args': sys.argv[1:]}}));"
        "d = pathlib.Path(sysconfig.get_paths()['purelib']) / 'aws_parallelcluster-3.15.2.dist-info';"
        "d.mkdir(parents=True);"
        "(d / 'METADATA').write_text('Metadata-Version: 2.1\\nName: aws-parallelcluster\\nVersion: 3.15.2\\n')"
    )
    result = pm.install("3.15.2", use_pipx=False, pip_command=["{python}", "-c", script])
    assert result.ran
    venv_dir = home / "pcluster" / "venv"
    assert (venv_dir / "pyvenv.cfg").exists()
    seen = json.loads(record.read_text())
    assert Path(seen["prefix"]) == venv_dir  # the step ran inside the new venv
    assert seen["args"] == ["aws-parallelcluster==3.15.2"]
    assert result.version == pm.managed_version() == "3.15.2"


def test_failed_pip_step_is_a_clear_error(home: Path) -> None:
    with pytest.raises(pm.PctlError, match=r"installing aws-parallelcluster==3.16.1 failed \(exit 3\)"):
        pm.install("3.16.1", use_pipx=False, pip_command=[sys.executable, "-c", "raise SystemExit(3)"])


def test_node_status_found_and_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import shutil

    if shutil.which("node"):
        item = pm.node_status()
        assert item.ok and item.detail.startswith("v")
    monkeypatch.setenv("PATH", str(tmp_path))
    missing = pm.node_status()
    assert not missing.ok and missing.detail == "not on PATH" and "Node.js" in (missing.hint or "")


def test_credentials_resolve_under_moto() -> None:
    from moto import mock_aws

    with mock_aws():
        item = pm.credentials_status()
    assert item.ok and "123456789012" in item.detail


def test_missing_credentials_are_reported_not_raised(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    item = pm.credentials_status()
    assert not item.ok and "NoCredentialsError" in item.detail and item.hint


def test_cli_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    from moto import mock_aws

    from pctl.cli import main

    with mock_aws():
        try:
            main(["pcluster", "check", "--json"])
        except SystemExit as exc:  # exit 1 only when something is missing (e.g. no node here)
            assert exc.code == 1
    items = {i["name"]: i for i in json.loads(capsys.readouterr().out)["checks"]}
    assert items["pcluster"]["detail"].startswith(metadata.version("aws-parallelcluster"))
    assert items["aws credentials"]["ok"] is True
