"""Issue 14's field-level classes: no coercion, bounded numbers, ASCII-only versions, private VPC ranges,
SSH exposure, unencrypted EFS said plainly. Every refusal is located and exits 1 through `pctl validate`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pctl.validation import Level, validate_text
from pctl.validation.network import ssh_exposure_issue
from tests.conftest import REPO

GOOD = textwrap.dedent("""\
    cluster: {name: lab, region: us-east-1}
    compute:
      head_node: t3.medium
      queues:
        - name: cpu
          instance_types: [c6i.2xlarge]
          max_count: 4
    users:
      - {name: alice, uid: 2001, gid: 2001}
    """)


def report_of(text: str):
    report, _ = validate_text(text, "t.yaml")
    return report


def located_error(text: str, field: str):
    report = report_of(text)
    found = [i for i in report.errors if i.field == field]
    assert found, report.render()
    assert all(i.line for i in report.errors) and found[0].hint, report.render()
    return found[0]


@pytest.mark.parametrize("value", ["1e30", "1.0e+30", "10001", "0", "4.0", "'4'", "true"])
def test_max_count_must_be_a_whole_number_in_range(value):
    located_error(GOOD.replace("max_count: 4", f"max_count: {value}"), "compute.queues[0].max_count")


@pytest.mark.parametrize(("old", "new", "field"), [
    ("uid: 2001", 'uid: "2001"', "users[0].uid"),
    ("gid: 2001", "gid: 2001.0", "users[0].gid"),
    ("max_count: 4", "max_count: 4\n      efa: 'yes'", "compute.queues[0].efa"),
    ("max_count: 4", "max_count: 4\n      min_count: '0'", "compute.queues[0].min_count"),
])
def test_values_are_not_coerced(old, new, field):
    issue = located_error(GOOD.replace(old, new), field)
    assert issue.code.endswith("_type") or issue.code.endswith("_parsing"), issue


@pytest.mark.parametrize("version", ["٠.٢٣.١", "0.２3.1", "0.23.1\n", "0.23", "v0.23.1"])
def test_spack_version_is_ascii_digits_only(version):
    text = GOOD + f"software: {{spack_version: {json.dumps(version)}}}\n"
    report = report_of(text)
    assert not report.ok() and any(i.field == "software.spack_version" and i.line for i in report.errors), report.render()


def test_unencrypted_created_efs_warns_and_says_transit_plainly():
    report = report_of(GOOD + "data: {efs: [{mount_point: /efs, encrypted: false, encryption_in_transit: false}]}\n")
    assert report.ok() and not report.ok(strict=True)
    messages = [i.message for i in report.warnings]
    assert any("unencrypted at rest" in m and "without encryption in transit" in m for m in messages), messages
    report = report_of(GOOD + "data: {efs: [{mount_point: /efs, encrypted: false}]}\n")
    [w] = report.warnings
    assert "unencrypted at rest" in w.message and "transit" not in w.message  # TLS stays on by default


@pytest.mark.parametrize(("cidr", "words"), [
    ("0.0.0.0/0", "/0"), ("8.8.0.0/16", "not a private"), ("10.0.0.0/8", "/8"), ("10.0.0.0/29", "/29"),
    ("fd00::/48", "IPv4"), ("10.42.0.1/16", "host bits"),
])
def test_vpc_cidr_is_a_private_16_to_28(cidr, words):
    issue = located_error(GOOD + f"networking: {{vpc_cidr: '{cidr}'}}\n", "networking.vpc_cidr")
    assert words in issue.message


@pytest.mark.parametrize("cidr", ["10.42.0.0/16", "172.31.0.0/20", "192.168.1.0/28"])
def test_private_vpc_cidrs_pass(cidr):
    assert report_of(GOOD + f"networking: {{vpc_cidr: {cidr}}}\n").ok(strict=True)


def test_ssh_to_the_internet_warns_and_fails_strict():
    report = report_of(GOOD + "networking: {ssh_allowed_cidr: 0.0.0.0/0}\n")
    [w] = report.warnings
    assert w.code == "SshExposure" and "whole internet" in w.message and w.line == 10
    assert report.ok() and not report.ok(strict=True)
    assert report_of(GOOD + "networking: {ssh_allowed_cidr: 0.0.0.0/1}\n").warnings  # half of it, too


def test_ssh_range_written_in_the_template_is_the_users_word():
    assert report_of(GOOD + "networking: {ssh_allowed_cidr: 198.51.100.0/24}\n").ok(strict=True)
    assert not report_of(GOOD + "networking: {ssh_allowed_cidr: '::/0'}\n").ok()  # pcluster takes IPv4 only


def test_effective_ssh_range_from_elsewhere_is_checked():
    _, loaded = validate_text(GOOD + "networking: {ssh_allowed_cidr: 198.51.100.0/24}\n", "t.yaml")
    t = loaded.template
    assert ssh_exposure_issue("198.51.100.0/24", t) is None
    issue = ssh_exposure_issue("203.0.113.0/24", t, source="--ssh-cidr")
    assert issue is not None and issue.level is Level.WARNING and "--ssh-cidr" in issue.message
    assert "does not name" in issue.message
    assert ssh_exposure_issue("10.0.0.0/16", t, source="the VPC's CIDR") is None
    assert "whole internet" in ssh_exposure_issue("0.0.0.0/0", t, source="PCTL_SSH_CIDR").message


def run_validate(tmp_path, text: str, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "t.yaml"
    path.write_text(text)
    return subprocess.run([sys.executable, "-m", "pctl", "validate", str(path), "--json", *args],
                          capture_output=True, text=True, cwd=REPO, timeout=60)


@pytest.mark.parametrize(("old", "new", "field"), [
    ("max_count: 4", "max_count: 1e30", "compute.queues[0].max_count"),
    ("uid: 2001", 'uid: "2001"', "users[0].uid"),
    ("name: lab", 'name: "lab\\n"', "cluster.name"),
    ("gid: 2001}", "gid: 2001, groups: [sudo]}", "users[0].groups[0]"),
])
def test_every_refusal_exits_1_with_a_located_message(tmp_path, old, new, field):
    proc = run_validate(tmp_path, GOOD.replace(old, new))
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    issues = json.loads(proc.stdout)["issues"]
    assert any(i["field"] == field and i["line"] and i["hint"] for i in issues), issues


def test_ssh_warning_exits_1_only_under_strict(tmp_path):
    text = GOOD + "networking: {ssh_allowed_cidr: 0.0.0.0/0}\n"
    assert run_validate(tmp_path, text).returncode == 0
    assert run_validate(tmp_path, text, "--strict").returncode == 1


def test_unencrypted_efs_is_said_plainly_in_the_rendered_config(cluster_schema):
    from pctl.render import render

    _, loaded = validate_text(GOOD + "data: {efs: [{mount_point: /efs, encrypted: false, encryption_in_transit: false}]}\n",
                              "t.yaml")
    text = render(loaded.template).config_text
    cfg = cluster_schema(text, "lab")
    efs = next(s for s in cfg["SharedStorage"] if s["MountDir"] == "/efs")
    assert efs["EfsSettings"] == {"Encrypted": False, "EncryptionInTransit": False}
    assert "# WARNING: NOT encrypted at rest" in text and "# WARNING: mounted WITHOUT encryption in transit" in text
