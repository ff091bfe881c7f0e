"""How a queue's instance types become ParallelCluster compute resources.

A queue keeps its full max_count whatever it holds:
- types of the same vCPU count go into ONE compute resource with a flexible `Instances` list
  (pcluster requires equal vCPUs there), MinCount/MaxCount = the queue's;
- otherwise each type gets its own compute resource, each with the queue's full MaxCount (never an
  integer division of it), and the first one carries min_count. A validator warns that the queue
  can then reach len(types) x max_count nodes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pctl.instance_types import vcpus
from pctl.model.template import Queue
from pctl.validation.rules import QUEUE_NAME_MAX


@dataclass(frozen=True)
class ComputeResource:
    name: str
    instance_types: tuple[str, ...]
    min_count: int
    max_count: int

    @property
    def flexible(self) -> bool:
        return len(self.instance_types) > 1


def resource_name(base: str) -> str:
    """A pcluster-legal compute resource name (lowercase, letter first, <= 25 chars)."""
    name = "".join(c if c.isalnum() else "-" for c in base.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"cr-{name}"
    if len(name) > QUEUE_NAME_MAX:
        digest = hashlib.sha256(base.encode()).hexdigest()[:6]
        name = f"{name[: QUEUE_NAME_MAX - 7].rstrip('-')}-{digest}"
    return name


def uniform_vcpus(types: list[str]) -> bool:
    counts = {vcpus(t) for t in types}
    # Unknown types (None) are trusted to match: pcluster's validator has the final word online.
    counts.discard(None)
    return len(counts) <= 1


def plan_queue(queue: Queue) -> list[ComputeResource]:
    types = list(dict.fromkeys(queue.instance_types))  # de-duplicate, keep order
    if len(types) == 1:
        return [ComputeResource(resource_name(types[0]), (types[0],), queue.min_count, queue.max_count)]
    if uniform_vcpus(types):
        return [ComputeResource(resource_name(f"{queue.name}-flex"), tuple(types), queue.min_count, queue.max_count)]
    return [
        ComputeResource(resource_name(t), (t,), queue.min_count if i == 0 else 0, queue.max_count)
        for i, t in enumerate(types)
    ]
