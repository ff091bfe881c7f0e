"""Issue 10: every EBS/EFS/FSx option ParallelCluster requires gets a field or a valid default, and the rules
between options are pctl's own validators - so what pctl accepts, ParallelCluster's create-time validators
accept (tier 2, under moto: tests/fixtures/aws.py::pcluster_world)."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from pctl import pcluster_engine as engine
from pctl.render import RenderOptions, render
from pctl.validation import validate_text

BASE = textwrap.dedent("""\
    cluster: {name: store, region: us-east-1}
    compute:
      head_node: t3.medium
      queues: [{name: cpu, instance_types: [c6i.2xlarge], max_count: 4}]
    """)

# Each config holds at most one created EFS and one created FSx (ParallelCluster's limit), so five configs
# cover every option family; each runs pcluster's validators once (~1-3 s).
ACCEPTED = {
    "io2-efs-provisioned-fsx-persistent2-default": """\
        shared_storage: [{name: shared, type: ebs, ebs_settings: {volume_type: io2, size: 100, iops: 20000, deletion_policy: Retain}}]
        data:
          efs: [{mount_point: /efs, throughput_mode: provisioned, provisioned_throughput: 64, performance_mode: maxIO,
                 iam_authorization: true, deletion_policy: Retain}]
          fsx_lustre: [{mount_point: /fsx, deployment_type: PERSISTENT_2, storage_capacity_gb: 2400}]
        """,
    "st1-fsx-hdd-backups": """\
        shared_storage: [{name: shared, type: ebs, ebs_settings: {volume_type: st1, size: 500}}]
        data:
          fsx_lustre: [{mount_point: /fsx, deployment_type: PERSISTENT_1, storage_type: HDD, per_unit_storage_throughput: 12,
                        storage_capacity_gb: 6000, drive_cache_type: READ, automatic_backup_retention_days: 7,
                        daily_automatic_backup_start_time: '02:00'}]
        """,
    "gp3-fast-fsx-scratch1": """\
        shared_storage: [{name: shared, type: ebs, size_gb: 500, ebs_settings: {iops: 6000, throughput: 500}}]
        data:
          fsx_lustre: [{mount_point: /fsx, deployment_type: SCRATCH_1, storage_capacity_gb: 3600, data_compression_type: LZ4,
                        weekly_maintenance_start_time: '7:03:00'}]
        """,
    "fsx-persistent1-default-efs-home": """\
        shared_storage:
          - {name: shared, type: ebs}
          - {name: home, mount_dir: /home, storage_type: Efs}
        data: {fsx_lustre: [{mount_point: /fsx, deployment_type: PERSISTENT_1}]}
        """,
    "fsx-shared-volume": """\
        shared_storage: [{name: shared, storage_type: FsxLustre, mount_dir: /shared,
                          fsx_lustre_settings: {deployment_type: PERSISTENT_2, per_unit_storage_throughput: 250}}]
        """,
}


def checked(extra: str):
    report, loaded = validate_text(BASE + textwrap.dedent(extra).rstrip("\n") + "\n", "t.yaml")
    return report, loaded.template


@pytest.mark.parametrize("name", ACCEPTED)
def test_storage_options_pass_pcluster_validators(name, pcluster_world):
    report, t = checked(ACCEPTED[name])
    assert report.ok(), report.render()
    s3 = pcluster_world.session.client("s3")
    s3.create_bucket(Bucket="pctl-scripts")
    options = RenderOptions(subnet_id=pcluster_world.subnet_id, compute_subnet_id=pcluster_world.private_subnet_id,
                            key_name=pcluster_world.key_name, ssh_allowed_cidr="10.0.0.0/16",
                            scripts_s3_prefix="s3://pctl-scripts/store/scripts")
    text = render(t, options).config_text
    failures = engine.validator_failures(text, "store", "us-east-1")
    assert [f for f in failures if f[0] == "ERROR"] == [], text


@pytest.mark.parametrize(("deployment", "expected"), [("PERSISTENT_1", 50), ("PERSISTENT_2", 125), ("SCRATCH_2", None)])
def test_fsx_throughput_gets_a_valid_default(deployment, expected, cluster_schema):
    _, t = checked(f"data: {{fsx_lustre: [{{mount_point: /fsx, deployment_type: {deployment}}}]}}")
    cfg = cluster_schema(render(t).config_text, "store")
    fsx = next(s for s in cfg["SharedStorage"] if s["MountDir"] == "/fsx")["FsxLustreSettings"]
    assert fsx.get("PerUnitStorageThroughput") == expected


REFUSED = [
    ("data: {fsx_lustre: [{mount_point: /fsx, deployment_type: PERSISTENT_2, per_unit_storage_throughput: 50}]}",
     "data.fsx_lustre[0].per_unit_storage_throughput"),
    ("data: {fsx_lustre: [{mount_point: /fsx, per_unit_storage_throughput: 125}]}", "data.fsx_lustre[0].per_unit_storage_throughput"),
    ("data: {fsx_lustre: [{mount_point: /fsx, storage_type: HDD}]}", "data.fsx_lustre[0].storage_type"),
    ("data: {fsx_lustre: [{mount_point: /fsx, deployment_type: PERSISTENT_1, storage_type: HDD, storage_capacity_gb: 1200}]}",
     "data.fsx_lustre[0].storage_capacity_gb"),
    ("data: {fsx_lustre: [{mount_point: /fsx, deployment_type: SCRATCH_1, storage_capacity_gb: 4800}]}",
     "data.fsx_lustre[0].storage_capacity_gb"),
    ("data: {fsx_lustre: [{mount_point: /fsx, drive_cache_type: READ}]}", "data.fsx_lustre[0].drive_cache_type"),
    ("data: {fsx_lustre: [{mount_point: /fsx, deployment_type: PERSISTENT_2, import_path: 's3://lab-in', "
     "automatic_backup_retention_days: 3}]}", "data.fsx_lustre[0].automatic_backup_retention_days"),
    ("data: {fsx_lustre: [{mount_point: /fsx, export_path: 's3://lab-out'}]}", "data.fsx_lustre[0].export_path"),
    ("data: {fsx_lustre: [{mount_point: /fsx, import_path: 'lab-in'}]}", "data.fsx_lustre[0].import_path"),
    ("data: {fsx_lustre: [{mount_point: /fsx, weekly_maintenance_start_time: '8:00:00'}]}",
     "data.fsx_lustre[0].weekly_maintenance_start_time"),
    ("data: {fsx_lustre: [{mount_point: /fsx, file_system_id: fs-0123456789abcdef0, deployment_type: PERSISTENT_2}]}",
     "data.fsx_lustre[0]"),
    ("data: {efs: [{mount_point: /efs, throughput_mode: provisioned}]}", "data.efs[0].provisioned_throughput"),
    ("data: {efs: [{mount_point: /efs, access_point_id: fsap-0123456789abcdef0}]}", "data.efs[0].access_point_id"),
    ("data: {efs: [{mount_point: /efs, iam_authorization: true, encryption_in_transit: false}]}", "data.efs[0].iam_authorization"),
    ("data: {efs: [{mount_point: /efs, file_system_id: fs-0123456789abcdef0, performance_mode: maxIO}]}",
     "data.efs[0].performance_mode"),
    ("data: {efs: [{mount_point: /efs}, {mount_point: /efs2}]}", "data.efs"),
    ("shared_storage: [{name: shared, type: ebs, ebs_settings: {volume_type: gp2, throughput: 200}}]",
     "shared_storage[0].ebs_settings.throughput"),
    ("shared_storage: [{name: shared, type: ebs, ebs_settings: {volume_type: io2, size: 10, iops: 20000}}]",
     "shared_storage[0].ebs_settings.iops"),
    ("shared_storage: [{name: shared, type: ebs, ebs_settings: {throughput: 1000}}]", "shared_storage[0].ebs_settings.throughput"),
    ("shared_storage: [{name: shared, type: ebs, ebs_settings: {volume_type: sc1, size: 100}}]", "shared_storage[0].ebs_settings.size"),
    ("shared_storage: [{name: shared, type: ebs, size_gb: 200, ebs_settings: {size: 300}}]", "shared_storage[0].ebs_settings.size"),
    ("shared_storage: [{name: shared, type: efs, ebs_settings: {size: 300}}]", "shared_storage[0].ebs_settings"),
    ("shared_storage: [{name: shared, type: ebs, ebs_settings: {snapshot_id: snap-12}}]", "shared_storage[0].ebs_settings.snapshot_id"),
    ("shared_storage: [{name: shared, type: ebs, ebs_settings: {kms_key_id: 'my key'}}]", "shared_storage[0].ebs_settings.kms_key_id"),
    ("shared_storage: [{name: default, type: ebs}]", "shared_storage[0].name"),
]


@pytest.mark.parametrize(("extra", "field"), REFUSED, ids=[f for _, f in REFUSED])
def test_option_rules_are_refused_with_a_located_hint(extra, field):
    report, _ = checked(extra)
    found = [i for i in report.errors if i.field == field]
    assert found, report.render()
    assert found[0].line and found[0].hint


def test_unencrypted_ebs_warns():
    report, t = checked("shared_storage: [{name: shared, type: ebs, ebs_settings: {encrypted: false}}]")
    assert report.ok() and not report.ok(strict=True)
    [cfg] = yaml.safe_load(render(t).config_text)["SharedStorage"]
    assert cfg["EbsSettings"]["Encrypted"] is False
