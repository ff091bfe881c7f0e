"""platform: pcs -> the boto3 `pcs` requests (create_cluster, one compute node group per queue, one
queue each) as a plan for review. PCS runs Slurm's controller in an AWS account; node groups need a
launch template and an instance profile (name starting AWSPCS) that pctl does not create yet, so
those are placeholders like the subnet."""

from __future__ import annotations

from typing import Any

from pctl.compute_resources import plan_queue
from pctl.model.constants import CLUSTER_TAG
from pctl.model.template import Template
from pctl.render.options import PLACEHOLDER_SUBNET, RenderOptions

PCS_SLURM_VERSION = "24.11"
PLACEHOLDER_SECURITY_GROUP = "sg-00000000000000000"
PLACEHOLDER_LAUNCH_TEMPLATE = "lt-00000000000000000"
PLACEHOLDER_INSTANCE_PROFILE = "arn:aws:iam::000000000000:instance-profile/AWSPCS-pctl-placeholder"
PCS_CLUSTER_NAME_MAX = 40
PCS_NAME_MIN = 3


def pcs_name(name: str, limit: int) -> str:
    """PCS names: 3+ characters, a letter first, no `pcs_` prefix (pctl names already fit the rest)."""
    name = name[:limit].rstrip("-")
    return name if len(name) >= PCS_NAME_MIN else f"{name}-q"


def plan_context(t: Template, o: RenderOptions, context: dict[str, Any]) -> dict[str, Any]:
    placeholders = ["PCS security group id", "PCS compute launch template id", "AWSPCS instance profile ARN"]
    subnet = o.compute_subnet_id or o.subnet_id or t.networking.compute_subnet_id or t.networking.subnet_id
    if subnet is None:
        subnet = PLACEHOLDER_SUBNET
        placeholders.append("subnet id (--subnet-id)")
    cluster = pcs_name(t.cluster.name, PCS_CLUSTER_NAME_MAX)
    tags = {tag["key"]: tag["value"] for tag in context["tags"]}
    tags.setdefault(CLUSTER_TAG, t.cluster.name)
    requests: list[dict[str, Any]] = [{
        "operation": "create_cluster",
        "params": {
            "clusterName": cluster,
            "scheduler": {"type": "SLURM", "version": PCS_SLURM_VERSION},
            "size": "SMALL",
            "networking": {"subnetIds": [subnet], "securityGroupIds": [PLACEHOLDER_SECURITY_GROUP]},
            "tags": tags,
        },
    }]
    for q in t.compute.queues:
        group = pcs_name(q.name, 25)
        types = [it for cr in plan_queue(q) for it in cr.instance_types]
        requests.append({
            "operation": "create_compute_node_group",
            "params": {
                "clusterIdentifier": cluster,
                "computeNodeGroupName": group,
                "subnetIds": [subnet],
                "purchaseOption": context_capacity(context, q.name),
                "customLaunchTemplate": {"id": PLACEHOLDER_LAUNCH_TEMPLATE, "version": "1"},
                "iamInstanceProfileArn": PLACEHOLDER_INSTANCE_PROFILE,
                # A node group scales as one pool, so the queue's full max_count applies to it.
                "scalingConfiguration": {"minInstanceCount": q.min_count, "maxInstanceCount": q.max_count},
                "instanceConfigs": [{"instanceType": it} for it in types],
                "tags": tags,
            },
        })
        requests.append({
            "operation": "create_queue",
            "params": {
                "clusterIdentifier": cluster,
                "queueName": group,
                # The group's id is known only after create_compute_node_group: the executor fills it.
                "computeNodeGroupConfigurations": [{"computeNodeGroupId": f"${{{group}.computeNodeGroupId}}"}],
                "tags": tags,
            },
        })
    return {"plan": {"placeholders": placeholders, "requests": requests}}


def context_capacity(context: dict[str, Any], queue: str) -> str:
    return next(q["capacity_type"] for q in context["queues"] if q["name"] == queue)
