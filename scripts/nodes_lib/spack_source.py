"""The pinned Spack, offline: a local bare git repository made from the vendored source tree.

Looks for ../shared/vendor/spack-*.tar.gz beside the repository (env PCTL_NODES_SPACK_TARBALL overrides)
and turns it into CACHE/spack-<sha of tarball>.git, a bare repository with one commit tagged
v<version> (the version its `spack --version` prints). The nodes mount it read-only at NODE_PATH and
the node scripts fetch it through the PCTL_SPACK_GIT / PCTL_SPACK_REF knobs (/etc/pctl/node.env).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from nodes_lib.proc import NodesError, log, run

NODE_PATH = "/opt/pctl-nodes/spack.git"
# BOUNDARY of `spack install --fake`, in the local repository's site scope (etc/spack/packages.yaml):
# a fake python-venv has no interpreter, and every py-* package asks it for its install paths (Spack's
# python-venv package, `_get_path`), so any environment with a Python extension (bioinformatics:
# bcftools -> py-matplotlib) fails. The node's own python3 stands in for python-venv, and nothing else.
SITE_PACKAGES = """\
# pctl-nodes (tier 3 only): `spack install --fake` gives python-venv no interpreter; py-* packages need
# one at install time. The node's /usr python3 stands in. See scripts/nodes_lib/spack_source.py.
packages:
  python-venv:
    buildable: false
    externals:
      - spec: python-venv@1.0
        prefix: /usr
"""
REPO = Path(__file__).resolve().parents[2]


def tarball() -> Path | None:
    override = os.environ.get("PCTL_NODES_SPACK_TARBALL")
    if override:
        return Path(override) if Path(override).is_file() else None
    found = sorted((REPO.parent / "shared" / "vendor").glob("spack-*.tar.gz"))
    return found[-1] if found else None


def version_of(tar: Path) -> str:
    m = re.fullmatch(r"spack-(\d+\.\d+\.\d+(?:\.dev\d+)?)(?:-[0-9a-f]+)?\.tar\.gz", tar.name)
    if not m:
        raise NodesError(f"cannot read a Spack version from {tar.name} (want spack-X.Y.Z[-commit].tar.gz)")
    return m.group(1)


def bare_repo(cache: Path) -> tuple[Path, str] | None:
    """(bare repository, tag) for the vendored tree, built once; None when there is no vendored tree."""
    tar = tarball()
    if tar is None:
        return None
    digest = hashlib.sha256(tar.read_bytes() + SITE_PACKAGES.encode() + b"2").hexdigest()[:12]
    tag = f"v{version_of(tar)}"
    path = cache / f"spack-{digest}.git"
    if (path / "refs" / "tags" / tag).exists() or (path / "packed-refs").exists():
        return path, tag
    (cache / "tmp").mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="spack-", dir=cache / "tmp"))
    try:
        log(f"making a git repository of {tar.name} (tag {tag}, once)")
        run(["tar", "-xzf", str(tar), "-C", str(work)], quiet=True)
        src = work / "spack"
        (src / "etc" / "spack" / "packages.yaml").write_text(SITE_PACKAGES)
        git = ["git", "-C", str(src), "-c", "user.name=pctl-nodes", "-c", "user.email=pctl-nodes@localhost"]
        run([*git[:3], "init", "-q"], quiet=True)
        run([*git, "add", "-A"], quiet=True)
        run([*git, "add", "-f", "etc/spack/packages.yaml"], quiet=True)  # Spack's .gitignore hides site config
        run([*git, "commit", "-q", "-m", f"vendored Spack {tar.name}"], quiet=True)
        run([*git, "tag", tag], quiet=True)
        run(["git", "clone", "-q", "--bare", str(src), str(work / "bare.git")], quiet=True)
        (work / "bare.git").rename(path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path, tag
