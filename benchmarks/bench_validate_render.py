"""Medians of `pctl validate` and `pctl render`: as CLI subprocesses (target 0.3 s) and in-process.

Run: python benchmarks/bench_validate_render.py [TEMPLATE] [--runs N]

Each CLI figure is the median wall time and the median CPU time (user + system) of the child. On a
quiet machine the two are close; on a shared one (several jobs on 2 cores) the wall time mostly
measures the wait for a core, and the CPU time is the figure to compare between versions.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_CLI_S = 0.3


def median_seconds(fn, runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def child_medians(argv: list[str], runs: int, env: dict | None = None) -> tuple[float, float]:
    """(median wall seconds, median CPU seconds) of running argv `runs` times."""
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("template", nargs="?", default="starter")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="pctl-bench-"))
    pctl = [sys.executable, "-m", "pctl"]
    # pctl's offline commands switch pydantic's plugin discovery off (pctl.cli.commands.light_pydantic);
    # an explicit empty PYDANTIC_DISABLE_PLUGINS keeps it on: what the same command costs with it.
    plugins_on = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": ""}

    cli = {
        "python -c pass (interpreter floor)": child_medians([sys.executable, "-c", "pass"], args.runs),
        "pctl validate (CLI)": child_medians([*pctl, "validate", args.template], args.runs),
        "pctl validate, pydantic plugin discovery on (CLI)": child_medians(
            [*pctl, "validate", args.template], args.runs, env=plugins_on),
        "pctl render (CLI)": child_medians([*pctl, "render", args.template, "-o", str(out / "cli")], args.runs),
    }

    from pctl.library import resolve
    from pctl.render import render
    from pctl.validation import validate_file

    path = resolve(args.template)
    start = time.perf_counter()
    _, loaded = validate_file(path)
    render(loaded.template)
    inproc = {"first validate+render in-process (cold: imports, Jinja compile)": time.perf_counter() - start,
              "validate_file (in-process)": median_seconds(lambda: validate_file(path), args.runs),
              "render (in-process)": median_seconds(lambda: render(loaded.template), args.runs)}

    width = max(map(len, [*cli, *inproc]))
    print(f"template {args.template}, median of {args.runs} runs; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} CPUs")
    print(f"{'':<{width}}  {'wall':>9}  {'CPU':>9}")
    for name, (wall, cpu) in cli.items():
        flag = ""
        if name.startswith("pctl validate (CLI)"):
            flag = "  ok" if wall <= TARGET_CLI_S else f"  over the {TARGET_CLI_S} s target (wall)"
        print(f"{name:<{width}}  {wall * 1000:6.1f} ms  {cpu * 1000:6.1f} ms{flag}")
    for name, seconds in inproc.items():
        print(f"{name:<{width}}  {seconds * 1000:6.1f} ms")


if __name__ == "__main__":
    main()
