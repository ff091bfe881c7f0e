"""What the instance-type table costs `pctl validate`: cold load, one region's offerings, the type checks.

Run: python benchmarks/bench_instance_types.py [--runs N]
Each figure is the median over N fresh subprocesses (cold: nothing cached), in milliseconds of CPU time.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
out = {}
t = time.process_time()
from pctl import instance_types as it
it.table()
out["load_table_ms"] = (time.process_time() - t) * 1000
t = time.process_time()
it.offered_in("c6i.2xlarge", "us-east-1")
out["region_offerings_ms"] = (time.process_time() - t) * 1000
t = time.process_time()
it.did_you_mean("c6i.2xlarg")
out["did_you_mean_ms"] = (time.process_time() - t) * 1000
from pctl.model.loader import load_file
from pctl.validation.base import Validator
from pctl.validation import instance_rules
loaded = load_file(sys.argv[2])
checks = [cls() for cls in Validator.__subclasses__() if cls.__module__ == instance_rules.__name__]
t = time.process_time()
for v in checks:
    list(v.check(loaded.template))
out["instance_checks_ms"] = (time.process_time() - t) * 1000
print(json.dumps(out))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("template", nargs="?", default=str(REPO / "templates" / "bioinformatics.yaml"))
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}
    for _ in range(args.runs):
        run = subprocess.run([sys.executable, "-c", CHILD, str(REPO), args.template],
                             check=True, capture_output=True, text=True)
        for key, value in json.loads(run.stdout).items():
            samples.setdefault(key, []).append(value)
    size_kb = (REPO / "pctl" / "data" / "instance_types.json").stat().st_size / 1024
    print(f"instance_types.json: {size_kb:.0f} KiB; medians over {args.runs} cold runs (CPU ms):")
    for key, values in samples.items():
        print(f"  {key:22s} {statistics.median(values):7.2f}")


if __name__ == "__main__":
    main()
