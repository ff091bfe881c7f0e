"""A job's per-node needs -> an EC2 instance type from the shipped table (pctl.instance_types).

The cheapest type (us-east-1 on-demand price in the table) of the right architecture that has the
cpus, memory and GPUs. Burstable t-types are never suggested for compute, CPU jobs never get a
GPU type, and the hpc* families are left out (they exist in a few regions only, not us-east-1). A GPU
model named in the script (`--gres=gpu:a100:2`) narrows the choice to the families that carry it. When nothing is big enough, the largest type is returned with a low confidence and a
reason that says the job must span nodes.
"""

from __future__ import annotations

import re

from pctl.instance_types import offered_in, types

_GENERATION = re.compile(r"^[a-z]+(\d+)")
# Slurm on a ParallelCluster node schedules 95% of the EC2 memory by default (SchedulableMemory); the OS,
# slurmd and the page cache need the rest. A job asking for 128 GiB therefore does not fit a 128 GiB node.
SCHEDULABLE_MEMORY_FRACTION = 0.95


def usable_memory_gib(facts: dict) -> float:
    """What Slurm lets jobs use on a node of this type (GiB)."""
    return facts["memory_gib"] * SCHEDULABLE_MEMORY_FRACTION
# GPU model (as sites name it in gres) -> the EC2 families that carry it.
GPU_FAMILIES: dict[str, tuple[str, ...]] = {
    "a100": ("p4d", "p4de"), "h100": ("p5",), "h200": ("p5e", "p5en"), "v100": ("p3", "p3dn"),
    "t4": ("g4dn",), "a10g": ("g5",), "a10": ("g5",), "l4": ("g6",), "l40s": ("g6e",),
}


def _candidates(arch: str, gpus: int, region: str | None = None) -> list[tuple[str, dict]]:
    out = []
    for name, facts in types().items():
        if facts["arch"] != arch or name.startswith(("t", "hpc")):
            continue
        if region and offered_in(name, region) is False:
            continue
        if (gpus > 0) != (facts.get("gpus", 0) > 0):
            continue
        out.append((name, facts))
    return out


def _generation(name: str) -> int:
    m = _GENERATION.match(name)
    return int(m.group(1)) if m else 0


def suggest_instance_type(cpus: int, memory_gb: float, gpus: int = 0, arch: str = "x86_64", *,
                          gpu_model: str | None = None, region: str | None = None) -> tuple[str, float, str]:
    """(instance_type, confidence, reason) for one node needing `cpus` vCPUs, `memory_gb` GiB and `gpus` GPUs.

    With no GPU type of that architecture in the table (arm64), the CPU-only suggestion comes back with
    confidence 0.1 and a reason saying so. Raises ValueError for an architecture the table lacks.
    """
    cpus, memory_gb, gpus = max(int(cpus), 1), max(float(memory_gb or 0), 0.0), max(int(gpus or 0), 0)
    pool = _candidates(arch, gpus, region)
    if not pool and gpus:
        name, _, reason = suggest_instance_type(cpus, memory_gb, 0, arch, region=region)
        return name, 0.1, f"the table has no {arch} GPU type: {gpus} GPU(s) NOT provided; {reason}"
    if not pool:
        raise ValueError(f"the instance table has no {arch} types")
    families = GPU_FAMILIES.get((gpu_model or "").lower()) if gpus else None
    if families:
        narrowed = [(n, f) for n, f in pool if n.split(".")[0] in families]
        pool = narrowed or pool
    fits = [(n, f) for n, f in pool
            if f["vcpus"] >= cpus and usable_memory_gib(f) >= memory_gb and f.get("gpus", 0) >= gpus]
    need = f"{cpus} vCPU, {memory_gb:g} GiB" + (f", {gpus} GPU" if gpus else "")
    if not fits:
        def coverage(nf: tuple[str, dict]) -> tuple:
            f = nf[1]
            mem = min(usable_memory_gib(f) / memory_gb, 1.0) if memory_gb else 1.0
            return (f.get("gpus", 0) >= gpus, min(f["vcpus"] / cpus, 1.0) + mem, f["vcpus"])

        name, f = max(pool, key=coverage)
        return name, 0.3, (f"no single {arch} type in the table has {need}; {name} comes closest "
                           f"({f['vcpus']} vCPU, {f['memory_gib']:g} GiB): run the job across more nodes")
    # Cheapest first; on a price tie the newer generation, then the smaller type.
    name, f = min(fits, key=lambda nf: (nf[1]["price_usd_hour"], -_generation(nf[0]), nf[1]["vcpus"]))
    # Confidence falls as the type outgrows the job: paying for idle cores is the usual sizing error.
    use = max(cpus / f["vcpus"], (memory_gb / usable_memory_gib(f)) if memory_gb else 0.0)
    confidence = round(0.6 + 0.35 * min(use, 1.0), 2)
    reason = (f"cheapest {arch} type with {need} (memory: {SCHEDULABLE_MEMORY_FRACTION:.0%} of a node's is "
              f"schedulable): {name} ({f['vcpus']} vCPU, {f['memory_gib']:g} GiB"
              + (f", {f['gpus']} GPU" if f.get("gpus") else "") + f", ${f['price_usd_hour']}/h on demand)")
    return name, confidence, reason
