"""The template model and the offline validators: every rule, its level, its field path and line."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pctl.model.constants import OS_ARCHITECTURES, USER_ID_MAX, USER_ID_MIN
from pctl.validation import Level, validate_text
from tests.conftest import REPO

GOOD = textwrap.dedent(
    """\
    cluster:
      name: lab
      region: eu-west-1
    compute:
      head_node: t3.medium
      queues:
        - name: cpu
          instance_types: [c6i.2xlarge]
          max_count: 4
    software:
      spack_packages: [gromacs@2024.1 +mpi ^openmpi@4.1.6, python@3.11]
    users:
      - {name: alice, uid: 2001, gid: 2001}
    data:
      s3_mounts:
        - {bucket: lab-data, mount_point: /data/lab, read_only: true}
    """
)


def issues_of(text: str):
    report, _ = validate_text(text, "t.yaml")
    return report


def edit(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new)


def only(report, code: str):
    found = [i for i in report.issues if i.code == code]
    assert found, f"expected a {code} issue, got {[(i.code, i.message) for i in report.issues]}"
    return found


def test_good_template_is_valid_and_defaults_apply():
    report, loaded = validate_text(GOOD, "t.yaml")
    assert report.ok(strict=True), report.render()
    t = loaded.template
    assert t.cluster.platform == "parallelcluster" and t.cluster.os == "alinux2023"
    assert t.compute.queues[0].capacity_type == "ondemand" and t.compute.queues[0].min_count == 0
    assert t.software.install == "shared" and t.software.spack_version
    # The default shared volume holds the software.
    assert [s.mount_point for s in t.shared_storage] == ["/shared"]
    assert t.spack_root == "/shared/spack"


def test_seed_format_keys_load_unchanged():
    seed = GOOD + textwrap.dedent(
        """\
        shared_storage:
          - {name: apps, mount_point: /apps, type: efs}
        """
    ).replace("  - {name", "  - {name")
    report, loaded = validate_text(seed, "t.yaml")
    assert report.ok(), report.render()
    assert loaded.template.spack_root == "/apps/spack"


def test_unknown_field_names_line_and_suggests():
    report = issues_of(edit("  queues:", "  queus: []\n  queues:"))
    (issue,) = [i for i in report.errors if i.code == "extra_forbidden"]
    assert issue.field == "compute.queus"
    assert (issue.line, issue.column) == (6, 3)
    assert issue.hint == "did you mean `queues`?"


def test_missing_required_field_is_located_at_its_parent():
    report = issues_of(GOOD.replace("  region: eu-west-1\n", ""))
    (issue,) = report.errors
    assert issue.field == "cluster.region" and issue.code == "missing"
    assert issue.line == 1  # the `cluster:` mapping
    assert "region" in issue.hint


def test_enum_typo_gets_a_suggestion():
    report = issues_of(edit("max_count: 4", "max_count: 4\n      capacity_type: spto"))
    (issue,) = report.errors
    assert issue.field == "compute.queues[0].capacity_type"
    assert "did you mean `spot`" in issue.hint


@pytest.mark.parametrize(
    ("old", "new", "code", "field"),
    [
        ("name: lab", "name: 9lab", "ClusterName", "cluster.name"),
        ("name: lab", "name: " + "a" * 61, "ClusterName", "cluster.name"),
        ("region: eu-west-1", "region: eu-wset-1", "Region", "cluster.region"),
        ("- name: cpu", "- name: CPU_q", "QueueName", "compute.queues[0].name"),
        ("- name: cpu", "- name: " + "q" * 26, "QueueName", "compute.queues[0].name"),
        ("max_count: 4", "max_count: 4\n      min_count: 5", "QueueCount", "compute.queues[0].min_count"),
        ("head_node: t3.medium", "head_node: bigbox", "InstanceType", "compute.head_node"),
        ("[c6i.2xlarge]", "[c6i.2xlarge, c7g.2xlarge]", "Architecture", "compute.queues[0].instance_types[1]"),
        ("{name: alice,", "{name: Alice,", "UserName", "users[0].name"),
        ("{name: alice,", "{name: root,", "UserName", "users[0].name"),
        ("uid: 2001", "uid: 999", "UserId", "users[0].uid"),
        ("gid: 2001", f"gid: {USER_ID_MAX + 1}", "UserId", "users[0].gid"),
        ("bucket: lab-data", "bucket: Lab_Data", "S3Bucket", "data.s3_mounts[0].bucket"),
        ("bucket: lab-data", "bucket: s3://lab-data", "S3Bucket", "data.s3_mounts[0].bucket"),
        ("mount_point: /data/lab", "mount_point: data/lab", "MountPoint", "data.s3_mounts[0].mount_point"),
        ("mount_point: /data/lab", "mount_point: /etc/lab", "MountPoint", "data.s3_mounts[0].mount_point"),
        ("mount_point: /data/lab", "mount_point: /shared/spack/lab", "MountPoint", "data.s3_mounts[0].mount_point"),
        ("mount_point: /data/lab", "mount_point: /data/../etc", "MountPoint", "data.s3_mounts[0].mount_point"),
        ("python@3.11", "'python; curl x | sh'", "SpackSpec", "software.spack_packages[1]"),
        ("python@3.11", "'python$(id)'", "SpackSpec", "software.spack_packages[1]"),
        ("python@3.11", "Python", "SpackSpec", "software.spack_packages[1]"),
    ],
)
def test_rule_reports_field_line_and_hint(old, new, code, field):
    report = issues_of(edit(old, new))
    assert not report.ok()
    issue = only(report, code)[0]
    assert issue.level is Level.ERROR
    assert issue.field == field
    assert issue.line and issue.line > 0
    assert issue.hint


def test_duplicate_uids_and_names():
    text = edit("gid: 2001}\n", "gid: 2001}\n  - {name: bob, uid: 2001, gid: 2002}\n  - {name: bob, uid: 2003, gid: 2003}\n")
    report = issues_of(text)
    assert {i.field for i in only(report, "UserId")} == {"users[0].uid", "users[1].uid"}
    assert {i.field for i in only(report, "UserName")} == {"users[1].name", "users[2].name"}


def test_uid_range_is_the_documented_constant():
    assert (USER_ID_MIN, USER_ID_MAX) == (1001, 60000)
    assert issues_of(edit("uid: 2001", f"uid: {USER_ID_MIN}")).ok()
    assert not issues_of(edit("uid: 2001", f"uid: {USER_ID_MIN - 1}")).ok()


def test_region_list_comes_from_botocore_data():
    import botocore.session

    from pctl.validation.rules import known_regions

    assert set(botocore.session.get_session().get_available_regions("ec2")) <= known_regions()


def test_os_table_matches_parallelcluster():
    from pcluster.constants import SUPPORTED_OSES

    assert set(OS_ARCHITECTURES) <= set(SUPPORTED_OSES)


def test_warnings_fail_only_in_strict_mode():
    text = edit("[c6i.2xlarge]", "[c6i.2xlarge]\n      capacity_type: spot\n      min_count: 1")
    report = issues_of(text)
    assert report.ok() and not report.ok(strict=True)
    assert only(report, "SpotMinCount")[0].level is Level.WARNING


def test_ssh_open_to_world_is_a_warning_and_bad_cidr_an_error():
    report = issues_of(GOOD + "networking: {ssh_allowed_cidr: 0.0.0.0/0}\n")
    assert report.ok() and only(report, "SshExposure")[0].level is Level.WARNING
    report = issues_of(GOOD + "networking: {ssh_allowed_cidr: 10.0.0.1/8}\n")
    assert not report.ok()


def test_mixed_vcpu_queue_warns_how_max_count_is_split():
    report = issues_of(edit("[c6i.2xlarge]", "[c6i.2xlarge, c6i.4xlarge]"))
    (w,) = only(report, "QueueSplit")
    assert w.level is Level.WARNING and "split" in w.message


def test_on_demand_cannot_use_spot_allocation_strategy():
    report = issues_of(edit("max_count: 4", "max_count: 4\n      allocation_strategy: capacity-optimized"))
    assert only(report, "AllocationStrategy")[0].field == "compute.queues[0].allocation_strategy"


@pytest.mark.parametrize(
    "text",
    ["", "   \n", "- a\n- b\n", "cluster: [\n", "cluster:\n  name: a\n  name: b\n", "just a string", "\t bad"],
)
def test_garbage_gives_clean_errors(text):
    report = issues_of(text)
    assert not report.ok()
    assert all(i.message for i in report.issues)


def test_yaml_syntax_error_is_located():
    report = issues_of("cluster:\n  name: [unclosed\ncompute: {}\n")
    (issue,) = report.errors
    assert issue.code == "yaml" and issue.line is not None


def test_duplicate_key_is_an_error_not_silently_last_wins():
    report = issues_of(GOOD.replace("  region: eu-west-1\n", "  region: eu-west-1\n  region: us-east-1\n"))
    (issue,) = report.errors
    assert "duplicate key 'region'" in issue.message and issue.line == 4


def test_json_schema_is_generated_from_the_model():
    from pctl.model.template import json_schema

    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert {"cluster", "compute", "software", "users", "data", "shared_storage"} <= set(schema["properties"])


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pctl", *args], capture_output=True, text=True, cwd=REPO, timeout=60)


def test_cli_validate_exit_codes_and_json(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    assert run_cli("validate", str(good)).returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit("max_count: 4", "max_count: 4\n      min_count: 9"))
    proc = run_cli("validate", str(bad), "--json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["valid"] is False
    (issue,) = data["issues"]
    assert issue["field"] == "compute.queues[0].min_count" and issue["line"] == 10 and issue["hint"]
    assert "Traceback" not in proc.stderr


def test_cli_strict_and_missing_file(tmp_path):
    warn = tmp_path / "warn.yaml"
    warn.write_text(GOOD + "networking: {ssh_allowed_cidr: 0.0.0.0/0}\n")
    assert run_cli("validate", str(warn)).returncode == 0
    assert run_cli("validate", str(warn), "--strict").returncode == 1
    proc = run_cli("validate", str(tmp_path / "nope.yaml"))
    assert proc.returncode == 1 and "cannot read template" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


def test_validate_imports_neither_prefect_nor_boto3(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    code = (
        "import sys\nfrom pctl.cli import main\n"
        f"sys.argv=['pctl','validate',{str(good)!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in ('prefect','boto3','botocore','pcluster') if m in sys.modules))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == "[]"
