"""Where each installed package came from: the account cache, a build on the cluster, or already there.

The installer writes ``<spack_root>/.pctl/origins.json``: ``{"packages": {hash: {"name", "version",
"origin"}}}`` with origin one of ``cache`` (extracted from a binary cache), ``built`` (built on this node,
then pushed), ``present`` (installed by an earlier run), ``external`` (the OS's, e.g. Slurm). `pctl verify`
adds it to each package's module check and the counts to the install check.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from typing import Any

ORIGINS_FILE = "origins.json"
WORDS = {"cache": "from the binary cache", "built": "built on the cluster", "present": "installed earlier",
         "external": "the OS's (external)"}


def parse(text: str) -> dict[str, dict[str, str]]:
    """origins.json text -> {hash: {...}}; {} for anything else (an older install wrote no such file)."""
    try:
        packages = json.loads(text)["packages"]
    except (ValueError, KeyError, TypeError):
        return {}
    return packages if isinstance(packages, dict) else {}


def by_name(packages: dict[str, dict[str, str]]) -> dict[str, str]:
    """{package name: origin}; a name installed twice (two variants) takes 'built' over 'cache'."""
    rank = {"built": 3, "cache": 2, "present": 1, "external": 0}
    out: dict[str, str] = {}
    for p in packages.values():
        name, origin = p.get("name", "?"), p.get("origin", "present")
        if rank.get(origin, 0) >= rank.get(out.get(name, ""), -1):
            out[name] = origin
    return out


def summary_line(packages: dict[str, dict[str, str]]) -> str:
    counts = Counter(p.get("origin", "present") for p in packages.values())
    return ", ".join(f"{counts[k]} {WORDS[k]}" for k in ("cache", "built", "present", "external") if counts[k])


def annotate_report(ssh: Any, template: Any, report: Any, *, timeout: float = 30) -> None:
    """Add each package's origin to its `module X` check's detail, and the counts to the install check's
    (no check of its own: an origin is information, never a failure)."""
    from pctl.model.constants import SOFTWARE_STATUS_DIR
    from pctl.validation.rules import spack_package_name

    path = f"{template.spack_root}/{SOFTWARE_STATUS_DIR}/{ORIGINS_FILE}"
    try:
        result = ssh.run(f"cat {shlex.quote(path)} 2>/dev/null || true", timeout=timeout)
        packages = parse(result.stdout)
    except Exception:
        packages = {}
    if not packages:
        return  # an install before pctl recorded origins: nothing to add
    names = by_name(packages)
    for spec in template.software.spack_packages:
        name = spack_package_name(spec)
        origin = names.get(name)
        if origin is None:
            continue
        for check in report.checks:
            if check.name.startswith(f"module {name}/") or check.name == f"module {name}":
                check.detail = f"{check.detail}; {WORDS.get(origin, origin)}".lstrip("; ")
    for check in report.checks:
        if check.name.startswith("software install"):
            check.detail = f"{check.detail}; {summary_line(packages)}".lstrip("; ")
            break


def status_key(cluster: str) -> str:
    """Where the installer also puts origins.json (the head node can write only the cache prefix)."""
    from pctl.cache.location import CACHE_PREFIX

    return f"{CACHE_PREFIX}/status/{cluster}/{ORIGINS_FILE}"


def fetch_status(session: Any, region: str, cluster: str, bucket: str | None = None) -> dict[str, dict[str, str]]:
    """The cluster's origins from S3 ({} when the installer has recorded none). Raises on AWS errors."""
    from pctl.aws.bucket import default_bucket_name
    from pctl.aws.session import client

    s3 = client(session, "s3")
    try:
        body = s3.get_object(Bucket=bucket or default_bucket_name(session, region), Key=status_key(cluster))["Body"]
    except Exception as exc:
        if "NoSuchKey" in str(exc) or "404" in str(exc) or "NoSuchBucket" in str(exc):
            return {}
        raise
    return parse(body.read().decode(errors="replace"))


def status_row(packages: dict[str, dict[str, str]]) -> str:
    """One line for `pctl status`: the counts, and which packages were built on the cluster."""
    if not packages:
        return "not recorded yet (the install has not finished, or the cluster has no account cache)"
    built = sorted({p["name"] for p in packages.values() if p.get("origin") == "built"})
    return summary_line(packages) + (f" (built: {', '.join(built)})" if built else "")
