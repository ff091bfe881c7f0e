"""Captured scripts -> ONE cluster template in the seed format, rendered through Jinja2 and validated.

Queues come from the scripts' partitions/queues (names made pcluster-legal), each sized for the
peak per-node need of its jobs; software is the union of mapped Spack specs, one spec per package
(the highest version, with the union of the variants asked for).
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache

from pctl.capture.instances import SCHEDULABLE_MEMORY_FRACTION, suggest_instance_type
from pctl.capture.mapping import ModuleMapping, version_key
from pctl.capture.schedulers import DEFAULT_MEM_PER_CPU_GB
from pctl.capture.script import Capture
from pctl.errors import PctlError
from pctl.validation.rules import CLUSTER_NAME_MAX, QUEUE_NAME_MAX, spack_package_name, spack_spec_problem

DEFAULT_QUEUE = "compute"
DEFAULT_REGION = "us-east-1"
MIN_MAX_COUNT = 10
SMALL_HEAD_NODE, LARGE_HEAD_NODE = "t3.medium", "m6i.xlarge"
LARGE_CLUSTER_NODES = 64  # above this many nodes in all queues, a bigger head node runs slurmctld


@dataclass
class QueuePlan:
    name: str
    partitions: set[str] = field(default_factory=set)
    scripts: int = 0
    nodes: int = 1
    cpus_per_node: int = 1
    memory_gb: float = 0.0
    gpus: int = 0
    gpu_type: str | None = None
    walltime_minutes: int | None = None
    instance_type: str = ""
    confidence: float = 0.0
    reason: str = ""
    max_count: int = MIN_MAX_COUNT


@dataclass
class PackageUse:
    module: str
    mapping: ModuleMapping | None
    scripts: int = 0


@dataclass
class Build:
    template: dict
    queues: list[QueuePlan]
    packages: list[str]
    modules: list[PackageUse]
    assumptions: list[str]
    capture: Capture


def queue_name(raw: str | None, taken: set[str]) -> str:
    """A pcluster-legal, unique queue name: lowercase, letter first, letters/digits/hyphens, <= 25 chars."""
    name = re.sub(r"[^a-z0-9]+", "-", (raw or DEFAULT_QUEUE).lower()).strip("-") or DEFAULT_QUEUE
    if not name[0].isalpha():
        name = f"q-{name}"
    name = name[:QUEUE_NAME_MAX].rstrip("-")
    base, n = name, 2
    while name in taken:
        suffix = f"-{n}"
        name = f"{base[: QUEUE_NAME_MAX - len(suffix)].rstrip('-')}{suffix}"
        n += 1
    taken.add(name)
    return name


def cluster_name(raw: str) -> str:
    name = re.sub(r"[^A-Za-z0-9-]+", "-", raw).strip("-")
    if not name or not name[0].isalpha():
        name = f"captured-{name}".rstrip("-")
    name = name[:CLUSTER_NAME_MAX].rstrip("-")
    return name if len(name) >= 2 else "captured"


def _plan_queues(capture: Capture, assumptions: list[str], region: str = DEFAULT_REGION) -> list[QueuePlan]:
    by_partition: dict[str, QueuePlan] = {}
    taken: set[str] = set()
    assumed_memory = 0
    for script in capture.scripts:
        r = script.resources
        key = (r.queue or DEFAULT_QUEUE).lower()
        plan = by_partition.get(key)
        if plan is None:
            plan = by_partition[key] = QueuePlan(queue_name(r.queue, taken))
        if r.queue:
            plan.partitions.add(r.queue)
        plan.scripts += 1
        plan.nodes = max(plan.nodes, r.nodes)
        plan.cpus_per_node = max(plan.cpus_per_node, r.cpus_per_node)
        memory = r.memory_gb
        if memory is None:
            memory = DEFAULT_MEM_PER_CPU_GB * r.cpus_per_node
            assumed_memory += 1
        plan.memory_gb = max(plan.memory_gb, memory)
        if r.gpus > plan.gpus:
            plan.gpus, plan.gpu_type = r.gpus, r.gpu_type or plan.gpu_type
        if r.walltime_minutes is not None:
            plan.walltime_minutes = max(plan.walltime_minutes or 0, r.walltime_minutes)
    if assumed_memory:
        assumptions.append(f"{assumed_memory} script(s) state no memory: {DEFAULT_MEM_PER_CPU_GB:g} GiB per cpu assumed")
    if not by_partition:
        by_partition[DEFAULT_QUEUE] = QueuePlan(queue_name(None, taken))
    plans = list(by_partition.values())
    for plan in plans:
        plan.instance_type, plan.confidence, plan.reason = suggest_instance_type(
            plan.cpus_per_node, plan.memory_gb, plan.gpus, gpu_model=plan.gpu_type, region=region)
        # Room for two of the widest jobs at once; Slurm scales to zero when idle, so this is a ceiling.
        plan.max_count = max(MIN_MAX_COUNT, 2 * plan.nodes)
        if plan.confidence < 0.5:
            plan.max_count = max(plan.max_count, 2 * plan.nodes * math.ceil(plan.cpus_per_node / 64))
    assumptions.append(f"memory headroom: Slurm schedules {SCHEDULABLE_MEMORY_FRACTION:.0%} of a node's memory "
                       "(ParallelCluster's default), so each queue's type has more than its peak job asks for; "
                       f"types offered in {region} only")
    assumptions.append(f"max_count is twice the widest job's node count (at least {MIN_MAX_COUNT}); "
                       "min_count 0 and on-demand capacity for every queue")
    return plans


def _spec_parts(spec: str) -> tuple[str, str | None, list[str], list[str]]:
    tokens = spec.split()
    head, rest = tokens[0], tokens[1:]
    name, _, version = head.partition("@")
    variants = [t for t in rest if t.startswith(("+", "~"))]
    others = [t for t in rest if not t.startswith(("+", "~"))]
    return name, version or None, variants, others


def merge_specs(specs: list[str], assumptions: list[str]) -> list[str]:
    """One spec per package: the highest version, with every +variant any script asked for."""
    by_name: dict[str, list[str]] = defaultdict(list)
    for spec in specs:
        by_name[spack_package_name(spec)].append(spec)
    merged = []
    for name in sorted(by_name):
        group = sorted(set(by_name[name]))
        best = max(group, key=lambda s: (_spec_parts(s)[1] is not None, version_key(_spec_parts(s)[1] or "0")))
        _, version, variants, others = _spec_parts(best)
        for spec in group:
            variants += [v for v in _spec_parts(spec)[2] if v not in variants]
        result = " ".join([f"{name}@{version}" if version else name, *sorted(variants), *others])
        if spack_spec_problem(result) is not None:
            result = best
        versions = sorted({v for s in group if (v := _spec_parts(s)[1])}, key=version_key)
        if len(versions) > 1:
            assumptions.append(f"{name}: versions {', '.join(versions)} are used; the template keeps {version}")
        merged.append(result)
    return merged


def _modules(capture: Capture) -> list[PackageUse]:
    uses: dict[str, PackageUse] = {}
    for script in capture.scripts:
        for module, mapping in zip(script.modules, script.mappings, strict=True):
            use = uses.setdefault(module, PackageUse(module, mapping))
            use.scripts += 1
    return sorted(uses.values(), key=lambda u: u.module.lower())


def build_template(capture: Capture, name: str = "captured", region: str = DEFAULT_REGION) -> Build:
    if not capture.scripts:
        raise PctlError("no batch scripts found", "give script files, or a directory holding scripts with "
                        "#SBATCH/#PBS/#$/#BSUB directives or module loads")
    assumptions: list[str] = []
    queues = _plan_queues(capture, assumptions, region)
    modules = _modules(capture)
    specs = [s for use in modules if use.mapping for s in use.mapping.all_specs]
    packages = merge_specs(specs, assumptions)
    total_nodes = sum(q.max_count for q in queues)
    head = LARGE_HEAD_NODE if total_nodes > LARGE_CLUSTER_NODES else SMALL_HEAD_NODE
    assumptions.append(f"head node {head} ({'more' if head == LARGE_HEAD_NODE else 'at most'} "
                       f"{LARGE_CLUSTER_NODES} compute nodes in all queues); region {region}; no users or data "
                       "mounts are captured from scripts: add them")
    template = {
        "cluster": {"name": cluster_name(name), "region": region},
        "compute": {
            "head_node": head,
            "queues": [{"name": q.name, "instance_types": [q.instance_type], "min_count": 0,
                        "max_count": q.max_count, "capacity_type": "ondemand"} for q in queues],
        },
        "software": {"spack_packages": packages},
        "users": [],
        "data": {},
    }
    return Build(template, queues, packages, modules, assumptions, capture)


# ---- rendering -------------------------------------------------------------------------------------

def _tojson(value: object) -> str:
    return json.dumps(value, ensure_ascii=True)


def _oneline(value: object) -> str:
    """Text safe inside a YAML comment or a markdown table cell: one line."""
    return " ".join(str(value).split())


@cache
def environment():
    from jinja2 import Environment, PackageLoader, StrictUndefined

    env = Environment(loader=PackageLoader("pctl.capture", "templates"), undefined=StrictUndefined,
                      keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True, autoescape=False)
    env.filters["tojson"] = _tojson
    env.filters["oneline"] = _oneline
    env.filters["md"] = lambda v: _oneline(v).replace("|", "\\|").replace("`", "'")
    return env


def render_yaml(build: Build) -> str:
    """The template as YAML (Jinja2, values through `tojson`), checked by pctl's own validator."""
    text = environment().get_template("template.yaml.j2").render(build=build, t=build.template)
    from pctl.validation import validate_text

    report, _ = validate_text(text, "<captured template>")
    if report.errors:
        raise PctlError("the captured template does not validate (a pctl bug):\n" + report.render(),
                        "report it with the scripts that produced it")
    return text
