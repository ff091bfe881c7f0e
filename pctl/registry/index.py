"""The registry index: `index.json` at a template repository's root.

A JSON list of entries {name, version, description, tags, path, sha256, author, software,
min_pctl_version}. Readers check every entry (a bad index is an error naming the entry); publishers
generate it with `pctl registry index DIR`, which reads description, tags and software from each template.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pctl import __version__
from pctl.errors import PctlError

INDEX_FILE = "index.json"
# Anchored for pydantic's `pattern` (Rust regex: `$` is the end of the text); Python callers use fullmatch.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_INDEX_BYTES = 4 * 1024 * 1024  # ~10,000 entries; a bigger index is a mistake or an attack
# C0/C1 controls (terminal escape sequences start with \x1b or \x9b), line/paragraph separators and
# bidirectional overrides: index text is shown in a terminal, so none of it may reach one.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` without control characters, so a registry cannot write escape sequences to a terminal."""
    return _UNPRINTABLE.sub("", text)


class RegistryError(PctlError):
    pass


class IndexEntry(BaseModel):
    # Unknown keys are ignored: a newer publisher tool may add fields older pctl need not understand.
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=NAME_RE.pattern)
    version: str = "1.0.0"
    description: str = ""
    tags: list[str] = Field(default_factory=list)
    path: str
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    author: str = ""
    software: list[str] = Field(default_factory=list)
    min_pctl_version: str = "0"

    @field_validator("description", "author")
    @classmethod
    def _printable(cls, value: str) -> str:
        return printable(value)

    @field_validator("tags", "software")
    @classmethod
    def _printable_items(cls, value: list[str]) -> list[str]:
        return [printable(v) for v in value]

    @field_validator("path")
    @classmethod
    def _relative_inside(cls, value: str) -> str:
        if _UNPRINTABLE.search(value):
            raise ValueError("must not contain control characters")
        p = PurePosixPath(value)
        if p.is_absolute() or ".." in p.parts or not value.endswith((".yaml", ".yml")):
            raise ValueError("must be a relative path to a .yaml file inside the repository (no '..')")
        return value

    @field_validator("min_pctl_version", "version")
    @classmethod
    def _version(cls, value: str) -> str:
        try:
            Version(value)
        except InvalidVersion as exc:
            raise ValueError(f"not a version number: {value!r}") from exc
        return value

    def needs_newer_pctl(self) -> bool:
        return Version(self.min_pctl_version) > Version(__version__)

    def matches(self, term: str) -> bool:
        """Case-insensitive substring match on name, description, tags and software."""
        t = term.lower()
        haystack = [self.name, self.description, *self.tags, *self.software]
        return any(t in s.lower() for s in haystack)


def parse_index(text: str, where: str) -> list[IndexEntry]:
    """Every entry of an index.json text; RegistryError (never another exception) saying what is wrong."""
    if len(text) > MAX_INDEX_BYTES:
        raise RegistryError(f"{where}: index.json is {len(text)} bytes; pctl reads at most {MAX_INDEX_BYTES}",
                            "the registry publisher must regenerate it with `pctl registry index DIR`")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RegistryError(f"{where}: index.json is not valid JSON (line {exc.lineno}: {exc.msg})",
                            "the registry publisher must regenerate it with `pctl registry index DIR`") from exc
    except RecursionError as exc:
        raise RegistryError(f"{where}: index.json nests too deeply to read",
                            "the registry publisher must regenerate it with `pctl registry index DIR`") from exc
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise RegistryError(f"{where}: index.json cannot be read: {printable(str(exc))[:120]}",
                            "the registry publisher must regenerate it with `pctl registry index DIR`") from exc
    if not isinstance(data, list):
        raise RegistryError(f"{where}: index.json must be a JSON list of entries",
                            "regenerate it with `pctl registry index DIR`")
    entries: list[IndexEntry] = []
    seen: set[str] = set()
    for i, raw in enumerate(data):
        name = raw.get("name") if isinstance(raw, dict) else None
        label = printable(name)[:64] if isinstance(name, str) else f"#{i}"
        try:
            entry = IndexEntry.model_validate(raw)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field_name = ".".join(str(p) for p in first["loc"]) or "entry"
            raise RegistryError(f"{where}: index.json entry {label}: {printable(field_name)[:80]}: "
                                f"{printable(first['msg'])[:200]}",
                                "regenerate the index with `pctl registry index DIR`") from exc
        if entry.name in seen:
            raise RegistryError(f"{where}: index.json lists {entry.name!r} twice", "template names must be unique")
        seen.add(entry.name)
        entries.append(entry)
    return entries


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- publishing ----------------------------------------------------------------------------------

