"""How a queue's instance types become ParallelCluster compute resources.

Grouping follows every rule ParallelCluster's validators apply to a flexible compute resource (several
`Instances`; pcluster/validators/instances_validators.py): the types must agree on
- vCPUs, or on physical cores when hyperthreading is off (InstancesCPUValidator);
- GPU count and maker, inference-accelerator count and maker (InstancesAcceleratorsValidator);
- EFA support (InstancesEFAValidator: an ERROR with EFA on, a WARNING with it off);
- architecture (one AMI per cluster).
Types that agree on all of these share one flexible compute resource; each other group gets its own.
A type pctl does not know gets a resource of its own (validation reports it).

`max_count` is a hard cap on the queue: when a queue needs several compute resources, their MaxCounts sum
to max_count (the remainder of the division goes to the first ones, so no node is lost) and their MinCounts
sum to min_count (filled in order, never above a resource's MaxCount). A queue needs max_count >= its number
of compute resources (pcluster's MaxCount is at least 1): `QueueSplitValidator` refuses less.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pctl.instance_types import InstanceType, facts, vcpus
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


def group_key(f: InstanceType, hyperthreading_off: bool) -> tuple:
    """What a flexible compute resource's types must share (see the module doc)."""
    cpus = ("cores", f.cores) if hyperthreading_off else ("vcpus", f.vcpus)
    return (cpus, f.gpus, f.gpu_maker, f.accelerators, f.accelerator_maker, f.efa, f.arch)


def describe_key(key: tuple) -> str:
    """('vcpus', 8), 1, 'NVIDIA', 0, None, False, 'x86_64' -> '8 vCPUs, 1 NVIDIA GPU, no EFA, x86_64'."""
    (kind, count), gpus, gpu_maker, accels, accel_maker, efa, arch = key
    parts = [f"{count} {'cores' if kind == 'cores' else 'vCPUs'}"]
    parts.append(f"{gpus} {gpu_maker or ''} GPU{'s' if gpus != 1 else ''}".replace("  ", " ") if gpus else "no GPU")
    if accels:
        parts.append(f"{accels} {accel_maker or ''} accelerator{'s' if accels != 1 else ''}".replace("  ", " "))
    parts.append("EFA" if efa else "no EFA")
    parts.append(arch)
    return ", ".join(parts)


def groups(types: list[str], hyperthreading_off: bool = False) -> list[tuple[tuple | None, tuple[str, ...]]]:
    """Types (de-duplicated, in order) grouped by `group_key`; (None, (type,)) for each unknown type."""
    out: dict[object, list[str]] = {}
    keys: dict[object, tuple | None] = {}
    for t in dict.fromkeys(types):
        f = facts(t)
        key: object = group_key(f, hyperthreading_off) if f else ("unknown", t)
        out.setdefault(key, []).append(t)
        keys[key] = key if f else None  # type: ignore[assignment]
    return [(keys[k], tuple(v)) for k, v in out.items()]


def split(total: int, parts: int) -> list[int]:
    """`total` over `parts` as evenly as whole numbers allow, summing to `total`: 10 over 3 -> [4, 3, 3]."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _names(queue: Queue, members: list[tuple[str, ...]]) -> list[str]:
    if len(members) == 1 and len(members[0]) > 1:
        return [resource_name(f"{queue.name}-flex")]
    names, taken = [], set()
    for types in members:
        base = resource_name(types[0] + ("-flex" if len(types) > 1 else ""))
        name, n = base, 2
        while name in taken:
            suffix = f"-{n}"
            name = f"{base[: QUEUE_NAME_MAX - len(suffix)].rstrip('-')}{suffix}"
            n += 1
        taken.add(name)
        names.append(name)
    return names


def plan_queue(queue: Queue) -> list[ComputeResource]:
    """The queue's compute resources, MaxCounts summing to max_count and MinCounts to min_count.

    With fewer max_count than resources each still gets MaxCount 1 (pcluster's minimum) so renderers have a
    plan; validation refuses such a queue first (QueueSplitValidator)."""
    members = [types for _, types in groups(list(queue.instance_types), queue.disable_hyperthreading)]
    maxes = [max(m, 1) for m in split(queue.max_count, len(members))]
    mins, left = [], min(queue.min_count, sum(maxes))
    for cap in maxes:
        take = min(left, cap)
        mins.append(take)
        left -= take
    return [ComputeResource(name, types, lo, hi)
            for name, types, lo, hi in zip(_names(queue, members), members, mins, maxes, strict=True)]


def split_summary(queue: Queue, resources: list[ComputeResource] | None = None) -> str:
    """'c6i.2xlarge: 4 (min 1), c6i.4xlarge: 3, c6i.8xlarge: 3' - how max_count and min_count were split."""
    resources = resources if resources is not None else plan_queue(queue)
    parts = []
    for cr in resources:
        label = "/".join(cr.instance_types)
        parts.append(f"{label}: {cr.max_count}" + (f" (min {cr.min_count})" if cr.min_count else ""))
    return ", ".join(parts)


def uniform_vcpus(types: list[str]) -> bool:
    """True when the known types share one vCPU count (kept for older callers; `groups` is the full rule)."""
    counts = {vcpus(t) for t in types}
    counts.discard(None)
    return len(counts) <= 1
