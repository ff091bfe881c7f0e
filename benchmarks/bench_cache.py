"""The account's Spack binary cache on this machine: source builds and install time of clusters A, B, C.

    sudo .venv/bin/python benchmarks/bench_cache.py [--repeat N]

Each round: a fresh moto server (plain HTTP on 127.0.0.1: S3 and Secrets Manager), then pctl's rendered
installer three times, each in a fresh Spack root (a fresh shared volume), with `spack install --fake`:
A installs zlib (+ Lmod, as every pctl environment) and pushes what it built; B installs the same;
C adds lz4 (not in A's tree). Prints the medians over rounds: packages built from source, packages from the cache, and
wall-clock seconds of the whole install (concretization included; it dominates). Harness:
tests/tier3/test_cache_spack.py. Needs root, the vendored Spack, gpg, Debian's lmod, clingo and boto3.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def one_round(base: Path) -> dict[str, tuple[int, int, float]]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per S3 request otherwise

    from tests.tier3 import test_cache_spack as h

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                     "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": endpoint}.items():
            os.environ[k] = v
        os.environ.pop("AWS_CA_BUNDLE", None)
        h.prepare_account(endpoint)
        env = h.node_env(endpoint, base / "home")
        out = {}
        for label, packages in (("A", ["zlib"]), ("B", ["zlib"]), ("C", ["zlib", h.NEW_PACKAGE])):
            inst = h.run_install(packages, base / label / "spack", env)
            if inst.returncode != 0:
                raise SystemExit(f"install {label} failed:\n{inst.output[-4000:]}")
            out[label] = (len(inst.names("built")), len(inst.names("cache")), inst.seconds)
        return out
    finally:
        server.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    from tests.tier3.test_cache_spack import skip_reason

    reason = skip_reason()
    if reason:
        raise SystemExit(f"cannot run: {reason}")
    rounds = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory(prefix="bench-cache-") as d:
            rounds.append(one_round(Path(d)))
    print(f"{'cluster':8} {'built':>6} {'from cache':>11} {'seconds':>8}   (medians of {args.repeat})")
    for label in ("A", "B", "C"):
        built = statistics.median(r[label][0] for r in rounds)
        cached = statistics.median(r[label][1] for r in rounds)
        secs = statistics.median(r[label][2] for r in rounds)
        print(f"{label:8} {built:6.0f} {cached:11.0f} {secs:8.0f}")


if __name__ == "__main__":
    main()
