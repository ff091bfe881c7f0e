"""Cached Debian root filesystems for the nodes (debootstrap), keyed by their package list.

Two cache levels under CACHE (default /var/cache/pctl-nodes, env PCTL_NODES_CACHE):
  base-<suite>/         `debootstrap --variant=minbase` (about 35 s, 206 MB)
  rootfs-<key>/         base + the image's packages + Spack's python venv with clingo, where <key> is a
                        hash of the suite, the package list, the clingo wheels and BUILD_VERSION
Every level is built in CACHE/tmp and renamed into place when complete, so a killed build leaves no
half-made cache entry. The nodes never write to a cached tree: each node mounts it as the lower layer
of an overlay (node.py).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from nodes_lib import image as img
from nodes_lib.proc import NodesError, log, run

BUILD_VERSION = "4"  # bump when the build steps below change what a cached tree holds
SPACK_PYTHON = "/opt/pctl-nodes/spack-python"  # venv in every node: SPACK_PYTHON, clingo importable


def cache_dir() -> Path:
    return Path(os.environ.get("PCTL_NODES_CACHE", "/var/cache/pctl-nodes"))


def _tmp(cache: Path, prefix: str) -> Path:
    (cache / "tmp").mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=cache / "tmp"))
    path.chmod(0o755)  # it becomes a node's "/": mkdtemp's 0700 would lock every non-root user out
    return path


def base(cache: Path) -> Path:
    """The minbase tree (debootstrap), built once."""
    path = cache / f"base-{img.SUITE}"
    if (path / "etc/debian_version").exists():
        return path
    tmp = _tmp(cache, "base-")
    log(f"debootstrap {img.SUITE} from {img.MIRROR} (about 35 s, once)")
    run(["debootstrap", "--variant=minbase", img.SUITE, str(tmp), img.MIRROR], quiet=True)
    tmp.rename(path)
    return path


def wheels(cache: Path) -> Path | None:
    """clingo (and cffi, pycparser) wheels for the nodes' python, fetched once with the host's pip."""
    path = cache / "wheels"
    if any(path.glob("clingo-*.whl")):
        return path
    tmp = _tmp(cache, "wheels-")
    proc = subprocess.run(["python3", "-m", "pip", "download", "-q", "-d", str(tmp), "--only-binary=:all:",
                           "--python-version", "3.11", "--platform", "manylinux2014_x86_64",
                           "--platform", "manylinux_2_17_x86_64", "clingo"],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0 or not any(tmp.glob("clingo-*.whl")):
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"could not download clingo wheels (no PyPI?): {proc.stderr.strip()[-300:]}")
        return None
    if path.exists():
        shutil.rmtree(path)
    tmp.rename(path)
    return path


def key(image: img.Image, wheel_dir: Path | None) -> str:
    wheel_names = sorted(p.name for p in wheel_dir.glob("*.whl")) if wheel_dir else []
    files = [f"{path}\n{body}" for path, body in image.files]
    text = "\n".join([BUILD_VERSION, img.SUITE, *img.all_packages(image), *wheel_names, *files, *img.UNHOOK, *img.EXTRACT])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# Runs inside the tree being built, as root, in a private mount namespace (see _chroot).
_BUILD_SCRIPT = r"""
set -eu
export DEBIAN_FRONTEND=noninteractive LC_ALL=C PATH=/usr/sbin:/usr/bin:/sbin:/bin
# No init system in a node: packages must not try to start their services while installing.
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d
apt-get update -qq
apt-get install -y -qq --no-install-recommends "$@" >/dev/null
for p in $PCTL_EXTRACT; do  # unpacked, not installed (see image.EXTRACT)
    (cd /tmp && apt-get download -qq "$p" 2>/dev/null && dpkg-deb -x /tmp/"$p"_*.deb / && rm -f /tmp/"$p"_*.deb)
