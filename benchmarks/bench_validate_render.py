"""Medians of `pctl validate` and `pctl render`: as CLI subprocesses (target 0.3 s) and in-process.

Run: python benchmarks/bench_validate_render.py [TEMPLATE] [--runs N]
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("template", nargs="?", default="starter")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="pctl-bench-"))
    pctl = [sys.executable, "-m", "pctl"]

    def cli(*argv: str, env: dict | None = None) -> None:
        subprocess.run([*pctl, *argv], check=True, capture_output=True, env=env)

    import os

    # pydantic scans every installed distribution's entry points for plugins at import time.
    no_plugins = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": "__all__"}

    figures = {
        "python -c pass (interpreter floor)": median_seconds(
            lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), args.runs),
        "pctl validate (CLI)": median_seconds(lambda: cli("validate", args.template), args.runs),
        "pctl render (CLI)": median_seconds(lambda: cli("render", args.template, "-o", str(out / "cli")), args.runs),
        "pctl render, PYDANTIC_DISABLE_PLUGINS=__all__ (CLI)": median_seconds(
            lambda: cli("render", args.template, "-o", str(out / "cli2"), env=no_plugins), args.runs),
    }

    from pctl.library import resolve
    from pctl.render import render
    from pctl.validation import validate_file

    path = resolve(args.template)
    start = time.perf_counter()
    _, loaded = validate_file(path)
    render(loaded.template)
    figures["first validate+render in-process (cold: imports, Jinja compile)"] = time.perf_counter() - start
    figures["validate_file (in-process)"] = median_seconds(lambda: validate_file(path), args.runs)
    figures["render (in-process)"] = median_seconds(lambda: render(loaded.template), args.runs)

    width = max(map(len, figures))
    print(f"template {args.template}, median of {args.runs} runs")
    for name, seconds in figures.items():
        flag = ""
        if "(CLI)" in name:
            flag = "  ok" if seconds <= TARGET_CLI_S else f"  over the {TARGET_CLI_S} s target"
        print(f"{name:<{width}}  {seconds * 1000:8.1f} ms{flag}")


if __name__ == "__main__":
    main()
