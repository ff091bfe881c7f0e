"""Apply a PCS plan through a boto3 `pcs` client; report PCS's own states; delete in dependency order.

Idempotent by name: a re-run after a failure finds the cluster, node groups and queues that exist and
creates only the rest, so `resume` is the same call as `create`. Every create carries a client token
derived from the cluster and resource name, so a retried call whose first answer was lost cannot make
a second resource. Waits poll `get_*` until ACTIVE (or gone, for deletes) and stop at a *_FAILED state,
at `timeout` seconds, or when `cancelled()` says so.

Errors: `PcsError` (a PctlError: one message and a hint, exit 1 at the CLI) for a failed state or a
timeout; botocore's ClientError passes through for the caller's retry policy.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pctl.errors import PctlError

REF_RE = re.compile(r"\$\{([a-z_]+):([^}]+)\}")
FAILED = ("CREATE_FAILED", "DELETE_FAILED", "UPDATE_FAILED")
RESPONSE_KEYS = {"create_compute_node_group": "computeNodeGroup", "create_queue": "queue"}


class PcsError(PctlError):
    """A PCS resource reached a failed state, or did not become ready in time."""


def resolve(value: Any, refs: dict[str, str]) -> Any:
    """`value` with every `${kind:name}` reference replaced from `refs` (KeyError names a missing one)."""
    if isinstance(value, str):
        def one(m: re.Match[str]) -> str:
            key = f"{m.group(1)}:{m.group(2)}"
            if key not in refs:
                raise KeyError(f"the plan refers to {key}, which no earlier step produced")
            return refs[key]
        return REF_RE.sub(one, value)
    if isinstance(value, list):
        return [resolve(v, refs) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, refs) for k, v in value.items()}
    return value


def client_token(*parts: str) -> str:
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:32]


def _not_found(exc: Exception) -> bool:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") == "ResourceNotFoundException"


@dataclass
class Executor:
    """Drives one cluster's PCS resources. `sleep`/`clock` are injectable so tests do not wait."""

    client: Any
    poll_seconds: float = 15.0
    timeout: float = 3600.0
    log: Callable[[str], None] = lambda _line: None
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    cancelled: Callable[[], bool] = lambda: False
    created: list[tuple[str, str]] = field(default_factory=list)  # (kind, id) made by this run

    # ---- reading ----------------------------------------------------------------------------
    def find_cluster(self, identifier: str) -> dict | None:
        try:
            return self.client.get_cluster(clusterIdentifier=identifier)["cluster"]
        except Exception as exc:  # botocore ClientError
            if _not_found(exc):
                return None
            raise

    def _pages(self, method: str, key: str, **kwargs: Any) -> Iterator[dict]:
        token = None
        while True:
            page = getattr(self.client, method)(**kwargs, **({"nextToken": token} if token else {}))
            yield from page[key]
            token = page.get("nextToken")
            if not token:
                return

    def node_groups(self, cluster_id: str) -> list[dict]:
        return list(self._pages("list_compute_node_groups", "computeNodeGroups", clusterIdentifier=cluster_id))

    def queues(self, cluster_id: str) -> list[dict]:
        return list(self._pages("list_queues", "queues", clusterIdentifier=cluster_id))

    def status(self, identifier: str) -> dict[str, Any] | None:
        """PCS's own states: `{"cluster": {name, id, status}, "node_groups": [...], "queues": [...]}`."""
        cluster = self.find_cluster(identifier)
        if cluster is None:
            return None
        brief = lambda r: {"name": r["name"], "id": r["id"], "status": r["status"]}  # noqa: E731
        return {"cluster": brief(cluster),
                "node_groups": [brief(g) for g in self.node_groups(cluster["id"])],
                "queues": [brief(q) for q in self.queues(cluster["id"])]}

    # ---- waiting ----------------------------------------------------------------------------
    def _wait(self, what: str, get: Callable[[], dict | None], until: str | None) -> dict | None:
        """Poll `get` until its status is `until` (None: until it is gone)."""
        start = self.clock()
        while True:
            item = get()
            status = item["status"] if item else None
            if status == until or (until is None and status in (None, "DELETED")):
                return item
            if status in FAILED:
                reason = "; ".join(e.get("message", "") for e in item.get("errorInfo", []) if e.get("message"))
                raise PcsError(f"{what} is {status}" + (f": {reason}" if reason else ""),
                               "see the PCS console for the cause, then `pctl delete` and create again")
            if self.clock() - start > self.timeout:
                raise PcsError(f"{what} still {status} after {int(self.timeout)} s",
                               "PCS may still finish: check `pctl status`, or delete and retry")
            if self.cancelled():
                raise KeyboardInterrupt
            self.log(f"{what}: {status}")
            self.sleep(self.poll_seconds)

    def _get_or_none(self, method: str, **kwargs: Any) -> dict | None:
        key = {"get_cluster": "cluster", "get_compute_node_group": "computeNodeGroup", "get_queue": "queue"}[method]
        try:
            return getattr(self.client, method)(**kwargs)[key]
        except Exception as exc:
            if _not_found(exc):
                return None
            raise

    # ---- creating ---------------------------------------------------------------------------
    def apply(self, plan: dict[str, Any], refs: dict[str, str]) -> dict[str, str]:
        """Create what `plan` names and does not exist yet; return `refs` plus the new ids.

        `refs` must hold `security_group:id`, `instance_profile:arn`, `launch_template:<group>` for
        every node group, and `subnet:id` when the plan has no subnet of its own.
        """
        refs = dict(refs)
        requests = plan["requests"]
        create_cluster = next(r["params"] for r in requests if r["operation"] == "create_cluster")
        name = create_cluster["clusterName"]
        cluster = self.find_cluster(name)
        if cluster is None:
            self.log(f"creating PCS cluster {name}")
            params = resolve(create_cluster, refs) | {"clientToken": client_token(name)}
            cluster = self.client.create_cluster(**params)["cluster"]
            self.created.append(("cluster", cluster["id"]))
        cluster_id = cluster["id"]
        refs["cluster:id"] = cluster_id
        self._wait(f"cluster {name}", lambda: self._get_or_none("get_cluster", clusterIdentifier=cluster_id), "ACTIVE")

        self._ensure(requests, refs, name, "node_group", "create_compute_node_group", "computeNodeGroupName",
                     {g["name"]: g["id"] for g in self.node_groups(cluster_id)},
                     lambda i: self._get_or_none("get_compute_node_group", clusterIdentifier=cluster_id,
                                                 computeNodeGroupIdentifier=i))
        self._ensure(requests, refs, name, "queue", "create_queue", "queueName",
                     {q["name"]: q["id"] for q in self.queues(cluster_id)},
                     lambda i: self._get_or_none("get_queue", clusterIdentifier=cluster_id, queueIdentifier=i))
        return refs

    def _ensure(self, requests: list[dict[str, Any]], refs: dict[str, str], cluster: str, kind: str,
                operation: str, name_key: str, existing: dict[str, str], get: Callable[[str], dict | None]) -> None:
        """Create each `operation` request whose name is not in `existing` (name -> id), record every id in
        `refs` as `<kind>:<name>`, then wait until all of them are ACTIVE."""
        label = kind.replace("_", " ")
        for r in (r["params"] for r in requests if r["operation"] == operation):
            item = r[name_key]
            if item not in existing:
                self.log(f"creating {label} {item}")
                params = resolve(r, refs) | {"clientToken": client_token(cluster, kind, item)}
                made = getattr(self.client, operation)(**params)
                existing[item] = made[RESPONSE_KEYS[operation]]["id"]
                self.created.append((kind, existing[item]))
            refs[f"{kind}:{item}"] = existing[item]
        for item, item_id in existing.items():
            self._wait(f"{label} {item}", lambda i=item_id: get(i), "ACTIVE")

    # ---- deleting ---------------------------------------------------------------------------
    def delete(self, identifier: str) -> list[str]:
        """Delete queues, then node groups, then the cluster, waiting for each to be gone.

        Returns what was deleted, as "kind name" strings; an absent cluster deletes nothing.
        """
        cluster = self.find_cluster(identifier)
        if cluster is None:
            return []
        cid = cluster["id"]
        done: list[str] = []
        for q in self.queues(cid):
            if q["status"] != "DELETING":
                self.client.delete_queue(clusterIdentifier=cid, queueIdentifier=q["id"])
            self._wait(f"queue {q['name']}", lambda q=q: self._get_or_none(
                "get_queue", clusterIdentifier=cid, queueIdentifier=q["id"]), None)
            done.append(f"queue {q['name']}")
        for g in self.node_groups(cid):
            if g["status"] != "DELETING":
                self.client.delete_compute_node_group(clusterIdentifier=cid, computeNodeGroupIdentifier=g["id"])
            self._wait(f"node group {g['name']}", lambda g=g: self._get_or_none(
                "get_compute_node_group", clusterIdentifier=cid, computeNodeGroupIdentifier=g["id"]), None)
            done.append(f"node group {g['name']}")
        if cluster["status"] != "DELETING":
            self.client.delete_cluster(clusterIdentifier=cid)
        self._wait(f"cluster {cluster['name']}", lambda: self._get_or_none("get_cluster", clusterIdentifier=cid), None)
        done.append(f"cluster {cluster['name']}")
        return done
