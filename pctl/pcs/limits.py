"""What AWS PCS accepts, in one place.

Sources: botocore's `pcs` service model (2023-02-10): `SchedulerRequest.version` documents its valid
values, `CreateClusterRequest.size` documents the node and job limits of each size, and the name
members carry their length and pattern constraints. `tests/test_pcs_limits.py` checks these constants
against the installed model, so a botocore update that changes them fails a test instead of a create.
"""

from __future__ import annotations

import re
from typing import Any

# Slurm versions PCS runs (the model's "Valid Values").
SLURM_VERSIONS: tuple[str, ...] = ("24.11", "25.05", "25.11", "26.05")
# The default is the newest version AWS publishes a sample AMI for (AWS PCS User Guide, "AWS PCS sample
# AMIs release notes": aws-pcs-sample_ami-al2023-<arch>-slurm-25.11), so a template with no software
# to bake gets an image PCS accepts.
DEFAULT_SLURM_VERSION = "25.11"



def slurm_version_of(t: Any) -> str:
    """The Slurm release a PCS cluster of template ``t`` runs: ``cluster.slurm_version``, else the default."""
    return t.cluster.slurm_version or DEFAULT_SLURM_VERSION


# CreateCluster `size`: the most compute nodes a cluster of that size manages (model documentation).
CLUSTER_SIZES: tuple[tuple[str, int], ...] = (("SMALL", 32), ("MEDIUM", 512), ("LARGE", 2048))

# Per cluster, whatever its size: at most 10 compute node groups (the login group counts) and 10 queues.
# AWS PCS User Guide, "Endpoints and service quotas", internal quotas (not adjustable, and not listed by
# `aws service-quotas`).
MAX_NODE_GROUPS = 10
MAX_QUEUES = 10

# Name members: clusterName 3-40, computeNodeGroupName and queueName 3-25, letter first, no `pcs_`.
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]+")
NAME_MIN = 3
CLUSTER_NAME_MAX = 40
GROUP_NAME_MAX = 25
QUEUE_NAME_MAX = 25

# PCS requires the role of a node group's instance profile to be named AWSPCS* or to sit under this path.
ROLE_PATH = "/aws-pcs/"
ROLE_NAME_PREFIX = "AWSPCS"


def name_problem(name: str, limit: int) -> str | None:
    """Why `name` is not a valid PCS resource name (None when it is)."""
    if name.startswith("pcs_"):
        return "must not start with pcs_"
    if not NAME_RE.fullmatch(name):
        return "must start with a letter, then letters, digits or hyphens"
    if not NAME_MIN <= len(name) <= limit:
        return f"must be {NAME_MIN} to {limit} characters long"
    return None


def cluster_size(nodes: int) -> str | None:
    """The smallest PCS cluster size that manages `nodes` compute nodes; None when even LARGE is too small."""
    return next((size for size, limit in CLUSTER_SIZES if nodes <= limit), None)
