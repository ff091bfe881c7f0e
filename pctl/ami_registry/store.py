"""AMI registry sources: the template registry's git sources, pinned clones and sha256 checks, for images.

Sources are the same `registries:` entries of the global config (`pctl registry add NAME URL`); a
repository may hold templates (index.json), images (amis.json) or both. Each source is cloned under
$PCTL_HOME/registry/ami-cache/NAME and pinned to the commit it last fetched
($PCTL_HOME/registry/ami-state.json); entries are read from git's objects at that commit and checked
against the index's sha256. A failed fetch keeps the last good pin (the template registry's rule).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from pctl.ami_registry.entry import (
    AMI_INDEX_FILE,
    AmiEntry,
    AmiIndexEntry,
    index_line,
    parse_ami_index,
    parse_entry,
)
from pctl.config import load_config
from pctl.errors import NotFound
from pctl.registry.git import GitError, check_url, git, show_bytes
from pctl.registry.index import RegistryError, sha256_hex
from pctl.registry.pinned import PinnedStore, now, registry_home

COMMIT_AUTHOR = ("-c", "user.name=pctl", "-c", "user.email=pctl@localhost")

STORE = PinnedStore(cache="ami-cache", state_file="ami-state.json")
cache_dir = STORE.cache_dir
load_state = STORE.load_state
_save_state = STORE.save_state


def source_url(source: str) -> str:
    cfg = load_config()
    if source not in cfg.registries:
        raise NotFound(f"no registry source named {source!r}",
                       "configured: " + (", ".join(sorted(cfg.registries)) or "none (`pctl registry add NAME URL`)"))
    return cfg.registries[source]


def _index_at(repo: Path, rev: str, source: str) -> list[AmiIndexEntry]:
    try:
        text = show_bytes(repo, rev, AMI_INDEX_FILE).decode("utf-8")
    except GitError:
        return []  # a template-only repository: no images
    return parse_ami_index(text, f"registry {source!r}")


@dataclass
class SourceUpdate:
    source: str
    status: str  # cloned | updated | unchanged | offline | failed
    commit: str | None
    message: str


def update_source(source: str, state: dict[str, dict]) -> SourceUpdate:
    """Fetch one source into a fresh clone, check its amis.json, then move the pin (else keep the old one)."""
    url = source_url(source)
    previous = state.get(source) or {}
    try:
        # an empty repository (nothing published yet) is a clone at commit "" with no images
        commit, count = STORE.fresh_clone(
            source, url, lambda repo, rev: len(_index_at(repo, rev, source)) if rev else 0, allow_empty=True)
    except (GitError, RegistryError) as exc:
        if STORE.pinned_commit(source, state):
            return SourceUpdate(source, "offline", previous["commit"],
                                f"could not fetch {url} ({exc}); keeping the copy pinned at {previous['commit'][:12]}")
        return SourceUpdate(source, "failed", None, f"could not fetch {url}: {exc}")
    status = "unchanged" if commit and commit == previous.get("commit") else ("updated" if previous else "cloned")
    state[source] = {"url": url, "commit": commit, "updated_at": now()}
    return SourceUpdate(source, status, commit, f"{status} at {commit[:12] or '(empty)'} ({count} images)")


def update(only: str | None = None) -> list[SourceUpdate]:
    cfg = load_config()
    if not cfg.registries:
        raise NotFound("no registry sources are configured", "add one: `pctl registry add NAME URL`")
    names = [only] if only else sorted(cfg.registries)
    state = load_state()
    results = [update_source(n, state) for n in names]
    _save_state(state)
    return results


@dataclass(frozen=True)
class FoundAmi:
    source: str
    entry: AmiEntry
    commit: str

    @property
    def qualified(self) -> str:
        return f"{self.source}/{self.entry.name}"


def all_entries() -> list[FoundAmi]:
    """Every entry of every pinned source, each checked against its index sha256 (RegistryError if not)."""
    cfg = load_config()
    state = load_state()
    out: list[FoundAmi] = []
    for source in sorted(cfg.registries):
        commit = STORE.pinned_commit(source, state)
        if not commit:
            continue
        for line in _index_at(cache_dir(source), commit, source):
            data = show_bytes(cache_dir(source), commit, line.path)
            if sha256_hex(data) != line.sha256:
                raise RegistryError(
                    f"{source}/{line.name}: {line.path} does not match the sha256 in {AMI_INDEX_FILE}",
                    "the file was changed without publishing it again, or tampered with; nothing was used")
            out.append(FoundAmi(source, parse_entry(data, f"{source}/{line.path}"), commit))
    return out


def search(term: str = "", *, os: str | None = None, arch: str | None = None,
           pcluster_version: str | None = None) -> list[FoundAmi]:
    return [f for f in all_entries()
            if (not term or f.entry.matches(term)) and (os is None or f.entry.os == os)
            and (arch is None or f.entry.arch == arch)
            and (pcluster_version is None or f.entry.pcluster_version == pcluster_version)]


def resolve(ref: str) -> FoundAmi:
    """'name' or 'source/name' -> the one entry it means (NotFound / RegistryError with hints)."""
    source, _, name = ref.rpartition("/")
    if source:
        source_url(source)
    candidates = [f for f in all_entries() if f.entry.name == name and (not source or f.source == source)]
    if not candidates:
        raise NotFound(f"no registry image named {name!r}" + (f" in {source!r}" if source else ""),
                       "see `pctl ami search`; `pctl ami search` fetches the sources first")
    if len(candidates) > 1:
        raise RegistryError(f"{name!r} is in more than one registry: {', '.join(f.qualified for f in candidates)}",
                            f"qualify it, e.g. `{candidates[0].qualified}`")
    return candidates[0]


def by_fingerprint(fingerprint: str) -> list[FoundAmi]:
    """Pinned entries (no fetch) with this fingerprint; a broken source is skipped, not fatal."""
    try:
        return [f for f in all_entries() if f.entry.fingerprint == fingerprint]
    except (RegistryError, GitError):
        return []


# ---- publishing ----------------------------------------------------------------------------------

@dataclass
class Published:
    source: str
    entry: AmiEntry
    commit: str
    pushed: bool
    message: str
    workdir: Path | None = None


def publish(source: str, entry: AmiEntry) -> Published:
    """Write amis/<name>.json and amis.json in a clone of the source, commit, and push where allowed.

    A refused push (a read-only URL, no credentials, a non-bare repository) leaves the commit in a kept
    clone under $PCTL_HOME/registry/ami-publish/SOURCE and says how to push it.
    """
    url = source_url(source)
    work = registry_home() / "ami-publish" / source
    shutil.rmtree(work, ignore_errors=True)
    work.parent.mkdir(parents=True, exist_ok=True)
    git("clone", "--quiet", "--no-tags", "--", check_url(url), str(work))
    index_path = work / AMI_INDEX_FILE
    lines: dict[str, AmiIndexEntry] = {}
    if index_path.exists():
        lines = {e.name: e for e in parse_ami_index(index_path.read_text(encoding="utf-8"), f"registry {source!r}")}
    (work / entry.path()).parent.mkdir(parents=True, exist_ok=True)
    (work / entry.path()).write_bytes(entry.to_bytes())
    lines[entry.name] = index_line(entry)
    index_path.write_text(json.dumps([lines[n].model_dump() for n in sorted(lines)], indent=2) + "\n",
                          encoding="utf-8")
    git("add", "--", AMI_INDEX_FILE, entry.path(), cwd=work)
    git(*COMMIT_AUTHOR, "commit", "--quiet", "--allow-empty", "-m",
        f"AMI {entry.name}: {', '.join(f'{r} {i}' for r, i in entry.images.items())} "
        f"(fingerprint {entry.fingerprint[:12]}, pcluster {entry.pcluster_version})", cwd=work)
    commit = git("rev-parse", "HEAD", cwd=work).strip()
    branch = git("symbolic-ref", "--short", "HEAD", cwd=work).strip()
    try:
        git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
    except GitError as exc:
        return Published(source, entry, commit, False,
                         f"committed {commit[:12]} but the push was refused ({exc}); push it yourself: "
                         f"git -C {work} push origin HEAD:{branch}", work)
    state = load_state()
    update_source(source, state)
    _save_state(state)
    shutil.rmtree(work, ignore_errors=True)
    from pctl.ami_registry.images import accept  # the publisher's own images are accepted here

    for region, image_id in entry.images.items():
        accept(FoundAmi(source, entry, commit), region, image_id)
    return Published(source, entry, commit, True, f"pushed {commit[:12]} to {url}")
