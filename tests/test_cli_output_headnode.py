"""`--json` of the commands that talk to a head node over SSH: `verify --local` and `capture remote`,
against the real loopback head node (scripts/headnode; nothing mocked)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from pctl.cli import main

pytestmark = pytest.mark.headnode


def _run(capsys, argv: list[str]) -> tuple[int, dict, str]:
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    assert out.strip(), f"exit {code}, nothing on stdout; stderr:\n{err}"
    return code, json.loads(out), err  # stdout is exactly one document, whatever the checks found


def test_verify_json_passes_and_fails_with_one_document(headnode, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PCTL_POLL_SECONDS", "0.2")
    args = ["verify", "--local", "--json", "--host", headnode.host, "--port", str(headnode.port),
            "--user", headnode.user, "--key", headnode.key_path, "--fingerprint", headnode.fingerprint]
    code, doc, _ = _run(capsys, [*args, "--template", headnode.template_path])
    assert doc["schema"] == "pctl.verify/v1"
    assert code == 0 and doc["ok"] is True, [c for c in doc["checks"] if not c["ok"]]
    assert doc["checks"] and all(set(c) == {"name", "ok", "detail"} and c["ok"] for c in doc["checks"])

    bad = tmp_path / "bad.yaml"
    data = yaml.safe_load(Path(headnode.template_path).read_text(encoding="utf-8"))
    data["software"]["spack_packages"].append("fftw@3.3.10")
    bad.write_text(yaml.safe_dump(data))
    code, doc, err = _run(capsys, [*args, "--template", str(bad)])
    assert code == 1 and doc["ok"] is False
    assert [c["name"] for c in doc["checks"] if not c["ok"]] == ["module fftw/3.3.10"]
    assert "module fftw/3.3.10" in err and "Traceback" not in err


def test_capture_remote_json(headnode, tmp_path, capsys):
    out = tmp_path / "captured.yaml"
    known_hosts = tmp_path / "kh"
    known_hosts.write_text("")
    code, doc, err = _run(capsys, ["capture", "remote", f"{headnode.user}@{headnode.host}", "-p", str(headnode.port),
                                   "-i", headnode.key_path, "--accept-new-host-key", "--known-hosts",
                                   str(known_hosts), "-o", str(out), "--json"])
    assert doc["schema"] == "pctl.capture-remote/v1", err
    assert doc["output"] == str(out) and doc["template"] == yaml.safe_load(out.read_text())
    assert [q["name"] for q in doc["template"]["compute"]["queues"]] == ["batch", "debug"]
    assert doc["validation"]["valid"] is (code == 0)
