"""The login node of a PCS cluster: what `pctl verify` and the user SSH to (PCS has no head node).

PCS launches node group instances from pctl's launch templates, which tag them `pctl:cluster` and
`pctl:node-group`; the login group's running instance is found by those tags.
"""

from __future__ import annotations

from typing import Any

from pctl.model.constants import CLUSTER_TAG
from pctl.pcs.plan import LOGIN_GROUP


def login_instance(ec2: Any, cluster: str) -> dict[str, str | None] | None:
    """`{"instance_id", "public_ip", "private_ip"}` of the newest running login instance, or None."""
    reservations = ec2.describe_instances(Filters=[
        {"Name": f"tag:{CLUSTER_TAG}", "Values": [cluster]},
        {"Name": "tag:pctl:node-group", "Values": [LOGIN_GROUP]},
        {"Name": "instance-state-name", "Values": ["running"]},
    ])["Reservations"]
    instances = [i for r in reservations for i in r["Instances"]]
    if not instances:
        return None
    newest = max(instances, key=lambda i: i.get("LaunchTime") or "")
    return {"instance_id": newest["InstanceId"], "public_ip": newest.get("PublicIpAddress"),
            "private_ip": newest.get("PrivateIpAddress")}
