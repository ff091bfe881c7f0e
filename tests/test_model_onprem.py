"""Issue 10, on-prem patterns: shared primary groups with the site's GIDs, mounts inside a shared volume,
/home on EFS or FSx, and software.spack_root anywhere inside a shared volume. Every refusal is located."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from pctl.render import RenderOptions, render
from pctl.validation import Level, validate_text

BASE = textwrap.dedent("""\
    cluster: {name: lab, region: us-east-1}
    compute:
      head_node: t3.medium
      queues: [{name: cpu, instance_types: [c6i.2xlarge], max_count: 4}]
    """)


def check(extra: str):
    report, loaded = validate_text(BASE + textwrap.dedent(extra), "t.yaml")
    return report, loaded.template


def errors(report, code: str | None = None):
    found = [i for i in report.errors if code is None or i.code == code]
    for i in found:
        assert i.line and i.hint, i
    return found


# ---- groups -----------------------------------------------------------------------------------------

LAB = """\
    groups:
      - {name: lab, gid: 4100}
      - {name: imaging, gid: 4200}
    users:
      - {name: ana, uid: 3001, group: lab, groups: [imaging]}
      - {name: ben, uid: 3002, gid: 4100, groups: [imaging]}
      - {name: cy, uid: 3003, gid: 3003}
    """


def test_shared_primary_group_and_site_gids():
    report, t = check(LAB)
    assert report.ok(strict=True), report.render()
    assert [(u.name, u.gid) for u in t.users] == [("ana", 4100), ("ben", 4100), ("cy", 3003)]
    assert [(g.name, g.gid, g.private) for g in t.node_groups()] == [
        ("lab", 4100, False), ("imaging", 4200, False), ("cy", 3003, True)]


def test_supplementary_group_without_gid_is_an_error_with_a_declaration_hint():
    report, _ = check(LAB.replace("groups: [imaging]}\n      - {name: cy", "groups: [imaging]}\n      - {name: cy")
                      .replace("{name: cy, uid: 3003, gid: 3003}", "{name: cy, uid: 3003, gid: 3003, groups: [chem]}"))
    [issue] = errors(report, "SupplementaryGroup")
    assert issue.field == "users[2].groups[0]" and "no GID" in issue.message
    assert "groups: [{name: chem, gid:" in issue.hint


def test_another_users_own_group_is_a_valid_supplementary_group():
    report, _ = check(LAB.replace("{name: cy, uid: 3003, gid: 3003}", "{name: cy, uid: 3003, gid: 3003, groups: [ana]}"))
    # ana's primary group is lab, so there is no group "ana"; cy's own group exists.
    assert [i.field for i in errors(report)] == ["users[2].groups[0]"]
    report, _ = check(LAB.replace("groups: [imaging]}\n      - {name: ben", "groups: [imaging, cy]}\n      - {name: ben"))
    assert report.ok(), report.render()


@pytest.mark.parametrize("os_group", ["sudo", "wheel", "adm", "docker", "root"])
def test_os_group_as_supplementary_group_is_refused(os_group):
    report, _ = check(LAB.replace("groups: [imaging]}\n      - {name: ben", f"groups: [{os_group}]}}\n      - {{name: ben"))
    [issue] = errors(report, "SupplementaryGroup")
    assert "operating-system group" in issue.message and issue.field == "users[0].groups[0]"


def test_declared_os_group_is_refused():
    report, _ = check(LAB.replace("{name: imaging, gid: 4200}", "{name: wheel, gid: 4200}"))
    assert [i.field for i in errors(report, "Group")] == ["groups[1].name"]


@pytest.mark.parametrize(("old", "new", "field"), [
    ("{name: imaging, gid: 4200}", "{name: imaging, gid: 4100}", "groups[1].gid"),  # one GID, two names
    ("{name: imaging, gid: 4200}", "{name: lab, gid: 4200}", "groups[1].name"),  # one name, two GIDs
    ("{name: ana, uid: 3001, group: lab,", "{name: ana, uid: 3001, group: chem,", "users[0].group"),
    ("{name: ana, uid: 3001, group: lab,", "{name: ana, uid: 3001, gid: 4200, group: lab,", "users[0].gid"),
    ("{name: cy, uid: 3003, gid: 3003}", "{name: cy, uid: 3003}", "users[2]"),
    ("{name: imaging, gid: 4200}", "{name: imaging, gid: 999}", "groups[1].gid"),
])
def test_group_inconsistencies_are_located(old, new, field):
    report, _ = check(LAB.replace(old, new))
    assert field in [i.field for i in errors(report)], report.render()


def test_two_users_sharing_an_undeclared_gid_are_told_to_declare_it():
    report, _ = check("""\
        users:
          - {name: ana, uid: 3001, gid: 5000}
          - {name: ben, uid: 3002, gid: 5000}
        """)
    issues = errors(report, "PrimaryGroup")
    assert {i.field for i in issues} == {"users[0].gid", "users[1].gid"}
    assert "groups: [{name: lab, gid: 5000}]" in issues[0].hint


def test_groups_render_once_on_every_node():
    _, t = check(LAB)
    for name in ("scripts/head-node.sh", "scripts/compute-node.sh"):
        script = render(t).files[name]
        assert [line for line in script.splitlines() if line.startswith("ensure_group ")] == [
            "ensure_group lab 4100", "ensure_group imaging 4200", "ensure_group cy 3003"]


# ---- mounts -----------------------------------------------------------------------------------------

def test_s3_mount_inside_a_shared_volume_is_mounted_after_it():
    report, t = check("""\
        shared_storage: [{name: shared, mount_point: /shared, type: efs}]
        data:
          s3_mounts:
            - {bucket: lab-data, mount_point: /shared/data}
            - {bucket: lab-refs, mount_point: /shared/data2/refs}
        """)
    assert report.ok(strict=True), report.render()
    r = render(t)
    cfg = yaml.safe_load(r.config_text)
    assert [s["MountDir"] for s in cfg["SharedStorage"]] == ["/shared"]
    # ParallelCluster mounts its volumes before OnNodeConfigured; the node script then mounts S3 inside them.
    script = r.files["scripts/compute-node.sh"]
    assert "mount_bucket lab-data /shared/data --read-only" in script


@pytest.mark.parametrize(("extra", "field", "words"), [
    ("data: {s3_mounts: [{bucket: a-data, mount_point: /shared/x}, {bucket: b-data, mount_point: /shared/x}]}",
     "data.s3_mounts[1].mount_point", "already used"),
    ("data: {efs: [{mount_point: /shared/efs}]}", "data.efs[0].mount_point", "nested"),
    ("data: {s3_mounts: [{bucket: a-data, mount_point: /shared/spack}]}", "data.s3_mounts[0].mount_point", "software tree"),
    ("data: {s3_mounts: [{bucket: a-data, mount_point: /shared/spack/opt}]}", "data.s3_mounts[0].mount_point", "software tree"),
    ("data: {s3_mounts: [{bucket: a-data, mount_point: /data}], efs: [{mount_point: /data/efs}]}",
     "data.s3_mounts[0].mount_point", "would hide /data/efs"),
    ("data: {s3_mounts: [{bucket: a-data, mount_point: /data}, {bucket: b-data, mount_point: /data/b}]}",
     "data.s3_mounts[1].mount_point", "inside the S3 mount"),
    ("data: {s3_mounts: [{bucket: a-data, mount_point: /home}]}", "data.s3_mounts[0].mount_point", "system path /home"),
    ("data: {s3_mounts: [{bucket: a-data, mount_point: /mnt}]}", "data.s3_mounts[0].mount_point", "reserves"),
])
def test_only_mounts_that_cannot_work_are_refused(extra, field, words):
    report, _ = check(extra)
    found = [i for i in errors(report, "MountPoint") if i.field == field]
    assert found and words in found[0].message, report.render()


@pytest.mark.parametrize("kind", ["efs", "fsx_lustre", "ebs"])
def test_home_on_a_shared_volume(kind, cluster_schema):
    report, t = check(f"""\
        shared_storage:
          - {{name: shared, mount_point: /shared, type: ebs}}
          - {{name: home, mount_point: /home, type: {kind}}}
        """)
    assert report.ok(strict=True), report.render()
    cfg = cluster_schema(render(t).config_text, "lab")
    assert "/home" in [s["MountDir"] for s in cfg["SharedStorage"]]
    assert t.spack_root == "/shared/spack"


def test_home_only_volume_keeps_software_off_home():
    report, t = check("shared_storage: [{name: home, mount_point: /home, type: efs}]\n")
    assert report.ok(), report.render()
    assert t.spack_root == "/home/spack"  # the only volume; a second volume is the better layout


@pytest.mark.parametrize("root", ["/shared/spack", "/shared/apps/spack", "/shared/a/b/c", "/apps/x"])
def test_spack_root_anywhere_inside_a_shared_volume(root):
    report, t = check(f"""\
        shared_storage: [{{name: shared, mount_point: /shared}}, {{name: apps, mount_point: /apps, type: efs}}]
        software: {{spack_root: {root}}}
        """)
    assert report.ok(strict=True), report.render()
    assert t.spack_root == root


@pytest.mark.parametrize(("root", "words"), [("/shared", "not inside"), ("/opt/spack", "not inside"),
                                             ("/shared/../etc", "normalized"), ("shared/spack", "absolute")])
def test_spack_root_outside_a_volume_is_refused(root, words):
    report, _ = check(f"software: {{spack_root: '{root}'}}\n")
    [issue] = errors(report, "SpackRoot")
    assert words in issue.message and issue.field == "software.spack_root"


# ---- tier 2: the on-prem patterns pass ParallelCluster's validators ---------------------------------

def test_onprem_patterns_pass_pcluster_validators(pcluster_world):
    from pctl import pcluster_engine as engine

    report, t = check(textwrap.dedent(LAB) + textwrap.dedent("""\
        shared_storage:
          - {name: shared, mount_point: /shared, type: ebs, size_gb: 200}
          - {name: home, mount_point: /home, type: efs}
        software: {spack_root: /shared/apps/spack, spack_packages: [zlib]}
        data:
          s3_mounts: [{bucket: lab-data, mount_point: /shared/data}]
          fsx_lustre: [{mount_point: /fsx, deployment_type: PERSISTENT_2}]
        """))
    assert report.ok(), report.render()
    s3 = pcluster_world.session.client("s3")
    for bucket in ("lab-data", "pctl-scripts"):
        s3.create_bucket(Bucket=bucket)
    options = RenderOptions(subnet_id=pcluster_world.subnet_id, compute_subnet_id=pcluster_world.private_subnet_id,
                            key_name=pcluster_world.key_name, ssh_allowed_cidr="10.0.0.0/16",
                            scripts_s3_prefix="s3://pctl-scripts/lab/scripts")
    text = render(t, options).config_text
    fsx = next(s for s in yaml.safe_load(text)["SharedStorage"] if s["MountDir"] == "/fsx")["FsxLustreSettings"]
    assert fsx["PerUnitStorageThroughput"] == 125
    failures = engine.validator_failures(text, "lab", "us-east-1")
    assert [f for f in failures if f[0] == "ERROR"] == []
    assert not [i for i in report.issues if i.level is Level.ERROR]
