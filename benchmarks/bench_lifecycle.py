"""The dry run's wall time and per-task overhead: cold (Prefect's ephemeral mode) and against a running
local Prefect server. Medians of several runs; each run is a fresh `pctl create --dry-run` process.

    python benchmarks/bench_lifecycle.py [--runs 3] [--template templates/starter.yaml]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _dry_run(template: str, env: dict[str, str]) -> tuple[float, list[float]]:
    """Wall seconds of one dry run, and the elapsed stamps of its progress lines (one per task step)."""
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pctl", "create", template, "--dry-run"], env=env,
                          capture_output=True, text=True, cwd=REPO)
    wall = time.monotonic() - start
    if proc.returncode:
        raise SystemExit(f"dry run failed:\n{proc.stderr[-2000:]}")
    stamps = [float(m) for m in re.findall(r"^\[\s*([\d.]+)s\]", proc.stderr, re.M)]
    return wall, stamps


def _series(label: str, template: str, env: dict[str, str], runs: int) -> None:
    walls, spans = [], []
    for _ in range(runs):
        wall, stamps = _dry_run(template, env)
        walls.append(wall)
        if len(stamps) >= 2:
            spans.append((stamps[-1] - stamps[0]) / (len(stamps) - 1))
    print(f"{label:<28} wall median {statistics.median(walls):6.2f} s  (runs: {', '.join(f'{w:.2f}' for w in walls)})")
    if spans:
        print(f"{'':<28} per step      {statistics.median(spans) * 1000:6.0f} ms (between progress lines)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--template", default="templates/starter.yaml")
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-lifecycle-"))
    base = {**os.environ, "PCTL_HOME": str(home / "pctl"), "PREFECT_HOME": str(home / "prefect"),
            "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    for var in ("PREFECT_API_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        base.pop(var, None)
    base["AWS_SHARED_CREDENTIALS_FILE"] = base["AWS_CONFIG_FILE"] = str(home / "none")
    base["AWS_EC2_METADATA_DISABLED"] = "true"

    _series("cold (ephemeral Prefect)", args.template, base, args.runs)

    port = _free_port()
    url = f"http://127.0.0.1:{port}/api"
    server = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
                               "--port", str(port)], env=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("prefect server did not start") from None
                time.sleep(0.5)
        _series("running local server", args.template, {**base, "PREFECT_API_URL": url}, args.runs)
    finally:
        server.terminate()
        server.wait(15)


if __name__ == "__main__":
    main()
