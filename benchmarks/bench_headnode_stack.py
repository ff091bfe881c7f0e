"""The loopback head node's start with the real Spack stack (scripts/headnode), warm and cold.

    sudo python benchmarks/bench_headnode_stack.py [--runs 3] [--cold]

Warm: the installed Spack root is cached (/var/cache/pctl/headnode/roots/<key>), so a start is users,
sshd, munge, Slurm and the cache link. Cold (--cold, one run): a fresh cache directory, so the rendered
installer runs for real (local git repository of the vendored Spack, clingo venv from PyPI, concretize,
`spack install --fake`, `spack module lmod refresh`, module check). Prints the median of each.
Stops any loopback node it started; refuses when one is already running (it would be someone's).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "headnode"


def timed_start(env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run([SCRIPT, "start"], env=env, capture_output=True, text=True, timeout=3600)
    elapsed = time.monotonic() - started
    subprocess.run([SCRIPT, "stop"], env=env, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        sys.exit(f"scripts/headnode start failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="also time one start with an empty Spack cache")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (scripts/headnode start does)")
    env = {**os.environ}
    if subprocess.run([SCRIPT, "status"], env=env, capture_output=True).returncode == 0:
        sys.exit("a loopback head node is running; stop it first (it may be someone's)")
    if args.cold:
        with tempfile.TemporaryDirectory(prefix="pctl-headnode-cache-", dir="/var/tmp") as cache:
            os.chmod(cache, 0o755)
            cold = timed_start({**env, "PCTL_HEADNODE_CACHE": cache})
        print(f"cold start (empty cache): {cold:.1f} s")
    warm = [timed_start(env) for _ in range(args.runs)]
    print(f"warm start (cached Spack root): median {statistics.median(warm):.1f} s over {len(warm)} runs "
          f"({', '.join(f'{w:.1f}' for w in warm)})")


if __name__ == "__main__":
    main()
