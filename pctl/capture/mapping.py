"""Environment-module names -> Spack specs, from the shipped database pctl/data/spack_mapping.yaml.

`map_module("GCC/11.3.0")` gives `gcc@11.3.0` with confidence 1.0. The steps, most to least sure:
exact Spack name (1.0), alias or vendor name (0.95), the name with a trailing version glued on
(`openmpi4`, 0.85), then a difflib fuzzy match (below 0.8). Commercial software (matlab, ansys...) is
recognised first and never mapped to a spec; site modules (StdEnv, PrgEnv-*) map to nothing to install.
Unknown names give None.

EasyBuild names are understood: `GROMACS/2023.1-foss-2022a-CUDA-11.7.0` is version 2023.1, built with
the foss/2022a toolchain against CUDA 11.7.0, so `gromacs@2023.1 +cuda +mpi ^cuda@11.7.0`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import yaml

from pctl.validation.rules import spack_spec_problem

DATABASE = Path(__file__).resolve().parent.parent / "data" / "spack_mapping.yaml"

EXACT, ALIAS, GLUED_VERSION, FUZZY_MAX = 1.0, 0.95, 0.85, 0.8
FUZZY_COMMERCIAL_CUTOFF = 0.85  # closer than this to a commercial name: reported, never guessed
FUZZY_CUTOFF = 0.8  # difflib ratio below which a name is unknown rather than guessed
TOOLCHAIN_CONFIDENCE_UNKNOWN_GENERATION = 0.8

_VERSION_START = re.compile(r"^v?\d")
_GENERATION = re.compile(r"^\d{4}[ab]$")  # EasyBuild toolchain generations: 2022a, 2023b
_CLEAN_VERSION = re.compile(r"^\d[A-Za-z0-9_.]*$")
_GLUED_VERSION = re.compile(r"^([a-z][a-z0-9+_.-]*?)[-_]?v?(\d[\d.]*)$")
_DATE_VERSION = re.compile(r"^(\d{1,2})([A-Za-z]{3})(\d{4})$")
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_SPACK_HASH = re.compile(r"^[a-z0-9]{7}$")
_SPACK_HASH_LAST = re.compile(r"^[a-z2-7]{4,32}$")  # Spack's base32 DAG hash, as the last word of a module name
_MPI_PACKAGES = frozenset({"openmpi", "mpich", "mvapich2", "mvapich", "intel-oneapi-mpi", "intel-mpi", "cray-mpich",
                           "hpcx-mpi", "mpt"})


@dataclass(frozen=True)
class ModuleMapping:
    module: str
    spack: str | None
    confidence: float
    note: str = ""
    # What the mapping is: package | toolchain | commercial | site. A toolchain stands for several
    # specs; `specs` lists them all (for a package it is just the one spec).
    kind: str = "package"
    specs: tuple[str, ...] = field(default=())

    @property
    def all_specs(self) -> tuple[str, ...]:
        return self.specs or ((self.spack,) if self.spack else ())


@dataclass(frozen=True)
class _Database:
    names: dict[str, str]  # lowercase name or alias -> Spack package
    aliases: frozenset[str]  # the keys of `names` that are aliases, not Spack names
    variants: dict[str, frozenset[str]]
    min_version: dict[str, tuple]
    toolchains: dict[str, dict]
    eb_toolchains: frozenset[str]
    commercial: dict[str, tuple[str, str]]  # lowercase name or alias -> (canonical, vendor)
    site: frozenset[str]
    bundles: frozenset[str]
    fuzzy_pool: tuple[str, ...]

    @property
    def package_count(self) -> int:
        return len(set(self.names.values()))


@cache
def database(path: Path = DATABASE) -> _Database:
    """Parse the YAML once per process and index it (lowercase keys) for O(1) look-ups."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    raw = yaml.load(path.read_text(), Loader=loader)  # noqa: S506 - a safe loader
    names: dict[str, str] = {}
    aliases: set[str] = set()
    variants: dict[str, frozenset[str]] = {}
    min_version: dict[str, tuple] = {}
    for package, entry in raw["packages"].items():
        entry = entry or {}
        names[package.lower()] = package
        for alias in entry.get("aliases", []):
            names.setdefault(alias.lower(), package)
            aliases.add(alias.lower())
        variants[package] = frozenset(entry.get("variants", []))
        if "min_version" in entry:
            min_version[package] = version_key(str(entry["min_version"]))
    commercial: dict[str, tuple[str, str]] = {}
    for product, entry in raw["commercial"].items():
        commercial[product.lower()] = (product, entry.get("vendor", ""))
        for alias in entry.get("aliases", []):
            commercial[alias.lower()] = (product, entry.get("vendor", ""))
    toolchains = {k.lower(): v for k, v in raw["toolchains"].items()}
    return _Database(
        names=names,
        aliases=frozenset(aliases - {p.lower() for p in raw["packages"]}),
        variants=variants,
        min_version=min_version,
        toolchains=toolchains,
        eb_toolchains=frozenset(t.lower() for t in raw["easybuild_toolchain_names"]),
        commercial=commercial,
        site=frozenset(s.lower() for s in raw["site"]),
        bundles=frozenset(b.lower() for b in raw.get("bundles", [])),
        fuzzy_pool=tuple(sorted(set(names) | set(commercial))),
    )


