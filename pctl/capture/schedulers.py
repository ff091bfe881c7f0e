"""Batch directives (#SBATCH, #PBS, #$, #BSUB) -> one normalised resource request.

Each scheduler's parser fills a `Request` with what the script states; `normalise` turns it into
`Resources` (nodes, total cpus, cpus per node, memory per node, GPUs per node, walltime, queue) and
records every assumption it has to make.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from pctl.capture import units

SLURM, PBS, SGE, LSF, NONE = "slurm", "pbs", "sge", "lsf", "none"
PREFIXES = {"#SBATCH": SLURM, "#PBS": PBS, "#$": SGE, "#BSUB": LSF}
# Slurm, PBS and LSF stop reading directives at the first command; SGE reads the whole file.
READS_WHOLE_FILE = frozenset({SGE})


@dataclass
class Request:
    nodes: int | None = None
    tasks: int | None = None
    tasks_per_node: int | None = None
    cpus_per_task: int | None = None
    cpus_per_node: int | None = None
    mem_per_node_mib: float | None = None
    mem_per_cpu_mib: float | None = None
    mem_total_mib: float | None = None
    mem_per_gpu_mib: float | None = None
    gpus_per_node: int | None = None
    gpus_total: int | None = None
    gpus_per_task: int | None = None
    gpu_type: str | None = None
    walltime_minutes: int | None = None
    queue: str | None = None
    exclusive: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Resources:
    nodes: int = 1
    cpus: int = 1  # total over the job
    cpus_per_node: int = 1
    memory_gb: float | None = None  # per node
    gpus: int = 0  # per node
    gpu_type: str | None = None
    walltime_minutes: int | None = None
    queue: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


_QUOTED_WORD = re.compile(r"""(?:[^\s"']+|"[^"]*"|'[^']*')+""")


def tokens(text: str) -> list[str]:
    """Split a directive's arguments like the shell; a trailing `# comment` is dropped.

    Fast paths: no quotes -> str.split; simple quotes (no backslashes) -> one regex; else shlex."""
    if '"' in text or "'" in text:
        if "\\" in text:
            try:
                return shlex.split(text, comments=True)
            except ValueError:
                pass
        words = []
        for word in _QUOTED_WORD.findall(text):
            if word.startswith("#"):
                break
            words.append(word.replace('"', "").replace("'", ""))
        return words
    cut = text.find(" #")
    return (text[:cut] if cut >= 0 else text).split()


def _options(args: list[str], short_with_value: str, long_flags: frozenset[str], short_flags: str = ""):
    """getopt-like walk yielding (option, value). Long: --opt=val, --opt val; short: -n4, -n 4."""
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("--"):
            name, eq, value = arg[2:].partition("=")
            if not eq and name not in long_flags and i < len(args) and not args[i].startswith("-"):
                value, i = args[i], i + 1
            yield name, (value if eq or name not in long_flags else "")
        elif arg.startswith("-") and len(arg) >= 2:
            letter, rest = arg[1], arg[2:].lstrip("=")
            if letter in short_flags:
                yield letter, ""
            elif rest:
                yield letter, rest
            elif letter in short_with_value and i < len(args):
                yield letter, args[i]
                i += 1
            else:
                yield letter, ""


# ---- Slurm ---------------------------------------------------------------------------------------

_SLURM_SHORT = {"N": "nodes", "n": "ntasks", "c": "cpus-per-task", "t": "time", "p": "partition",
                "G": "gpus", "J": "job-name", "o": "output", "e": "error", "A": "account", "q": "qos",
                "C": "constraint", "a": "array", "d": "dependency", "D": "chdir", "w": "nodelist",
                "x": "exclude", "L": "licenses", "M": "clusters", "m": "distribution", "i": "input",
                "b": "begin", "F": "nodefile"}
_SLURM_LONG_FLAGS = frozenset({"exclusive", "requeue", "no-requeue", "hold", "overcommit", "oversubscribe",
                               "contiguous", "wait", "test-only", "verbose", "quiet", "parsable",
                               "use-min-nodes", "spread-job", "no-kill", "get-user-env", "ignore-pbs",
                               "export-file", "reboot", "mem-bind", "kill-on-invalid-dep"})


def _gpu_count(spec: str) -> tuple[int, str | None]:
    """'a100:2' -> (2, 'a100'); '2' -> (2, None); 'a100' -> (1, 'a100')."""
    fields = spec.split(":")
    if fields[-1].isdigit():
        return int(fields[-1]), (fields[-2] if len(fields) >= 2 else None)
    return 1, fields[-1] or None


def parse_slurm(lines: Iterable[str]) -> Request:
    r = Request()
    args = [t for line in lines for t in tokens(line)]
    for opt, value in _options(args, "".join(_SLURM_SHORT), _SLURM_LONG_FLAGS, short_flags="HIkOQsvWh"):
        name = _SLURM_SHORT.get(opt, opt)
        if name == "nodes":
            r.nodes = units.int_or_max(value)
        elif name == "ntasks":
            r.tasks = units.int_or_max(value)
        elif name == "ntasks-per-node":
            r.tasks_per_node = units.int_or_max(value)
        elif name == "cpus-per-task":
            r.cpus_per_task = units.int_or_max(value)
        elif name == "mem":
            mib = units.size_mib(value, "m")
            if mib == 0:
                r.exclusive = True
                r.notes.append("--mem=0 asks for all of a node's memory: sized from the cpus instead")
            else:
                r.mem_per_node_mib = mib
        elif name == "mem-per-cpu":
            r.mem_per_cpu_mib = units.size_mib(value, "m")
        elif name == "mem-per-gpu":
            r.mem_per_gpu_mib = units.size_mib(value, "m")
        elif name == "time":
            r.walltime_minutes = units.slurm_minutes(value)
            if r.walltime_minutes is None:
                r.notes.append(f"walltime {value!r} is unlimited or unreadable")
        elif name == "partition":
            parts = [p for p in value.split(",") if p]
            r.queue = parts[0] if parts else None
            if len(parts) > 1:
                r.notes.append(f"several partitions ({value}): the first, {parts[0]}, is used")
        elif name == "gres":
            for item in value.split(","):
                item = item.removeprefix("gres/")
                if item == "gpu" or item.startswith("gpu:"):
                    count, kind = _gpu_count(item[4:]) if item != "gpu" else (1, None)
                    r.gpus_per_node, r.gpu_type = count, kind or r.gpu_type
        elif name == "gpus":
            r.gpus_total, kind = _gpu_count(value)
            r.gpu_type = kind or r.gpu_type
        elif name == "gpus-per-node":
            r.gpus_per_node, kind = _gpu_count(value)
            r.gpu_type = kind or r.gpu_type
        elif name == "gpus-per-task":
            r.gpus_per_task, kind = _gpu_count(value)
            r.gpu_type = kind or r.gpu_type
        elif name == "exclusive":
            r.exclusive = True
    return r


# ---- PBS / Torque ----------------------------------------------------------------------------------

def _pbs_chunks(value: str, count_key: str) -> tuple[int, dict[str, str], int]:
    """nodes=2:ppn=16+1:ppn=8 / select=2:ncpus=16:mem=8gb -> (total nodes, largest chunk's props, chunks)."""
    total, biggest, biggest_cpus = 0, {}, -1
    chunks = [c for c in value.split("+") if c]
    for chunk in chunks:
        fields = chunk.split(":")
        count = int(fields[0]) if fields[0].isdigit() else 1  # a host name counts as one node
        props = dict(f.split("=", 1) for f in fields if "=" in f)
        total += count
        cpus = int(props.get(count_key, "1")) if props.get(count_key, "1").isdigit() else 1
        if cpus > biggest_cpus:
            biggest, biggest_cpus = props, cpus
    return total, biggest, len(chunks)


# PBS/Torque resources that do not size a node: read, and said to be left out (never silently dropped).
_PBS_NOT_SIZING = {
    "place": "placement", "host": "host choice", "arch": "architecture", "naccesspolicy": "node access policy",
    "feature": "node feature", "software": "software licence", "file": "file size limit", "cput": "CPU time limit",
    "pcput": "per-process CPU time limit", "vmem": "virtual memory limit", "pvmem": "per-process virtual memory limit",
    "nice": "priority", "epilogue": "epilogue script", "prologue": "prologue script", "qos": "QOS",
    "partition": "partition", "signal": "signal", "depend": "dependency", "naccess": "node access",
}


def _pbs_resources(r: Request, resource_list: str) -> None:
    # select=... may hold '+' and ':', never ','; the list itself is comma separated.
    for item in resource_list.split(","):
        key, _, value = item.partition("=")
        key = key.strip().lower()
        if not key:
            continue
        if key == "procs":
            # Torque: N processors anywhere in the cluster, not per node.
            r.tasks = units.int_or_max(value)
            r.notes.append(f"Torque procs={value}: {value} processors the scheduler may place on any nodes; "
                           "sized as tasks of one cpu each")
        elif key == "nodes":
            r.nodes, props, chunks = _pbs_chunks(value, "ppn")
            if "ppn" in props:
                r.cpus_per_node = units.int_or_max(props["ppn"])
            if "gpus" in props:
                r.gpus_per_node = units.int_or_max(props["gpus"])
            if chunks > 1:
                r.notes.append("several node specs: sized for the largest")
        elif key == "select":
            r.nodes, props, chunks = _pbs_chunks(value, "ncpus")
            if "ncpus" in props:
                r.cpus_per_node = units.int_or_max(props["ncpus"])
            if "mpiprocs" in props:
                r.tasks_per_node = units.int_or_max(props["mpiprocs"])
            if "mem" in props:
                r.mem_per_node_mib = units.size_mib(props["mem"], "b")
            if "ngpus" in props:
                r.gpus_per_node = units.int_or_max(props["ngpus"])
            if chunks > 1:
                r.notes.append("several select chunks: sized for the largest")
        elif key == "walltime":
            r.walltime_minutes = units.clock_minutes(value)
        elif key == "mem":
            r.mem_total_mib = units.size_mib(value, "b")
        elif key == "pmem":
            r.mem_per_cpu_mib = units.size_mib(value, "b")
            if r.mem_per_cpu_mib is None:
                r.notes.append(f"pmem={value} is not a size pctl reads: ignored")
        elif key == "ncpus":
            r.cpus_per_node = units.int_or_max(value)
        elif key in ("ngpus", "gpus"):
            r.gpus_per_node = units.int_or_max(value)
        elif key in _PBS_NOT_SIZING:
            r.notes.append(f"PBS resource {key}={value} ({_PBS_NOT_SIZING[key]}) does not size a node: not captured")
        else:
            r.notes.append(f"PBS resource {key}={value} not understood: not captured")


def parse_pbs(lines: Iterable[str]) -> Request:
    r = Request()
    args = [t for line in lines for t in tokens(line)]
    for opt, value in _options(args, "lqNoeAWjmMJrSvPaCdDuc", frozenset(), short_flags="VhIXzf"):
        if opt == "l":
            _pbs_resources(r, value)
        elif opt == "q":
            r.queue = value.split("@", 1)[0] or None
    return r


# ---- SGE -----------------------------------------------------------------------------------------

_SGE_MEMORY = ("h_vmem", "s_vmem", "mem_free", "virtual_free", "vf", "mem_req", "m_mem_free", "h_data", "mem")
_SGE_GPUS = ("gpu", "gpus", "ngpus", "cuda")
_SGE_SINGLE_NODE_PE = re.compile(r"smp|shared|thread|openmp|omp|single|make", re.I)
SGE_SLOTS_PER_NODE = 64  # how capture spreads a large multi-host PE: stated as an assumption


def parse_sge(lines: Iterable[str]) -> Request:
    r = Request()
    for line in lines:
        args = tokens(line)
        i = 0
        while i < len(args):
            opt = args[i].lstrip("-")
            i += 1
            if opt == "pe" and i + 1 < len(args):
                pe, slots = args[i], units.int_or_max(args[i + 1])
                i += 2
                if slots:
                    if _SGE_SINGLE_NODE_PE.search(pe) or slots <= SGE_SLOTS_PER_NODE:
                        r.nodes, r.tasks = 1, slots
                        if not _SGE_SINGLE_NODE_PE.search(pe):
                            r.notes.append(f"parallel environment {pe!r} may spread slots over hosts: sized as one node")
                    else:
                        r.nodes = math.ceil(slots / SGE_SLOTS_PER_NODE)
                        r.tasks = slots
                        r.notes.append(f"parallel environment {pe!r} with {slots} slots: assumed "
                                       f"{SGE_SLOTS_PER_NODE} slots per host, {r.nodes} nodes")
            elif opt in ("l", "hard", "soft") and i < len(args):
                if opt != "l":
                    continue
                for item in args[i].split(","):
                    key, _, value = item.partition("=")
                    key = key.strip().lower()
                    if key in ("h_rt", "s_rt"):
                        r.walltime_minutes = units.clock_minutes(value)
                    elif key in _SGE_MEMORY:
                        # SGE memory requests are per slot.
                        r.mem_per_cpu_mib = units.size_mib(value, "b")
                    elif key in _SGE_GPUS:
                        r.gpus_per_node = units.int_or_max(value)
                i += 1
            elif opt == "q" and i < len(args):
                r.queue = args[i].split(",")[0].split("@", 1)[0] or None
                i += 1
            elif opt in ("cwd", "V", "notify", "terse", "h", "verify", "sync"):
                continue
            elif i < len(args) and not args[i].startswith("-"):
                i += 1  # -N name, -o path, -j y, -S /bin/bash ...
    return r


# ---- LSF -----------------------------------------------------------------------------------------

_LSF_RUSAGE_MEM = re.compile(r"rusage\s*\[[^\]]*?\bmem\s*=\s*([\d.]+\s*[a-zA-Z]*)", re.I)
_LSF_PTILE = re.compile(r"span\s*\[[^\]]*?\bptile\s*=\s*(\d+)", re.I)
_LSF_HOSTS = re.compile(r"span\s*\[[^\]]*?\bhosts\s*=\s*(\d+)", re.I)
_LSF_GPU_NUM = re.compile(r"\bnum\s*=\s*(\d+)")


def parse_lsf(lines: Iterable[str]) -> Request:
    r = Request()
    args = [t for line in lines for t in tokens(line)]
    i = 0
    while i < len(args):
        opt = args[i]
        i += 1
        value = args[i] if i < len(args) else ""
        if opt in ("-x", "-B", "-N", "-I", "-K", "-r", "-rn", "-Is", "-Ip", "-H", "-tty"):
            if opt == "-x":
                r.exclusive = True
            continue
        if opt.startswith("-n") and len(opt) > 2 and opt[2:].isdigit():
            r.tasks = int(opt[2:])
            continue
        i += 1
        if opt == "-n":
            r.tasks = units.int_or_max(value)
        elif opt == "-W":
            r.walltime_minutes = units.lsf_minutes(value)
        elif opt == "-q":
            r.queue = value.split()[0] if value.split() else None
        elif opt == "-R":
            m = _LSF_RUSAGE_MEM.search(value)
            if m:
                r.mem_per_cpu_mib = units.size_mib(m.group(1), "m")
                r.notes.append("LSF rusage[mem] read as MB per slot (RESOURCE_RESERVE_PER_TASK=Y, "
                               "LSF_UNIT_FOR_LIMITS=MB): check lsb.params/lsf.conf")
            m = _LSF_PTILE.search(value)
            if m:
                r.tasks_per_node = int(m.group(1))
            m = _LSF_HOSTS.search(value)
            if m:
                r.nodes = int(m.group(1))
        elif opt == "-M" and r.mem_per_cpu_mib is None:
            r.mem_per_cpu_mib = units.size_mib(value, "m")
            r.notes.append("LSF -M read as MB per process (LSF_UNIT_FOR_LIMITS=MB)")
        elif opt == "-gpu":
            m = _LSF_GPU_NUM.search(value)
            r.gpus_per_node = int(m.group(1)) if m else 1
        elif not value or value.startswith("-"):
            i -= 1  # an option we do not know, without a value
    return r


PARSERS: dict[str, Callable[[Iterable[str]], Request]] = {SLURM: parse_slurm, PBS: parse_pbs, SGE: parse_sge, LSF: parse_lsf}

# Typical memory per CPU when a script states none; the report lists it as an assumption.
DEFAULT_MEM_PER_CPU_GB = 2.0


def normalise(r: Request, assumptions: list[str]) -> Resources:
    """Fill the gaps the way the scheduler would, recording each assumption."""
    assumptions.extend(r.notes)
    nodes = r.nodes
    if nodes is None and r.tasks and r.tasks_per_node:
        nodes = math.ceil(r.tasks / r.tasks_per_node)
    nodes = max(nodes or 1, 1)
    cpt = r.cpus_per_task or 1
    tasks = r.tasks or ((r.tasks_per_node * nodes) if r.tasks_per_node else None)
    if r.cpus_per_node:
        cpus_per_node = r.cpus_per_node
        total = cpus_per_node * nodes
    else:
        total = (tasks or nodes) * cpt
        cpus_per_node = math.ceil(total / nodes)
    tasks_per_node = math.ceil((tasks or nodes) / nodes)
    gpus = r.gpus_per_node or 0
    if not gpus and r.gpus_total:
        gpus = math.ceil(r.gpus_total / nodes)
    if not gpus and r.gpus_per_task:
        gpus = r.gpus_per_task * tasks_per_node
    if r.mem_per_node_mib:
        mem_mib = r.mem_per_node_mib
    elif r.mem_per_cpu_mib:
        mem_mib = r.mem_per_cpu_mib * cpus_per_node
    elif r.mem_total_mib:
        mem_mib = r.mem_total_mib / nodes
    elif r.mem_per_gpu_mib and gpus:
        mem_mib = r.mem_per_gpu_mib * gpus
    else:
        mem_mib = None
    memory_gb = round(mem_mib / 1024, 2) if mem_mib else None
    if r.exclusive:
        assumptions.append("exclusive node use: sized for the stated cpus and memory only")
    return Resources(nodes=nodes, cpus=total, cpus_per_node=cpus_per_node, memory_gb=memory_gb, gpus=gpus,
                     gpu_type=r.gpu_type, walltime_minutes=r.walltime_minutes, queue=r.queue)
