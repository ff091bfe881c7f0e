"""`pctl create <pcs template> --dry-run` as a user types it: every template warning is printed once
(H10's fresh-user notes, item 13, saw them twice: once in the flow log and again after the plan).

A regression guard: on 2026-11-30 the doubling did not reproduce (neither at the commit H10 tested nor
now, with a temporary or a running Prefect server, with --json or through `python -m flows.create`).
Runs through `pctl.cli.main` against the session's Prefect server, with no AWS credentials (a dry run
then skips the AWS checks): nothing is mocked.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.prefect]

TEMPLATE = """\
cluster: {name: genomics, region: us-east-1, platform: pcs}
compute:
  head_node: t3.large
  queues:
    - {name: cpu, instance_types: [c6i.2xlarge, c6i.4xlarge], max_count: 12}
software: {spack_packages: [zlib]}
networking: {ssh_allowed_cidr: 203.0.113.0/24}
"""
WARNINGS = ("PCS has no head node to share an EBS volume",
            "queue 'cpu' becomes 2 compute resources")


def test_each_pcs_warning_is_printed_once(prefect_server, tmp_path, monkeypatch, capsys):
    from pctl.cli import main

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    path = tmp_path / "pcs.yaml"
    path.write_text(TEMPLATE)
    try:
        main(["create", str(path), "--dry-run"])
    except SystemExit as exc:
        assert exc.code == 0, capsys.readouterr().err
    out, err = capsys.readouterr()
    both = out + err
    assert "Dry run: nothing was created" in both
    for words in WARNINGS:
        assert both.count(words) == 1, (words, both)
    # PCS words, not ParallelCluster's: the file to review is the PCS plan, the stand-in is PCS's subnet
    assert "pcs/plan.json" in both and "cluster-config.yaml" not in both
    assert "HeadNode subnet" not in both
    assert "the login node accepts SSH" in both and "the head node accepts SSH" not in both
