"""Pinned git clones of registry sources: the plumbing the template registry (pctl.registry.store) and
the AMI registry (pctl.ami_registry.store) share.

A store keeps one clone per source under $PCTL_HOME/registry/<cache>/<source> and a JSON state file
($PCTL_HOME/registry/<state_file>: source -> {"url", "commit", "updated_at", ...}) that pins each source to
the commit it last checked. A fresh clone is made in a temporary directory next to the cache, checked by
the caller (its index must parse) and only then swapped in, so a failed or refused fetch leaves the last
good clone and pin untouched. Every URL goes through `check_url` and after `--`: git never reads a URL
as an option.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pctl.config import pctl_home
from pctl.fsutil import atomic_write_text
from pctl.registry.git import GitError, check_url, git


def registry_home() -> Path:
    return pctl_home() / "registry"


def now() -> str:
    """The current UTC time, to the second (ISO 8601), as the state files record it."""
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class PinnedStore:
    """One kind of pinned clone: `cache` is its folder under registry_home(), `state_file` its pins."""

    cache: str
    state_file: str

    def cache_dir(self, source: str) -> Path:
        return registry_home() / self.cache / source

    def state_path(self) -> Path:
        return registry_home() / self.state_file

    def load_state(self) -> dict[str, dict]:
        """The pins; a missing or corrupt file is an empty state (it only costs a re-fetch)."""
        try:
            data = json.loads(self.state_path().read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            return {}
        return data if isinstance(data, dict) else {}

    def save_state(self, state: dict[str, dict]) -> None:
        atomic_write_text(self.state_path(), json.dumps(state, indent=2, sort_keys=True) + "\n")

    def pinned_commit(self, source: str, state: dict[str, dict]) -> str | None:
        """The commit `source` is pinned to, when it has one and its clone is there."""
        commit = (state.get(source) or {}).get("commit")
        return commit if commit and self.cache_dir(source).is_dir() else None

    def fresh_clone(self, source: str, url: str, check: Callable[[Path, str], int], *,
                    allow_empty: bool = False) -> tuple[str, int]:
        """Clone `url`, run `check(repo, commit)` (the number of entries; raise to refuse), then swap the
        clone in as the cache of `source`. Returns (commit, entries). `allow_empty`: a repository with no
        commit yet is a clone at commit "" (nothing published), not a failure.

        Raises GitError (clone, URL) or whatever `check` raises; the old clone is untouched then."""
        dest = self.cache_dir(source)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{source}.", dir=dest.parent))
        try:
            repo = tmp / "repo"
            git("clone", "--quiet", "--no-tags", "--", check_url(url), str(repo))
            try:
                commit = git("rev-parse", "HEAD", cwd=repo).strip()
            except GitError:
                if not allow_empty:
                    raise
                commit = ""
            count = check(repo, commit)
            if commit:
                git("checkout", "--quiet", "--detach", commit, cwd=repo)
            old = dest.parent / f".{source}.old"
            shutil.rmtree(old, ignore_errors=True)
            if dest.exists():
                dest.rename(old)
            repo.rename(dest)
            shutil.rmtree(old, ignore_errors=True)
            return commit, count
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def forget(self, source: str) -> None:
        """Drop a source's clone and pin."""
        shutil.rmtree(self.cache_dir(source), ignore_errors=True)
        state = self.load_state()
        if state.pop(source, None) is not None:
            self.save_state(state)