@dataclass
class IndexBuild:
    entries: list[IndexEntry]
    notes: list[str] = field(default_factory=list)
    path: Path | None = None


def _bump_patch(version: str) -> str:
    v = Version(version)
    major, minor, patch = (list(v.release) + [0, 0, 0])[:3]
    return f"{major}.{minor}.{patch + 1}"


def build_index(directory: Path, *, author: str | None = None, write: bool = True) -> IndexBuild:
    """Index every template under `directory`. Invalid templates stop the build (nothing written).

    Fields a publisher edits by hand (version, author, min_pctl_version) survive regeneration; when a
    template's bytes change and its version does not, the patch number is bumped (and said so).
    """
    from pctl.fsutil import atomic_write_text
    from pctl.validation import validate_text
    from pctl.validation.rules import spack_package_name

    directory = directory.resolve()
    if not directory.is_dir():
        raise RegistryError(f"{directory} is not a directory", "give the root of your template repository")
    index_path = directory / INDEX_FILE
    previous: dict[str, IndexEntry] = {}
    if index_path.exists():
        try:
            previous = {e.name: e for e in parse_index(index_path.read_text(encoding="utf-8"), str(index_path))}
        except RegistryError:
            previous = {}  # a broken old index is replaced, not merged

    files = sorted(
        p for p in directory.rglob("*")
        if p.suffix in (".yaml", ".yml") and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(directory).parts)
    )
    if not files:
        raise RegistryError(f"no .yaml templates under {directory}", "put one template per .yaml file there")
    build = IndexBuild(entries=[])
    problems: list[str] = []
    names: dict[str, Path] = {}
    for f in files:
        rel = f.relative_to(directory).as_posix()
        name = f.stem.lower()
        if not NAME_RE.fullmatch(name):
            problems.append(f"{rel}: the file name {f.stem!r} is not a usable template name "
                            "(lowercase letters, digits, '.', '_' or '-')")
            continue
        if name in names:
            problems.append(f"{rel}: the name {name!r} is already used by {names[name].relative_to(directory)}")
            continue
        names[name] = f
        data = f.read_bytes()
        report, loaded = validate_text(data.decode("utf-8", errors="replace"), rel)
        if report.errors:
            problems.append(report.render())
            continue
        t = loaded.template
        assert t is not None  # no errors means the model built
        digest = sha256_hex(data)
        old = previous.get(name)
        version = old.version if old else "1.0.0"
        if old and old.sha256 != digest:
            version = _bump_patch(old.version)
            build.notes.append(f"{name}: content changed, version {old.version} -> {version}")
        build.entries.append(IndexEntry(
            name=name,
            version=version,
            description=t.description or "",
            tags=list(t.tags),
            path=rel,
            sha256=digest,
            author=author if author is not None else (old.author if old else ""),
            software=sorted({spack_package_name(s) for s in t.software.spack_packages}),
            min_pctl_version=old.min_pctl_version if old else __version__,
        ))
    if problems:
        raise RegistryError("cannot index: some templates are not valid (nothing written):\n" + "\n".join(problems),
                            "fix them (`pctl validate FILE`) and run `pctl registry index` again")
    if write:
        text = json.dumps([e.model_dump() for e in build.entries], indent=2) + "\n"
        atomic_write_text(index_path, text)
        build.path = index_path
    return build
