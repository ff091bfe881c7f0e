"""The head node's SSH host key fingerprints, read from its EC2 console output.

At first boot cloud-init prints the host keys' fingerprints to the serial console, between
`-----BEGIN SSH HOST KEY FINGERPRINTS-----` and `-----END SSH HOST KEY FINGERPRINTS-----`, one line per key
(`256 SHA256:... root@ip-10-0-0-12 (ED25519)`; Amazon Linux prefixes each line with `ec2: `). That text
comes from the hypervisor, not over the network, so it is the trustworthy source for the first SSH.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from pctl.aws.errors import is_not_found, to_pctl_error
from pctl.aws.session import client

if TYPE_CHECKING:
    import boto3

BEGIN = "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
END = "-----END SSH HOST KEY FINGERPRINTS-----"
# "SHA256:" then unpadded base64 (43 characters for a SHA-256 digest).
_SHA256 = re.compile(r"\bSHA256:([A-Za-z0-9+/]{43})=?(?![A-Za-z0-9+/])")
HEAD_NODE_TAG = "parallelcluster:node-type"
CLUSTER_NAME_TAG = "parallelcluster:cluster-name"


def parse_fingerprints(console_output: str | None) -> list[str]:
    """SHA256 fingerprints in the console output's last complete fingerprint block; [] when there is none.

    The last block wins: a rebooted instance prints the block again, and the newest is the current one.
    MD5 fingerprints (old cloud-init) are ignored: pctl compares SHA256 only.
    """
    if not console_output:
        return []
    text = console_output.replace("\r\n", "\n")
    end = text.rfind(END)
    if end < 0:
        return []
    begin = text.rfind(BEGIN, 0, end)
    if begin < 0:
        return []
    block = text[begin + len(BEGIN):end]
    found = ["SHA256:" + m.group(1) for m in _SHA256.finditer(block)]
    return list(dict.fromkeys(found))


def head_node_instance_id(session: boto3.Session, cluster: str, info: dict[str, Any] | None = None) -> str | None:
    """describe_cluster's headNode.instanceId, else the running instance ParallelCluster tagged HeadNode."""
    head = (info or {}).get("headNode") or {}
    if head.get("instanceId"):
        return head["instanceId"]
    try:
        reservations = client(session, "ec2").describe_instances(Filters=[
            {"Name": f"tag:{CLUSTER_NAME_TAG}", "Values": [cluster]},
            {"Name": f"tag:{HEAD_NODE_TAG}", "Values": ["HeadNode"]},
            {"Name": "instance-state-name", "Values": ["pending", "running"]},
        ])["Reservations"]
    except Exception as exc:
        raise to_pctl_error(exc, f"looking up the head node of {cluster}") from exc
    ids = [i["InstanceId"] for r in reservations for i in r["Instances"]]
    return ids[0] if ids else None


def console_fingerprints(session: boto3.Session, instance_id: str) -> list[str]:
    """The host key fingerprints in the instance's console output ([] when it has none yet)."""
    try:
        # boto3 decodes the base64 Output itself.
        output = client(session, "ec2").get_console_output(InstanceId=instance_id).get("Output")
    except Exception as exc:
        if is_not_found(exc):
            return []
        raise to_pctl_error(exc, f"reading the console output of {instance_id}") from exc
    return parse_fingerprints(output)
