"""A template -> the ordered `pcs` requests that create its cluster (a plan a reviewer can read).

Shape: `{"placeholders": [str], "slurm_version": str, "size": str, "node_groups": [...],
"requests": [{"operation": str, "params": dict}]}`. Values that exist only once earlier steps ran are
references, `${kind:name}` strings that the executor resolves (`${cluster:id}`,
`${node_group:<name>}`, `${launch_template:<name>}`, `${instance_profile:arn}` (compute node groups),
`${instance_profile:login_arn}` (the login group),
`${security_group:id}`); the lint test resolves them with well-formed stand-ins and checks every
request against botocore's service model.

Node groups: PCS requires one vCPU count per compute node group, so every queue becomes one group
per compute resource of `pctl.compute_resources.plan_queue` (which already groups types by vCPUs,
GPUs, EFA and architecture and splits `min_count`/`max_count` so that they stay hard caps). A login
node group (the template's head-node type, one instance) gives users a place to log in and submit.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

from pctl.compute_resources import plan_queue
from pctl.model.constants import CLUSTER_TAG
from pctl.model.template import CapacityType, Template
from pctl.pcs import limits

PURCHASE_OPTIONS = {
    CapacityType.ondemand: "ONDEMAND",
    CapacityType.spot: "SPOT",
    CapacityType.capacity_block: "CAPACITY_BLOCK",
}
DEFAULT_SPOT_STRATEGY = "price-capacity-optimized"
LOGIN_GROUP = "login"


@dataclass(frozen=True)
class NodeGroup:
    """One PCS compute node group: one vCPU count, hard min/max instance counts."""

    name: str
    queue: str | None  # None for the login group
    instance_types: tuple[str, ...]
    min_count: int
    max_count: int
    purchase_option: str
    allocation_strategy: str | None


def ref(kind: str, name: str) -> str:
    return f"${{{kind}:{name}}}"


def pcs_name(name: str, limit: int) -> str:
    """`name` made PCS-legal: letter first, <= limit characters (a short hash keeps cut names unique)."""
    clean = "".join(c if c.isalnum() or c == "-" else "-" for c in name).strip("-") or "x"
    if not clean[0].isalpha():
        clean = f"q-{clean}"
    if len(clean) > limit:
        digest = hashlib.sha256(name.encode()).hexdigest()[:5]
        clean = f"{clean[: limit - 6].rstrip('-')}-{digest}"
    while len(clean) < limits.NAME_MIN:
        clean += "-q"
    return clean


def node_groups(t: Template) -> list[NodeGroup]:
    """Every compute node group of the cluster, queues' first, then the login group."""
    groups: list[NodeGroup] = []
    used: set[str] = {LOGIN_GROUP}
    for q in t.compute.queues:
        resources = plan_queue(q)
        for i, cr in enumerate(resources, 1):
            base = q.name if len(resources) == 1 else f"{q.name}-{i}"
            name = pcs_name(base, limits.GROUP_NAME_MAX)
            while name in used:
                name = pcs_name(f"{base}-{len(used)}", limits.GROUP_NAME_MAX)
            used.add(name)
            spot = q.capacity_type is CapacityType.spot
            groups.append(NodeGroup(
                name=name, queue=q.name, instance_types=tuple(cr.instance_types),
                min_count=cr.min_count, max_count=cr.max_count,
                purchase_option=PURCHASE_OPTIONS[q.capacity_type],
                allocation_strategy=(q.allocation_strategy or DEFAULT_SPOT_STRATEGY) if spot else None,
            ))
    groups.append(NodeGroup(LOGIN_GROUP, None, (t.compute.head_node,), 1, 1, "ONDEMAND", None))
    return groups


def build_plan(t: Template, subnet_id: str | None, tags: dict[str, str],
               slurm_version: str = limits.DEFAULT_SLURM_VERSION) -> dict[str, Any]:
    """The plan for `t` (shape in the module docstring). `subnet_id` None leaves a marked placeholder."""
    placeholders: list[str] = []
    subnet = subnet_id or ref("subnet", "id")
    if subnet_id is None:
        placeholders.append("subnet: pctl's network step creates it (or pass --subnet-id)")
    tags = {**tags, CLUSTER_TAG: t.cluster.name}
    groups = node_groups(t)
    nodes = sum(g.max_count for g in groups)
    size = limits.cluster_size(nodes) or limits.CLUSTER_SIZES[-1][0]
    cluster = pcs_name(t.cluster.name, limits.CLUSTER_NAME_MAX)
    requests: list[dict[str, Any]] = [{
        "operation": "create_cluster",
        "params": {
            "clusterName": cluster,
            "scheduler": {"type": "SLURM", "version": slurm_version},
            "size": size,
            "networking": {"subnetIds": [subnet], "securityGroupIds": [ref("security_group", "id")]},
            "tags": tags,
        },
    }]
    for g in groups:
        params: dict[str, Any] = {
            "clusterIdentifier": ref("cluster", "id"),
            "computeNodeGroupName": g.name,
            "subnetIds": [subnet],
            "purchaseOption": g.purchase_option,
            "customLaunchTemplate": {"id": ref("launch_template", g.name), "version": "$Latest"},
            # the login node installs the software: its own profile, the only one that reaches the binary cache
            "iamInstanceProfileArn": ref("instance_profile", "login_arn" if g.name == LOGIN_GROUP else "arn"),
            "scalingConfiguration": {"minInstanceCount": g.min_count, "maxInstanceCount": g.max_count},
            "instanceConfigs": [{"instanceType": it} for it in g.instance_types],
            "tags": {**tags, "pctl:node-group": g.name},
        }
        if g.allocation_strategy:
            params["spotOptions"] = {"allocationStrategy": g.allocation_strategy}
        requests.append({"operation": "create_compute_node_group", "params": params})
    for q in t.compute.queues:
        members = [g.name for g in groups if g.queue == q.name]
        requests.append({
            "operation": "create_queue",
            "params": {
                "clusterIdentifier": ref("cluster", "id"),
                "queueName": pcs_name(q.name, limits.QUEUE_NAME_MAX),
                "computeNodeGroupConfigurations": [{"computeNodeGroupId": ref("node_group", m)} for m in members],
                "tags": tags,
            },
        })
    return {
        "placeholders": placeholders,
        "slurm_version": slurm_version,
        "size": size,
        "node_groups": [asdict(g) | {"instance_types": list(g.instance_types)} for g in groups],
        "requests": requests,
    }
