"""pctl.pcluster_engine: pcluster's schema (tier 1) and validators (tier 2, under moto) as the oracle.

The engine calls (create/describe/delete/list) run pcluster.lib against moto: a real stack cannot be
created there (see /work/shared/notes/parallelcluster.md), so only their refusals and empty answers are
asserted here; flows mock pcluster.lib at the task boundary.
"""

from __future__ import annotations

import textwrap

import pytest

from pctl import pcluster_engine as engine
from pctl.errors import PctlError

CONFIG = textwrap.dedent("""\
    Region: us-east-1
    Image:
      Os: alinux2023
    HeadNode:
      InstanceType: t3.medium
      Networking:
        SubnetId: {subnet}
      Ssh:
        KeyName: {key}
      Imds:
        Secured: true
    Scheduling:
      Scheduler: slurm
      SlurmQueues:
        - Name: compute
          ComputeResources:
            - Name: c6i-2xlarge
              InstanceType: {compute_type}
              MinCount: {min_count}
              MaxCount: 4
          Networking:
            SubnetIds: [{subnet}]
    SharedStorage:
      - MountDir: /shared
        Name: shared
        StorageType: Ebs
        EbsSettings:
          VolumeType: gp3
          Size: 100
          Encrypted: true
""")


def config(world, **overrides) -> str:
    values = {"subnet": world.subnet_id, "key": world.key_name, "compute_type": "c6i.2xlarge", "min_count": 0}
    values.update(overrides)
    return CONFIG.format(**values)


def errors(failures):
    return [f for f in failures if f[0] == "ERROR"]


def test_installed_version_is_the_pinned_one():
    assert engine.installed_version() == "3.16.1"


def test_tier1_accepts_a_good_config():
    assert engine.schema_errors(CONFIG.format(subnet="subnet-0123456789abcdef0", key="k",
                                              compute_type="c6i.2xlarge", min_count=0), "demo") is None


def test_tier1_rejects_unknown_field_with_pcluster_message():
    bad = CONFIG.format(subnet="subnet-0123456789abcdef0", key="k", compute_type="c6i.2xlarge", min_count=0)
    bad = bad.replace("  InstanceType: t3.medium", "  InstanceType: t3.medium\n  Bogus: 1")
    assert engine.schema_errors(bad, "demo") == {"HeadNode": {"Bogus": ["Unknown field."]}}


def test_tier1_rejects_bad_max_count():
    bad = CONFIG.format(subnet="subnet-0123456789abcdef0", key="k", compute_type="c6i.2xlarge", min_count=0)
    bad = bad.replace("MaxCount: 4", "MaxCount: 0")
    messages = engine.schema_errors(bad, "demo")
    assert "Must be greater than or equal to 1." in str(messages)


def test_tier1_not_yaml_is_a_pctl_error():
    with pytest.raises(PctlError, match="YAML"):
        engine.schema_errors("HeadNode: [unclosed", "demo")


def test_tier2_passes_a_good_config(pcluster_world):
    assert errors(engine.validator_failures(config(pcluster_world), "demo", "us-east-1")) == []


def test_tier2_catches_min_count_above_max_count(pcluster_world):
    failures = errors(engine.validator_failures(config(pcluster_world, min_count=9), "demo", "us-east-1"))
    assert [f[1] for f in failures] == ["ComputeResourceSizeValidator"]
    assert "Max count must be greater than or equal to min count" in failures[0][2]


def test_tier2_catches_missing_subnet(pcluster_world):
    failures = errors(engine.validator_failures(config(pcluster_world, subnet="subnet-0123456789abcdef0"),
                                                "demo", "us-east-1"))
    assert failures and "subnet-0123456789abcdef0" in failures[0][2] and "does not exist" in failures[0][2]


def test_tier2_catches_missing_key_pair(pcluster_world):
    failures = errors(engine.validator_failures(config(pcluster_world, key="nobody-key"), "demo", "us-east-1"))
    assert any("nobody-key" in f[2] for f in failures)


def test_tier2_catches_unknown_instance_type(pcluster_world):
    failures = errors(engine.validator_failures(config(pcluster_world, compute_type="c6i.huge"), "demo", "us-east-1"))
    assert any("c6i.huge" in f[2] for f in failures)


def test_tier2_restores_region_env(pcluster_world, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    engine.validator_failures(config(pcluster_world), "demo", "us-east-1")
    import os

    assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"


def test_describe_missing_cluster_is_a_pctl_error(aws):
    with pytest.raises(PctlError, match="ghost"):
        engine.describe_cluster("ghost", "us-east-1")


def test_delete_missing_cluster_is_a_pctl_error(aws):
    with pytest.raises(PctlError, match="ghost"):
        engine.delete_cluster("ghost", "us-east-1")


def test_list_clusters_empty_under_moto(aws):
    assert engine.list_clusters("us-east-1") == []


def test_create_refuses_invalid_config_with_validator_message(pcluster_world):
    with pytest.raises(PctlError) as info:
        engine.create_cluster("demo", config(pcluster_world, min_count=9), "us-east-1")
    assert "Max count must be greater than or equal to min count" in str(info.value)


def test_tier2_passes_the_rendered_starter_template(pcluster_world):
    """The renderer's output for templates/starter.yaml, against moto, with its S3 buckets and scripts in place."""
    render = pytest.importorskip("pctl.render.renderer")
    from pctl.aws.bucket import ensure_bucket, upload_texts
    from pctl.model.loader import load_template
    from pctl.render.options import RenderOptions
    from tests.conftest import REPO

    session = pcluster_world.session
    for bucket in ("pctl-scripts", "my-lab-datasets"):
        ensure_bucket(session, bucket, "us-east-1", tls_only=False)  # moto vs the TLS policy: test_aws_bucket.py
    template = load_template(REPO / "templates" / "starter.yaml")
    rendered = render.render(template, RenderOptions(
        subnet_id=pcluster_world.subnet_id, compute_subnet_id=pcluster_world.private_subnet_id,
        key_name=pcluster_world.key_name, scripts_s3_prefix="s3://pctl-scripts/clusters/starter"))
    for rel, url in rendered.script_urls.items():
        key = url.removeprefix("s3://pctl-scripts/")
        upload_texts(session, "pctl-scripts", "", {key: rendered.files[rel]})
    assert engine.schema_errors(rendered.config_text, "starter") is None
    assert errors(engine.validator_failures(rendered.config_text, "starter", "us-east-1")) == []
