"""Registry sources: a git clone per source under $PCTL_HOME/registry/cache, pinned to a commit.

`update` fetches each source and pins the commit it checked out (state.json records it). Everything
that reads templates reads them from git's objects at that pinned commit, so the sha256 check is of
exactly what was published there. When a fetch fails (offline, repository gone) the previous clone and
pin stay untouched and the result says so: `pctl registry update` never leaves a source worse off.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from pctl.config import load_config
from pctl.errors import NotFound
from pctl.registry.git import GitError, check_url, git, show_bytes
from pctl.registry.index import INDEX_FILE, IndexEntry, RegistryError, parse_index
from pctl.registry.pinned import PinnedStore, now, registry_home

__all__ = ["Found", "UpdateResult", "all_entries", "cache_dir", "forget", "load_state", "pinned_sources",
           "registry_home", "resolve", "search", "update", "update_source"]

STORE = PinnedStore(cache="cache", state_file="state.json")
cache_dir = STORE.cache_dir
load_state = STORE.load_state
forget = STORE.forget  # drop a source's cache and pin (after `registry remove`)


@dataclass
class UpdateResult:
    source: str
    status: str  # cloned | updated | unchanged | offline | failed
    commit: str | None
    message: str
    entries: int = 0

    def to_dict(self) -> dict:
        return self.__dict__.copy()


def _index_at(repo: Path, rev: str, source: str) -> list[IndexEntry]:
    try:
        text = show_bytes(repo, rev, INDEX_FILE).decode("utf-8")
    except GitError as exc:
        raise RegistryError(f"source {source!r} has no {INDEX_FILE} at its root",
                            "the publisher must run `pctl registry index DIR` and commit index.json") from exc
    except UnicodeDecodeError as exc:
        raise RegistryError(f"registry {source!r}: index.json is not UTF-8 text",
                            "the publisher must regenerate it with `pctl registry index DIR`") from exc
    return parse_index(text, f"registry {source!r}")


def _fetch_into_existing(dest: Path, url: str, source: str) -> tuple[str, int]:
    git("remote", "set-url", "--", "origin", check_url(url), cwd=dest)
    git("fetch", "--quiet", "--no-tags", "origin", "HEAD", cwd=dest)
    commit = git("rev-parse", "FETCH_HEAD", cwd=dest).strip()
    entries = _index_at(dest, commit, source)  # check before moving the pin
    git("checkout", "--quiet", "--force", "--detach", commit, cwd=dest)
    return commit, len(entries)


def update_source(source: str, url: str, state: dict[str, dict]) -> UpdateResult:
    dest = cache_dir(source)
    previous = state.get(source) or {}
    have_cache = dest.is_dir() and bool(previous.get("commit"))
    record = dict(previous, url=url, last_attempt=now())
    try:
        if have_cache and previous.get("url") == url:
            commit, count = _fetch_into_existing(dest, url, source)
            status = "unchanged" if commit == previous.get("commit") else "updated"
        else:
            commit, count = STORE.fresh_clone(source, url, lambda repo, rev: len(_index_at(repo, rev, source)))
            status = "cloned"
    except (GitError, RegistryError) as exc:
        record["last_error"] = str(exc)
        state[source] = record
        if have_cache:
            msg = (f"could not fetch {url} ({exc}); keeping the last good copy pinned at "
                   f"{previous['commit'][:12]} from {previous.get('updated_at', '?')}")
            return UpdateResult(source, "offline", previous["commit"], msg)
        return UpdateResult(source, "failed", None, f"could not fetch {url}: {exc}")
    record.update(commit=commit, updated_at=now(), last_error=None)
    state[source] = record
    return UpdateResult(source, status, commit, f"{status} at {commit[:12]} ({count} templates)", count)


def update(only: str | None = None) -> list[UpdateResult]:
    cfg = load_config()
    if not cfg.registries:
        raise NotFound("no registry sources are configured", "add one: `pctl registry add NAME URL`")
    if only is not None and only not in cfg.registries:
        raise NotFound(f"no registry source named {only!r}", "see `pctl registry list`")
    state = load_state()
    results = [update_source(name, url, state) for name, url in sorted(cfg.registries.items())
               if only is None or name == only]
    STORE.save_state(state)
    return results


# ---- reading the pinned caches -----------------------------------------------------------------

@dataclass(frozen=True)
class Found:
    source: str
    entry: IndexEntry
    commit: str

    @property
    def qualified(self) -> str:
        return f"{self.source}/{self.entry.name}"

    def label(self) -> str:
        return f"{self.qualified}@{self.entry.version} (commit {self.commit[:12]})"

    def read_bytes(self) -> bytes:
        return show_bytes(cache_dir(self.source), self.commit, self.entry.path)


def pinned_sources() -> list[tuple[str, str]]:
    """(source, commit) for configured sources that have been fetched at least once."""
    state = load_state()
    return [(name, commit) for name in sorted(load_config().registries)
            if (commit := STORE.pinned_commit(name, state))]


def all_entries() -> list[Found]:
    found: list[Found] = []
    for source, commit in pinned_sources():
        for entry in _index_at(cache_dir(source), commit, source):
            found.append(Found(source, entry, commit))
    return found


def search(term: str = "", tags: tuple[str, ...] = ()) -> list[Found]:
    wanted = {t.lower() for t in tags}
    out = []
    for f in all_entries():
        if term and not f.entry.matches(term):
            continue
        if wanted and not wanted <= {t.lower() for t in f.entry.tags}:
            continue
        out.append(f)
    return out


def resolve(ref: str) -> Found:
    """'name' or 'source/name' -> the one entry it means. Ambiguity and absence are errors with hints."""
    cfg = load_config()
    source, _, name = ref.rpartition("/")
    if source and source not in cfg.registries:
        raise NotFound(f"no registry source named {source!r}",
                       "configured: " + (", ".join(sorted(cfg.registries)) or "none (`pctl registry add NAME URL`)"))
    if not pinned_sources():
        hint = "run `pctl registry update` first" if cfg.registries else "add a source: `pctl registry add NAME URL`"
        raise NotFound("no registry has been fetched yet", hint)
    entries = all_entries()
    candidates = [f for f in entries if f.entry.name == name and (not source or f.source == source)]
    if not candidates:
        close = difflib.get_close_matches(name, sorted({f.entry.name for f in entries}), n=3)
        hint = ("did you mean " + ", ".join(f"`{c}`" for c in close) + "?") if close else "see `pctl registry search`"
        where = f" in {source!r}" if source else ""
        raise NotFound(f"no registry template named {name!r}{where}", hint)
    if len(candidates) > 1:
        names = ", ".join(f.qualified for f in candidates)
        raise RegistryError(f"{name!r} is in more than one registry: {names}",
                            f"qualify it, e.g. `{candidates[0].qualified}`")
    found = candidates[0]
    if found.entry.needs_newer_pctl():
        from pctl import __version__

        raise RegistryError(
            f"{found.qualified} {found.entry.version} needs pctl >= {found.entry.min_pctl_version}; "
            f"this is pctl {__version__}",
            "upgrade pctl (`pip install --upgrade pctl`), then retry",
        )
    return found
