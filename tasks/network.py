"""Network: the cluster's VPC, subnets, gateways and security group (only when no --subnet-id was given)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.words import plural
from tasks._common import (
    AWS_RETRIES,
    AWS_RETRY_DELAYS,
    AWS_TAGS,
    content_key,
    delete_and_forget,
    log,
    poll_seconds,
    record_created,
    state_resources,
    transient_failure,
)

NETWORK_KINDS = ("nat_gateway", "eip", "igw", "subnet", "route_table", "security_group", "vpc")


def _cache_key(context: Any, p: dict[str, Any]) -> str:
    # The state's epoch changes after a rollback or delete: a cached network id is never stale.
    return content_key("network", p["name"], p["region"], p["vpc_cidr"], p["ssh_cidr"], p["public_only"],
                       sorted((p.get("tags") or {}).items()), p["epoch"])


@task(name="network", tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure, cache_key_fn=_cache_key, persist_result=True)
def ensure(name: str, region: str, vpc_cidr: str, ssh_cidr: str, public_only: bool,
           tags: dict[str, str] | None, epoch: str):  # -> pctl.aws.network.Network
    """Create the network, or find the one an earlier run made (by its pctl:cluster tags)."""
    from pctl.aws.network import ensure_network
    from pctl.aws.session import make_session

    log(f"network: ensuring VPC {vpc_cidr} for {name} in {region}")
    net = ensure_network(make_session(region), name, vpc_cidr=vpc_cidr, ssh_cidr=ssh_cidr,
                         public_only=public_only, tags=dict(tags or {}), on_created=record_created(name),
                         poll_s=poll_seconds())
    log(f"network ready: {net.vpc_id}, head subnet {net.head_subnet_id}, compute subnet {net.compute_subnet_id}")
    return net


@task(name="delete-network", cache_policy=NO_CACHE, tags=AWS_TAGS, retries=AWS_RETRIES, retry_delay_seconds=AWS_RETRY_DELAYS,
      retry_condition_fn=transient_failure)
def teardown(name: str, region: str, timeout_minutes: int = 30) -> list[str]:
    """Delete the network pctl made for `name`, dependents first: what state recorded plus anything tagged.

    A user's subnet is never here: pctl records and tags only what it created.
    """
    from pctl.aws.network import tagged_network_resources
    from pctl.aws.session import make_session

    session = make_session(region)
    resources = list(dict.fromkeys(state_resources(name, *NETWORK_KINDS) + tagged_network_resources(session, name)))
    if not resources:
        log("network: nothing to delete")
        return []
    log(f"network: deleting {plural(len(resources), 'resource')}")
    deleted = delete_and_forget(session, name, resources, timeout_minutes)
    log(f"network deleted ({plural(len(deleted), 'resource')})")
    return [r.id for r in deleted]
