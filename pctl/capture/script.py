"""One batch script -> scheduler, normalised resources, loaded modules and their Spack mappings.

`read_script(text, path)` parses text; `capture_paths(paths)` reads files and walks directories
(recursively, skipping hidden directories, binary files and documents).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pctl.capture import schedulers
from pctl.capture.mapping import ModuleMapping, map_module
from pctl.capture.modules import ModuleState, read_assignment, read_line
from pctl.capture.schedulers import NONE, PREFIXES, READS_WHOLE_FILE, Resources
from pctl.errors import PctlError

_DIRECTIVE = re.compile(r"(#SBATCH|#PBS|#BSUB|#\$)(?:[ \t]|$)")
MAX_SCRIPT_BYTES = 1_000_000  # bigger files are data, not batch scripts
_DOCUMENT_SUFFIXES = frozenset({".md", ".rst", ".html", ".htm", ".pdf", ".png", ".jpg", ".gif", ".json",
                                ".yaml", ".yml", ".csv", ".tsv", ".log", ".out", ".err", ".gz", ".zip",
                                ".tar", ".o", ".so", ".a", ".pyc", ".ipynb"})


@dataclass
class ScriptCapture:
    path: str
    scheduler: str
    resources: Resources
    modules: list[str]
    mappings: list[ModuleMapping | None]
    assumptions: list[str] = field(default_factory=list)

    @property
    def unmapped(self) -> list[str]:
        """Modules with no Spack spec: commercial or unknown (site modules need nothing, so are not listed)."""
        return [mod for mod, m in zip(self.modules, self.mappings, strict=True) if m is None or (m.spack is None and m.kind != "site")]

    def to_dict(self) -> dict:
        rows = []
        for mod, m in zip(self.modules, self.mappings, strict=True):
            specs = m.all_specs if m else ()
            if not specs:
                rows.append({"module": mod, "spack": None, "confidence": m.confidence if m else 0.0})
            # A toolchain (foss/2022a) stands for several packages: one row per spec.
            rows.extend({"module": mod, "spack": s, "confidence": m.confidence} for s in specs)
        return {"path": self.path, "scheduler": self.scheduler, "resources": self.resources.to_dict(),
                "modules": rows, "unmapped": self.unmapped}


_MODULE_HINT = re.compile(r"(?<![\w.$/-])(?:module|ml)(?![\w.-])|/module\s")
_ASSIGNMENT_LINE = re.compile(r"^(?:(?:export|declare|local|readonly)\s+)?[A-Za-z_][A-Za-z0-9_]*=")


def _logical_lines(text: str) -> Iterator[str] | list[str]:
    """Lines with backslash continuations joined."""
    if "\\\n" not in text and "\\\r\n" not in text:
        return text.splitlines()
    return _joined(text)


def _joined(text: str) -> Iterator[str]:
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\") and not raw.lstrip().startswith("#"):
            pending += raw[:-1] + " "
            continue
        yield pending + raw
        pending = ""
    if pending:
        yield pending


def read_script(text: str, path: str = "<script>") -> ScriptCapture:
    directives: dict[str, list[tuple[str, bool]]] = {}
    state = ModuleState()
    started = False  # a command has been seen: Slurm/PBS/LSF stop reading directives there
    for line in _logical_lines(text):
        s = line.strip()
        if not s:
            continue
        if s[0] == "#":
            m = _DIRECTIVE.match(s)
            if m:
                directives.setdefault(PREFIXES[m.group(1)], []).append((s[m.end():].strip(), started))
            continue
        started = True
        if _MODULE_HINT.search(s):
            read_line(s, state)
        elif _ASSIGNMENT_LINE.match(s):
            read_assignment(s, state)  # plain assignments feed `module load $VAR`
    assumptions: list[str] = []
    if directives:
        # The scheduler with the most directives; on a tie the first one seen.
        scheduler = max(directives, key=lambda k: len(directives[k]))
        lines = [rest for rest, late in directives[scheduler] if not late or scheduler in READS_WHOLE_FILE]
        late = len(directives[scheduler]) - len(lines)
        if late:
            assumptions.append(f"{late} {scheduler} directive(s) after the first command are ignored, as the scheduler does")
        others = sorted(set(directives) - {scheduler})
        if others:
            assumptions.append(f"directives for {', '.join(others)} also present: read as {scheduler}")
        resources = schedulers.normalise(schedulers.PARSERS[scheduler](lines), assumptions)
    else:
        scheduler, resources = NONE, Resources()
        assumptions.append("no scheduler directives: one core on one node assumed")
    assumptions.extend(state.notes)
    modules = list(state.loaded)
    return ScriptCapture(path, scheduler, resources, modules, [map_module(m) for m in modules], assumptions)


@dataclass
class Capture:
    scripts: list[ScriptCapture]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)


def _walk(root: Path) -> Iterator[str]:
    # Plain strings, not Path objects: at 10,000 files pathlib's overhead is measurable.
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield os.path.join(dirpath, name)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_SCRIPT_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_SCRIPT_BYTES:
        return None
    if b"\0" in data[:4096]:
        return None
    return data.decode("utf-8", errors="replace")


def capture_paths(paths: Iterable[str | Path]) -> Capture:
    """Read every script named, or found under a named directory. Files named directly are always
    read; files found by walking are kept only if they hold directives or module commands."""
    result = Capture([])
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise PctlError(f"{root}: no such file or directory", "give batch script files or a directory of them")
        walked = root.is_dir()
        for path in _walk(root) if walked else [str(root)]:
            if walked and os.path.splitext(path)[1].lower() in _DOCUMENT_SUFFIXES:
                result.skipped.append((path, "not a script (file type)"))
                continue
            text = _read(path)
            if text is None:
                if not walked:
                    raise PctlError(f"{path}: not a readable text file", "give batch scripts (text files)")
                result.skipped.append((path, "binary, unreadable or larger than 1 MB"))
                continue
            script = read_script(text, path)
            if walked and script.scheduler == NONE and not script.modules:
                result.skipped.append((path, "no scheduler directives and no module loads"))
                continue
            result.scripts.append(script)
    return result
