"""What the cache holds: read from each Spack release's buildcache index in S3; prune what nothing names.

Spack writes ``<mirror>/build_cache/index.json`` (a database: ``{"database": {"installs": {hash: {"spec":
{...}, "in_buildcache": bool}}}}``) and ``index.json.hash`` (its sha256). One mirror per Spack release sits
under ``spack-cache/v<version>/`` (pctl.cache.location). Entries: :class:`CacheEntry`.

Prune keeps every spec a template names (by package name, in the registry or in a cluster state) and
everything those specs depend on, and removes the rest: the spec file(s), the tarball, and the spec's entry
in the index (rewritten with its hash file, so Spack sees the change).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pctl.cache.location import CACHE_PREFIX


@dataclass(frozen=True)
class CacheEntry:
    spack_version: str
    name: str
    version: str
    hash: str
    os: str
    target: str
    compiler: str  # "gcc@12.2.0" ("" when the spec has none)
    deps: tuple[str, ...] = field(default=())  # hashes of its dependencies

    @property
    def group(self) -> tuple[str, str, str, str]:
        """(os, target, compiler, spack version): binaries are reused only within one group."""
        return (self.os, self.target, self.compiler, self.spack_version)

    @property
    def stem(self) -> str:
        """Spack's file stem: linux-<os>-<target>-<compiler>-<name>-<version>-<hash>."""
        return f"linux-{self.os}-{self.target}-{self.compiler.replace('@', '-')}-{self.name}-{self.version}-{self.hash}"


def _entries_of(spack_version: str, index: dict[str, Any]) -> list[CacheEntry]:
    out = []
    for h, rec in index.get("database", {}).get("installs", {}).items():
        if not rec.get("in_buildcache", True):
            continue  # a dependency the index only mentions (externals such as glibc)
        s = rec.get("spec", {})
        arch = s.get("arch", {})
        comp = s.get("compiler") or {}
        out.append(CacheEntry(
            spack_version=spack_version, name=s.get("name", "?"), version=str(s.get("version", "?")), hash=h,
            os=arch.get("platform_os", "?"), target=str(arch.get("target", "?") if not isinstance(arch.get("target"), dict)
                                                       else arch["target"].get("name", "?")),
            compiler=f"{comp['name']}@{comp['version']}" if comp else "",
            deps=tuple(d.get("hash", "") for d in s.get("dependencies", []) if isinstance(d, dict))))
    return out


def mirror_prefixes(s3: Any, bucket: str) -> list[tuple[str, str]]:
    """[(spack_version, "spack-cache/v<version>")] of every release that has a mirror in the bucket."""
    found = []
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{CACHE_PREFIX}/", Delimiter="/")
    for page in pages:
        for p in page.get("CommonPrefixes", []):
            part = p["Prefix"][len(CACHE_PREFIX) + 1:].strip("/")
            if part.startswith("v"):
                found.append((part[1:], f"{CACHE_PREFIX}/{part}"))
    return sorted(found)


def read_index(s3: Any, bucket: str, prefix: str) -> dict[str, Any]:
    """The buildcache index under prefix ({} when Spack has written none yet)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=f"{prefix}/build_cache/index.json")["Body"].read()
    except Exception as exc:
        if "NoSuchKey" in str(exc) or "404" in str(exc):
            return {}
        raise
    return json.loads(body)


def list_entries(s3: Any, bucket: str) -> list[CacheEntry]:
    """Every package binary in the account cache, over all Spack releases, sorted by group then name."""
    out: list[CacheEntry] = []
    for version, prefix in mirror_prefixes(s3, bucket):
        out += _entries_of(version, read_index(s3, bucket, prefix))
    return sorted(out, key=lambda e: (e.group, e.name, e.version, e.hash))


def summary(entries: Iterable[CacheEntry]) -> list[dict[str, Any]]:
    """One row per (os, target, compiler, spack version): its package count and names."""
    groups: dict[tuple[str, str, str, str], list[CacheEntry]] = defaultdict(list)
    for e in entries:
        groups[e.group].append(e)
    return [{"os": g[0], "target": g[1], "compiler": g[2], "spack_version": g[3], "count": len(es),
             "packages": sorted({f"{e.name}@{e.version}" for e in es})} for g, es in sorted(groups.items())]


def prune_plan(entries: list[CacheEntry], names: Iterable[str]) -> list[CacheEntry]:
    """The entries to remove: not named (by package name) and not a dependency of a named entry."""
    wanted = set(names)
    by_hash = {e.hash: e for e in entries}
    keep: set[str] = set()
    todo = [e.hash for e in entries if e.name in wanted]
    while todo:
        h = todo.pop()
        if h in keep or h not in by_hash:
            continue
        keep.add(h)
        todo += by_hash[h].deps
    return [e for e in entries if e.hash not in keep]


def prune(s3: Any, bucket: str, remove: list[CacheEntry]) -> int:
    """Delete the entries' files and drop them from each release's index; returns the objects deleted."""
    deleted = 0
    by_version: dict[str, list[CacheEntry]] = defaultdict(list)
    for e in remove:
        by_version[e.spack_version].append(e)
    for version, es in by_version.items():
        prefix = f"{CACHE_PREFIX}/v{version}/build_cache"
        keys = []
        for e in es:
            keys += [f"{prefix}/{e.stem}.spec.json.sig", f"{prefix}/{e.stem}.spec.json",
                     f"{prefix}/linux-{e.os}-{e.target}/{e.compiler.replace('@', '-')}/{e.name}-{e.version}/{e.stem}.spack"]
        for i in range(0, len(keys), 1000):
            res = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[i:i + 1000]],
                                                           "Quiet": True})
            if res.get("Errors"):
                raise RuntimeError(f"S3 refused to delete {res['Errors'][0].get('Key')}: {res['Errors'][0].get('Message')}")
        deleted += len(keys)
        index = read_index(s3, bucket, f"{CACHE_PREFIX}/v{version}")
        installs = index.get("database", {}).get("installs", {})
        for e in es:
            installs.pop(e.hash, None)
        body = json.dumps(index).encode()
        s3.put_object(Bucket=bucket, Key=f"{prefix}/index.json", Body=body)
        s3.put_object(Bucket=bucket, Key=f"{prefix}/index.json.hash", Body=hashlib.sha256(body).hexdigest().encode())
    return deleted
