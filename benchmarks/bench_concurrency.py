"""Throughput of N concurrent dry-run lifecycles through a local Prefect server and a process worker.

    python benchmarks/bench_concurrency.py [--n 1 2 4 8] [--repeats 3]

Uses the server `pctl server up` started (starts one if none is healthy and stops it after), registers the
create-cluster deployment on a private work pool, runs one worker for it, then for each N submits N dry-run
creates at once and times submission -> all Completed. Prints the median over repeats, in lifecycles/minute.
Each run is a separate `python -m prefect.engine` process (what a process worker does), so on a small
machine throughput levels off at about the core count.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pctl import prefect_env, server  # noqa: E402

POOL = "pctl-bench"


def _wait_all(ids: list, timeout: float = 600.0) -> list[str]:
    from prefect import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            states = [client.read_flow_run(i).state for i in ids]
            if all(s is not None and s.is_final() for s in states):
                return [s.type.value for s in states]
            if time.monotonic() > deadline:
                raise TimeoutError("runs did not finish")
            time.sleep(0.25)


def one_round(n: int) -> float:
    from prefect.deployments import run_deployment

    t0 = time.perf_counter()
    ids = [run_deployment("create-cluster/create-cluster", timeout=0, parameters={"request": {
        "template": {"path": "starter"}, "dry_run": True, "name": f"bench-{n}-{i}"}}).id for i in range(n)]
    states = _wait_all(ids)
    elapsed = time.perf_counter() - t0
    if set(states) != {"COMPLETED"}:
        raise RuntimeError(f"not all runs completed: {states}")
    return elapsed


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, nargs="+", default=[1, 2, 4, 8])
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    target = prefect_env.configure()
    started_server = False
    if target.mode == "ephemeral":
        print("no local server: starting one (`pctl server up --no-worker`)...", flush=True)
        server.up(worker=False)
        started_server = True
        target = prefect_env.configure()
    print(f"server: {target.api_url}")

    from deployments.register import register

    register(pool=POOL, only=["create-cluster"])
    env = {**os.environ, "PREFECT_API_URL": target.api_url or "", "PREFECT_WORKER_QUERY_SECONDS": "1"}
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / "pctl-bench-worker.log", "wb")  # noqa: SIM115
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process"],
        env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    try:
        one_round(1)  # warm-up: worker registration, first import caches
        print(f"{'N':>3}  {'median s':>9}  {'lifecycles/min':>15}")
        for n in args.n:
            times = [one_round(n) for _ in range(args.repeats)]
            med = statistics.median(times)
            print(f"{n:>3}  {med:>9.1f}  {60 * n / med:>15.1f}", flush=True)
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
        if started_server:
            server.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
