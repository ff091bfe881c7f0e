"""How long `scripts/nodes up` takes, cold (empty root filesystem cache) and warm (cached), and where
the time goes. Prints medians. Needs root, debootstrap and the vendored Spack tree (as tier 3).

    sudo .venv/bin/python benchmarks/bench_nodes.py [--template T] [--cold N] [--warm N]

Cold runs use a fresh cache directory (PCTL_NODES_CACHE): debootstrap + the image's packages + the
clingo wheels + the Spack git repository, then the cluster. Warm runs reuse the cache of the first
cold run (or the default cache when --cold 0). The phases come from cluster.json's `timings`:
render, rootfs (cache or build), spack-repo, boot (namespaces + services), actions (OnNodeConfigured
scripts), software (the detached Spack install: concretize, install --fake, modules).
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NODES = REPO / "scripts" / "nodes"


def one_up(template: str, cache: Path | None) -> dict[str, float]:
    work = Path(tempfile.mkdtemp(prefix="bench-nodes-"))
    env = dict(os.environ)
    if cache is not None:
        env["PCTL_NODES_CACHE"] = str(cache)
    t = time.monotonic()
    try:
        proc = subprocess.run([str(NODES), "up", "--dir", str(work), template], env=env, capture_output=True,
                              text=True, timeout=3600)
        wall = time.monotonic() - t
        if proc.returncode != 0:
            raise SystemExit(f"scripts/nodes up failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
        timings = json.loads((work / "cluster.json").read_text()).get("timings", {})
        return {"wall": wall, **timings}
    finally:
        subprocess.run([str(NODES), "down", "--dir", str(work)], env=env, capture_output=True, timeout=600)


def report(label: str, runs: list[dict[str, float]]) -> None:
    if not runs:
        return
    keys = [k for k in runs[0] if k != "total"]
    med = {k: statistics.median(r.get(k, 0.0) for r in runs) for k in keys}
    print(f"{label}: {len(runs)} run(s), median wall {med['wall']:.1f} s")
    for k in keys:
        if k != "wall":
            print(f"  {k:<11} {med[k]:7.1f} s  ({100 * med[k] / med['wall']:4.1f} %)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--template", default=str(REPO / "tests" / "tier3" / "mpi-two-makers.yaml"))
    p.add_argument("--cold", type=int, default=1, help="cold runs (each with an empty cache)")
    p.add_argument("--warm", type=int, default=1, help="warm runs (cached root filesystem)")
    args = p.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench_nodes: needs root (scripts/nodes)")
    # Same lock as the tier-3 tests: one local cluster per machine (fixed ports).
    lock = open("/run/lock/pctl-nodes-tier3.lock" if os.path.isdir("/run/lock") else "/tmp/pctl-nodes-tier3.lock", "a")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    cold, warm, keep = [], [], None
    for _ in range(args.cold):
        cache = Path(tempfile.mkdtemp(prefix="bench-nodes-cache-"))
        cold.append(one_up(args.template, cache))
        if keep is None:
            keep = cache
        else:
            shutil.rmtree(cache, ignore_errors=True)
    for _ in range(args.warm):
        warm.append(one_up(args.template, keep))
    report("cold (empty cache)", cold)
    report("warm (cached root filesystem)", warm)
    if keep is not None:
        shutil.rmtree(keep, ignore_errors=True)


if __name__ == "__main__":
    main()
