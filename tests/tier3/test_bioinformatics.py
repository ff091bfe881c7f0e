"""Tier 3: the library template `bioinformatics` on real nodes (scripts/nodes), rendered as ubuntu2204.

S3 is a documented stand-in (see checks.check_s3_mounts); everything else is real: users, Slurm,
Spack's concretization and Lmod modules (packages installed with `spack install --fake`).
"""

from __future__ import annotations

import pytest

from tests.tier3 import checks
from tests.tier3.cluster import REPO, up, work_dir

pytestmark = [pytest.mark.tier3, pytest.mark.slow, pytest.mark.timeout(2400)]
TEMPLATE = REPO / "templates" / "bioinformatics.yaml"


@pytest.fixture(scope="module")
def cluster():
    yield from up(TEMPLATE, work_dir("bioinformatics"))


@pytest.fixture(scope="module")
def template(cluster):
    return cluster.template()


def test_nodes_and_users(cluster, template):
    checks.check_list(cluster, template)
    checks.check_users(cluster, template)


def test_modules_in_login_shell_bash_c_and_slurm_job(cluster, template):
    checks.check_modules_everywhere(cluster, template, template.spack_root)


def test_specs_carry_pinned_target_and_real_compiler(cluster, template):
    checks.check_specs(cluster, template, template.spack_root)


def test_s3_mounts_stand_in(cluster, template):
    checks.check_s3_mounts(cluster, template)


def test_pctl_verify(cluster, template, tmp_path):
    checks.check_verify(cluster, template, tmp_path)