def version_key(version: str) -> tuple:
    """Sortable key: numeric parts compare as numbers, others as text after numbers (1.10 > 1.9)."""
    parts = re.split(r"[._-]", version)
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


# ---- module name parsing ------------------------------------------------------------------------

@dataclass
class _Parsed:
    name: str  # the software name as written (case kept)
    version: str | None = None
    toolchain: tuple[str, str] | None = None  # (name, version) from an EasyBuild suffix
    deps: list[tuple[str, str]] = field(default_factory=list)  # (Spack package, version): CUDA-11.7.0
    suffix_words: list[str] = field(default_factory=list)  # other EasyBuild suffix words (noted only)


def _split_name(module: str) -> tuple[str, str | None]:
    """'bio/SAMtools/1.16.1-GCC-11.3.0' -> ('SAMtools', '1.16.1-GCC-11.3.0'); 'gcc' -> ('gcc', None).

    The version is the last component when it starts with a digit, or when the component before it
    is a known name (matlab/R2023a, gaussian/g16). Spack's module generators may write the build after
    the version as more components (`name/version/compiler[/mpi]/hash`): the name is then the component
    before the first version, and the rest is read like an EasyBuild suffix (compiler, MPI, hash).
    """
    parts = [p for p in module.strip().strip("/").split("/") if p]
    if not parts:
        return module, None
    first_version = next((k for k in range(1, len(parts)) if _VERSION_START.match(parts[k])), None)
    if first_version is not None and first_version < len(parts) - 1:
        return parts[first_version - 1], "-".join(parts[first_version:])
    if len(parts) >= 2:
        if _VERSION_START.match(parts[-1]):
            return parts[-2], parts[-1]
        db = database()
        before = parts[-2].lower()
        if parts[-1].lower() not in db.names and (
            before in db.names or before in db.commercial or before in db.toolchains
        ):
            return parts[-2], parts[-1]
    return parts[-1], None


def _parse(module: str) -> _Parsed:
    name, full_version = _split_name(module)
    if full_version is None:
        return _Parsed(name)
    tokens = full_version.split("-")
    parsed = _Parsed(name, tokens[0].removeprefix("v"))
    db = database()
    i = 1
    while i < len(tokens):
        word = tokens[i]
        low = word.lower()
        nxt = tokens[i + 1] if i + 1 < len(tokens) else None
        if low == "intel" and nxt and nxt.lower() == "compilers":  # `intel-compilers-2022.1.0`
            low, nxt, i = "intel-compilers", (tokens[i + 2] if i + 2 < len(tokens) else None), i + 1
        if low in db.eb_toolchains and nxt and _VERSION_START.match(nxt) and parsed.toolchain is None:
            parsed.toolchain = (low, nxt)
            i += 2
        elif nxt and _VERSION_START.match(nxt) and low in db.names:  # CUDA-11.7.0, Python-3.10.4
            parsed.deps.append((db.names[low], nxt))
            i += 2
        elif (joined := _multiword(tokens, i)) is not None:  # intel-oneapi-mpi-2021.9.0
            package, words = joined
            parsed.deps.append((package, tokens[i + words]))
            i += words + 1
        elif (_SPACK_HASH.match(word) and any(c.isdigit() for c in word)) or (
                i == len(tokens) - 1 and _SPACK_HASH_LAST.match(word)):
            i += 1  # Spack module suffix hash (openmpi/4.1.5-gcc-12.2.0-abcdefg)
        else:
            parsed.suffix_words.append(word)
            i += 1
    return parsed


