"""`cluster.os` (H10's fresh-user notes, item 7): the schema offers only operating systems a template can
use, and a Rocky Linux value (ParallelCluster publishes no image for it) is refused with the reason and
the binary-compatible RHEL to use instead, the hint naming every accepted OS.
"""

from __future__ import annotations

import copy
import json

import pytest

from pctl.model.constants import OS_ARCHITECTURES, PRIVATE_OSES
from pctl.validation import Level, validate_text
from tests.conftest import REPO

TEMPLATE = {
    "cluster": {"name": "r", "region": "us-east-1", "os": "alinux2023"},
    "compute": {"head_node": "t3.medium",
                "queues": [{"name": "q", "instance_types": ["c6i.large"], "max_count": 2}]},
}


def _errors(**cluster):
    data = copy.deepcopy(TEMPLATE)
    data["cluster"].update(cluster)
    report, _ = validate_text(json.dumps(data), "t.yaml")
    return [i for i in report.issues if i.level is Level.ERROR]


def test_the_schema_offers_no_os_that_always_fails():
    from pcluster.constants import PRIVATE_OSES as PCLUSTER_PRIVATE

    from pctl.model.template import json_schema

    assert set(PRIVATE_OSES) == set(PCLUSTER_PRIVATE)  # ParallelCluster's own list of OSes with no official AMI
    for schema in (json_schema(), json.loads((REPO / "docs" / "template.schema.json").read_text())):
        enum = schema["$defs"]["ClusterSection"]["properties"]["os"]["enum"]
        assert enum == list(OS_ARCHITECTURES)
        assert not set(enum) & set(PRIVATE_OSES)
    assert set(PRIVATE_OSES.values()) <= set(OS_ARCHITECTURES)  # the suggested twin is itself accepted


@pytest.mark.parametrize("os", sorted(PRIVATE_OSES))
@pytest.mark.parametrize("software", [{}, {"software": {"install": "ami"}}])
def test_rocky_is_refused_with_the_custom_ami_reason_and_every_accepted_os(os, software):
    data = copy.deepcopy(TEMPLATE)
    data["cluster"]["os"] = os
    data.update(software)
    report, _ = validate_text(json.dumps(data), "t.yaml")
    errors = [i for i in report.issues if i.level is Level.ERROR]
    assert len(errors) == 1, errors  # one error per cause: not also pydantic's "input should be ..."
    (issue,) = errors
    assert issue.code == "OsImage" and issue.path == ("cluster", "os") and issue.line == 1
    assert "custom AMI" in issue.message and "pctl does not build" in issue.message
    twin = PRIVATE_OSES[os]
    assert f"use {twin}, which is binary-compatible with {os}" in issue.hint
    for accepted in OS_ARCHITECTURES:
        assert accepted in issue.hint  # ubuntu2404 was missing from the old hint


def test_rocky_on_pcs_gets_the_pcs_reason():
    (issue,) = _errors(os="rocky9", platform="pcs")
    assert issue.code == "PcsOs" and "Amazon Linux 2023" in issue.message


def test_another_unknown_os_keeps_the_enum_message():
    (issue,) = _errors(os="centos7")
    assert issue.code == "literal_error" and "rhel9" in issue.message and "rocky" not in issue.message
