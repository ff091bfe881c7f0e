"""The Spack CPU target of a cluster: the newest microarchitecture every node type runs.

Spack builds for the build host's own CPU unless told otherwise. A head node with AVX-512 (t3, c6i)
building for an AMD queue (c6a) or an older Intel one (c5n) gives binaries that die with "illegal
instruction" there. `cluster_target(types)` names the newest archspec microarchitecture that every
instance type of the cluster (the head node and every queue's types) can run; the node scripts pin
it in the Spack environment (`packages: all: require: target=...`) and the AMI fingerprint includes it.

Instance type -> microarchitecture comes from the instance family, per AWS's published processor of
each family:
- "Amazon EC2 instance type specifications", the Processor column of the general purpose, compute
  optimized, memory optimized, storage optimized, accelerated computing and HPC tables
  (https://docs.aws.amazon.com/ec2/latest/instancetypes/ec2-instance-type-specifications.html);
- AWS Graviton processor generations (https://aws.amazon.com/ec2/graviton/): Graviton2 is Neoverse
  N1, Graviton3/3E Neoverse V1, Graviton4 Neoverse V2;
- archspec's microarchitecture graph (microarchitectures.json, PyPI `archspec`) for which target runs
  on which CPU, and the names themselves.
Where AWS runs one family on two CPU generations (c5, m5, r5, t3: Skylake or Cascade Lake; m4:
Haswell or Broadwell) the older is taken, because a node may land on either.

archspec is imported lazily: `pctl validate` does not pay for it.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable

from pctl import instance_types

# Families whose processor does not follow the generation rule below (explicit, from AWS's tables).
FAMILY_TARGETS: dict[str, str] = {
    # Intel Haswell / Broadwell
    "c4": "haswell", "m4": "haswell", "x1": "haswell", "x1e": "haswell", "d2": "haswell",
    "r4": "broadwell", "i3": "broadwell", "p3": "broadwell", "h1": "broadwell", "f1": "broadwell",
    "g3": "broadwell", "g3s": "broadwell", "p2": "broadwell",
    # Intel Skylake-SP (or Cascade Lake on some hosts: the older wins)
    "c5": "skylake_avx512", "c5d": "skylake_avx512", "c5n": "skylake_avx512",
    "m5": "skylake_avx512", "m5d": "skylake_avx512", "r5": "skylake_avx512", "r5d": "skylake_avx512",
    "t3": "skylake_avx512", "z1d": "skylake_avx512", "i3en": "skylake_avx512", "p3dn": "skylake_avx512",
    # Intel Cascade Lake
    "m5n": "cascadelake", "m5dn": "cascadelake", "m5zn": "cascadelake", "r5n": "cascadelake",
    "r5dn": "cascadelake", "r5b": "cascadelake", "d3": "cascadelake", "d3en": "cascadelake",
    "g4dn": "cascadelake", "p4d": "cascadelake", "p4de": "cascadelake", "inf1": "cascadelake",
    "x2iezn": "cascadelake", "dl1": "cascadelake", "vt1": "cascadelake",
    # Intel Ice Lake
    "x2idn": "icelake", "x2iedn": "icelake", "i4i": "icelake", "trn1": "icelake", "trn1n": "icelake",
    # Intel Sapphire Rapids
    "u7i": "sapphirerapids", "trn2": "sapphirerapids", "i7ie": "sapphirerapids",
    # AMD EPYC 1st gen (Naples), 2nd gen (Rome)
    "m5a": "zen", "m5ad": "zen", "r5a": "zen", "r5ad": "zen", "t3a": "zen",
    "c5a": "zen2", "c5ad": "zen2", "g4ad": "zen2", "g5": "zen2",
    # AMD EPYC 3rd gen (Milan) in accelerated families
    "p5": "zen3", "p5e": "zen3", "g6": "zen3", "g6e": "zen3", "gr6": "zen3", "p5en": "sapphirerapids", "inf2": "zen3",
    # Graviton (1: Cortex-A72, 2: Neoverse N1)
    "a1": "cortex_a72", "t4g": "neoverse_n1", "x2gd": "neoverse_n1", "im4gn": "neoverse_n1",
    "is4gen": "neoverse_n1", "i4g": "neoverse_n1", "g5g": "neoverse_n1",
}

# The generation rule of AWS's current naming: <series><generation><processor letter>[attributes].
# Processor letter i = Intel, a = AMD, g = Graviton; generation 6, 7, 8.
GENERATION_TARGETS: dict[tuple[str, int], str] = {
    ("i", 6): "icelake", ("i", 7): "sapphirerapids", ("i", 8): "sapphirerapids",  # 8: Granite Rapids
    ("a", 6): "zen3", ("a", 7): "zen4", ("a", 8): "zen5",
    ("g", 6): "neoverse_n1", ("g", 7): "neoverse_v1", ("g", 8): "neoverse_v2",
}

# The generic level when a family is unknown: every CPU of that architecture AWS sells runs it.
GENERIC_TARGETS = {"x86_64": "x86_64_v2", "arm64": "aarch64"}

_FAMILY_RE = re.compile(r"([a-z]+)(\d+)([a-z]*)(?:-[a-z0-9]+)?")


class UnknownInstanceFamily(UserWarning):
    """An instance family with no known processor: its architecture's generic target is used."""