def _multiword(tokens: list[str], i: int) -> tuple[str, int] | None:
    """(package, words) when tokens[i:i+words] name a known package and a version follows."""
    db = database()
    for words in (4, 3, 2):
        if i + words < len(tokens) and _VERSION_START.match(tokens[i + words]):
            name = "-".join(tokens[i:i + words]).lower()
            if name in db.names:
                return db.names[name], words
    return None


# ---- look-ups -----------------------------------------------------------------------------------

def _commercial(low: str) -> tuple[str, str] | None:
    db = database()
    if low in db.commercial:
        return db.commercial[low]
    for key, value in db.commercial.items():
        # matlab-runtime, ansys_2023r1, comsol62: the product name followed by a non-letter.
        if len(key) >= 4 and low.startswith(key) and not low[len(key)].isalpha():
            return value
    return None


def _lookup(name: str) -> tuple[str, float, str] | None:
    """(spack package, confidence, how) for a bare software name, or None."""
    db = database()
    low = name.lower()
    if low in db.names:
        return db.names[low], (ALIAS if low in db.aliases else EXACT), ("alias" if low in db.aliases else "exact")
    if len(low) >= 4:
        close = difflib.get_close_matches(low, db.fuzzy_pool, n=1, cutoff=FUZZY_CUTOFF)
        if close and close[0] in db.names:
            ratio = difflib.SequenceMatcher(None, low, close[0]).ratio()
            return db.names[close[0]], round(FUZZY_MAX * ratio, 2), f"fuzzy match to {close[0]!r}"
    return None


def _fuzzy_commercial(low: str) -> tuple[str, str] | None:
    if len(low) < 4:
        return None
    db = database()
    close = difflib.get_close_matches(low, db.fuzzy_pool, n=1, cutoff=FUZZY_COMMERCIAL_CUTOFF)
    return db.commercial.get(close[0]) if close else None


def _spec(package: str, parsed: _Parsed, notes: list[str]) -> str:
    db = database()
    version = parsed.version
    if version and (version.lower() in ("default", "latest", "stable") or parsed.name.lower() in db.bundles):
        version = None  # a bundle's version (SciPy-bundle/2022.05) is not its package's version
    date = _DATE_VERSION.match(version or "")
    if date and date.group(2).lower() in _MONTHS:
        # LAMMPS-style release names (2Aug2023) are dates; Spack spells them 20230802.
        iso = f"{date.group(3)}{_MONTHS.index(date.group(2).lower()) + 1:02d}{int(date.group(1)):02d}"
        notes.append(f"release {version} written as Spack version {iso}")
        version = iso
    if version and not _CLEAN_VERSION.match(version):
        notes.append(f"version {version!r} is not a Spack version; left to Spack")
        version = None
    if version and package in db.min_version and version_key(version) < db.min_version[package]:
        notes.append(f"version {version} predates the {package} product Spack packages; latest used")
        version = None
    supported = db.variants.get(package, frozenset())
    variants: list[str] = []
    deps: list[str] = []
    if parsed.toolchain:
        tc = db.toolchains.get(parsed.toolchain[0])
        if tc and tc.get("mpi") and "mpi" in supported:
            variants.append("mpi")
        notes.append(f"built with toolchain {parsed.toolchain[0]}/{parsed.toolchain[1]}")
    if "mpi" in (w.lower() for w in parsed.suffix_words) and "mpi" in supported and "mpi" not in variants:
        variants.append("mpi")
    for dep, dep_version in parsed.deps:
        if dep in _MPI_PACKAGES:
            if "mpi" in supported and "mpi" not in variants:
                variants.append("mpi")
            notes.append(f"built against MPI {dep} {dep_version} (not pinned)")
        elif dep == "cuda" and "cuda" in supported:
            # ^cuda only with +cuda: a package without the variant may not depend on CUDA at all.
            variants.append("cuda")
            if _CLEAN_VERSION.match(dep_version):
                deps.append(f"^cuda@{dep_version}")
        else:
            notes.append(f"built against {dep} {dep_version} (not pinned)")
    if parsed.suffix_words:
        notes.append(f"EasyBuild suffix {'-'.join(parsed.suffix_words)!r} not mapped")
    head = f"{package}@{version}" if version else package
    candidate = " ".join([head, *(f"+{v}" for v in sorted(variants)), *deps])
    # Belt and braces: never hand out a spec the template validator would refuse.
    return candidate if spack_spec_problem(candidate) is None else package