done
apt-get clean
rm -rf /var/lib/apt/lists/*
# Slurm laid out like ParallelCluster's: /opt/slurm/{bin,sbin,etc,lib}, on PATH through profile.d.
mkdir -p /opt/slurm/bin /opt/slurm/sbin /opt/slurm/etc /etc/slurm
for f in /usr/bin/s*; do
    case $(basename "$f") in sacct|sacctmgr|salloc|sattach|sbatch|sbcast|scancel|scontrol|scrontab|sdiag|sinfo|sprio|squeue|sreport|srun|sshare|sstat|strigger|sview) ln -sf "$f" /opt/slurm/bin/ ;; esac
done
ln -sf /usr/sbin/slurmctld /usr/sbin/slurmd /usr/sbin/slurmstepd /opt/slurm/sbin/ 2>/dev/null || true
mkdir -p /opt/slurm/lib
ln -sfn /usr/lib/x86_64-linux-gnu/slurm-wlm /opt/slurm/lib/slurm  # plugins and libslurmfull.so, as ParallelCluster's
for f in /usr/lib/x86_64-linux-gnu/libslurm.so*; do [ -e "$f" ] && ln -sf "$f" /opt/slurm/lib/; done
ln -sfn /usr/include /opt/slurm/include  # slurm/slurm.h, slurm/slurm_version.h (libslurm-dev)
ln -sf /opt/slurm/etc/slurm.conf /etc/slurm/slurm.conf
# shellcheck disable=SC2016  # $PATH is for the profile snippet to expand, not for this script
printf 'PATH=/opt/slurm/bin:$PATH\nexport PATH\n' > /etc/profile.d/slurm.sh
# Spack's python: a venv of the node's own python3 with clingo from the wheels the host fetched.
if [ -d /tmp/pctl-wheels ] && ls /tmp/pctl-wheels/clingo-*.whl >/dev/null 2>&1; then
    python3 -m venv /opt/pctl-nodes/spack-python
    /opt/pctl-nodes/spack-python/bin/pip install -q --no-index --find-links /tmp/pctl-wheels clingo
    /opt/pctl-nodes/spack-python/bin/python -c 'import clingo'
fi
"""


def _chroot(tree: Path, script: str, args: list[str], binds: dict[Path, str] | None = None) -> None:
    """Run SCRIPT in TREE as root with /proc and /dev, in a private mount namespace that dies with it."""
    mounts = [f"mount -t proc proc {tree}/proc", f"mount --rbind /dev {tree}/dev", f"mount --make-rslave {tree}/dev"]
    for src, dest in (binds or {}).items():
        mounts += [f"mkdir -p {tree}{dest}", f"mount --bind {src} {tree}{dest}"]
    extract = " ".join(img.EXTRACT)
    outer = ("set -eu; mount --make-rprivate /; " + "; ".join(mounts)
             + f'; exec chroot {tree} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PCTL_EXTRACT="{extract}" /bin/sh -c "$0" "$@"')
    run(["unshare", "--mount", "--pid", "--fork", "--", "/bin/sh", "-c", outer, script, *args], quiet=True)


def rootfs(image: img.Image) -> Path:
    """The cached root filesystem for IMAGE, built when its key is new (about 2 min cold)."""
    cache = cache_dir()
    wheel_dir = wheels(cache)
    path = cache / f"rootfs-{key(image, wheel_dir)}"
    if (path / ".pctl-nodes-image").exists():
        return path
    src = base(cache)
    tmp = _tmp(cache, "rootfs-")
    log(f"building the node root filesystem {path.name} ({len(img.all_packages(image))} packages, once)")
    run(["cp", "-a", f"{src}/.", str(tmp)], quiet=True)
    shutil.copy("/etc/resolv.conf", tmp / "etc/resolv.conf")
    binds = {wheel_dir: "/tmp/pctl-wheels"} if wheel_dir else {}
    _chroot(tmp, _BUILD_SCRIPT, list(img.all_packages(image)), binds)
    for dest in binds.values():  # the (now empty) mount points; never rm -r: they were bind mounts
        (tmp / dest.lstrip("/")).rmdir()
    for dest, body in image.files:
        (tmp / dest.lstrip("/")).write_text(body)
    for hook in img.UNHOOK:
        (tmp / hook.lstrip("/")).unlink(missing_ok=True)
    missing = [p for p in ("opt/slurm/bin/sbatch", "usr/bin/tini", "etc/munge", "usr/share/lmod/lmod/init/bash",
                                 "usr/include/slurm/slurm_version.h") if not os.path.lexists(tmp / p)]
    if missing:
        raise NodesError(f"the root filesystem build in {tmp} lacks {', '.join(missing)}")
    (tmp / ".pctl-nodes-image").write_text("\n".join(img.all_packages(image)) + "\n")
    tmp.rename(path)
    return path