def family(instance_type: str) -> str:
    """'c6in.xlarge' -> 'c6in'; 'c7i-flex.large' -> 'c7i' (the part before '.', less any -suffix)."""
    return instance_type.split(".", 1)[0].split("-", 1)[0]


def instance_target(instance_type: str) -> str | None:
    """The archspec microarchitecture of one instance type; None when its family is not known.

    Explicit families first (FAMILY_TARGETS), then the generation rule (GENERATION_TARGETS) for the
    i/a/g processor letter after the generation digit (c6i, m7a, hpc7g, r8g, c6in, m6idn...).
    """
    fam = family(instance_type)
    if fam in FAMILY_TARGETS:
        return FAMILY_TARGETS[fam]
    m = _FAMILY_RE.fullmatch(fam)
    if not m:
        return None
    _series, generation, attributes = m.groups()
    if attributes and (attributes[0], int(generation)) in GENERATION_TARGETS:
        return GENERATION_TARGETS[(attributes[0], int(generation))]
    return None


def unknown_types(types: Iterable[str]) -> list[str]:
    """The instance types whose family has no known microarchitecture (for a validator's warning)."""
    return sorted({t for t in types if instance_target(t) is None})


def cluster_target(types: Iterable[str]) -> str:
    """The newest archspec microarchitecture that every instance type in `types` runs.

    `types`: the head node's and every queue's instance types. Returns an archspec target name
    (e.g. icelake + zen3 -> 'x86_64_v3'; c7g + c6g -> 'neoverse_n1'). An unknown family counts as
    its architecture's generic level (x86_64_v2 or aarch64) and raises an UnknownInstanceFamily
    warning. Raises ValueError for no types, a name that is not an instance type, or x86_64 mixed
    with arm64 (ParallelCluster refuses that mix too).
    """
    import archspec.cpu

    names = sorted(set(types))
    if not names:
        raise ValueError("no instance types: the cluster target needs the head node's type at least")
    targets = set()
    arches = set()
    for name in names:
        arch = instance_types.architecture(name)
        if arch is None:
            raise ValueError(f"{name!r} is not an EC2 instance type")
        arches.add(arch)
        uarch = instance_target(name)
        if uarch is None or uarch not in archspec.cpu.TARGETS:
            uarch = GENERIC_TARGETS[arch]
            warnings.warn(f"instance type {name}: unknown processor family {family(name)!r}; "
                          f"building for the generic {uarch}", UnknownInstanceFamily, stacklevel=2)
        targets.add(archspec.cpu.TARGETS[uarch])
    if len(arches) > 1:
        raise ValueError(f"instance types mix architectures ({', '.join(sorted(arches))}): {', '.join(names)}")
    common = None
    for t in targets:
        runs_on_t = {t, *t.ancestors}  # everything that runs on a CPU of microarchitecture t
        common = runs_on_t if common is None else common & runs_on_t
    # The newest common one: the deepest in archspec's graph (most ancestors); ties by name.
    return max(common, key=lambda t: (len(t.ancestors), t.name)).name