def _toolchain(module: str, name_low: str, version: str | None) -> ModuleMapping | None:
    db = database()
    tc = db.toolchains.get(name_low)
    generation = version.split("-")[0] if version else None
    if tc is None or (generation is not None and not _GENERATION.match(generation)):
        return None
    specs = tc["generations"].get(generation)
    confidence = EXACT
    note = f"{tc['note']}, generation {generation or '(none given)'}"
    if specs is None:
        specs, confidence = tc["unversioned"], TOOLCHAIN_CONFIDENCE_UNKNOWN_GENERATION
        note += " (generation not in the database: versions left to Spack)"
    specs = tuple(specs)
    note += ": " + " + ".join(specs)
    return ModuleMapping(module, specs[0], confidence, note, kind="toolchain", specs=specs)


@lru_cache(maxsize=8192)
def map_module(name: str) -> ModuleMapping | None:
    """Map one module name (as written after `module load`) to a Spack spec; None when unknown."""
    module = name.strip()
    if not module:
        return None
    db = database()
    parsed = _parse(module)
    low = parsed.name.lower()
    components = [c.lower() for c in module.split("/") if c]
    product = next((p for p in map(_commercial, [low, *components[:-1]]) if p), None)
    if product is None and low not in db.names:
        product = _fuzzy_commercial(low)
    if product:
        canonical, vendor = product
        return ModuleMapping(module, None, EXACT,
                             f"commercial software ({canonical}, {vendor}): licensed, not installable with Spack; "
                             "install it yourself (or use the vendor's AMI/marketplace image)",
                             kind="commercial")
    if low in db.site or module.lower() in db.site:
        return ModuleMapping(module, None, EXACT, "site environment module: nothing to install", kind="site")
    toolchain = _toolchain(module, low, parsed.version)
    if toolchain:
        return toolchain
    if parsed.version is None and low not in db.names and "/" not in module:
        # Spack's flat tcl names: `gromacs-2023.1-gcc-12.2.0-abcdefg` (name, then version and build).
        rest = re.split(r"-(?=v?\d)", module, maxsplit=1)
        if len(rest) == 2 and rest[0].lower() in db.names and "-" in rest[1]:
            flat = _parse(f"{rest[0]}/{rest[1]}")
            package = db.names[rest[0].lower()]
            notes = [f"Spack module name {module}: package {package}"]
            return ModuleMapping(module, _spec(package, flat, notes), EXACT, "; ".join(notes))
    if parsed.version is None and low not in db.names:
        # `gcc-12.2.0` / `openmpi4` (no slash): a version glued to the name.
        m = _GLUED_VERSION.match(low)
        if m and m.group(1) in db.names:
            glued = _Parsed(parsed.name[: len(m.group(1))], m.group(2))
            package = db.names[m.group(1)]
            notes = [f"version glued to the name: {parsed.name} -> {package}@{m.group(2)}"]
            return ModuleMapping(module, _spec(package, glued, notes), GLUED_VERSION, "; ".join(notes))
    found = _lookup(parsed.name)
    if found is None:
        return None
    package, confidence, how = found
    notes = [] if how == "exact" else [f"{how}: {parsed.name} -> {package}"]
    spec = _spec(package, parsed, notes)
    return ModuleMapping(module, spec, confidence, "; ".join(notes))
