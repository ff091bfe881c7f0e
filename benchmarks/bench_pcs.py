"""PCS figures (issue 13): the time of a PCS plan render (what `pctl render` and the dry run compute), of
the whole stubbed PCS lifecycle (executor create + delete against the model-checked in-memory PCS of
tests/fixtures/pcs.py, no waits), and of `pctl create --dry-run` on a PCS template as a user runs it
(against $PREFECT_API_URL when a server is up, else Prefect's temporary one). Prints medians.

    python benchmarks/bench_pcs.py [N] [DRY_RUNS]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import boto3  # noqa: E402

from pctl.model.template import Template  # noqa: E402
from pctl.pcs.executor import Executor  # noqa: E402
from pctl.pcs.plan import build_plan  # noqa: E402
from pctl.render import render  # noqa: E402
from tests.fixtures.pcs import ModelCheckedPcs  # noqa: E402

DATA = {
    "cluster": {"name": "bench-pcs", "region": "us-east-1", "platform": "pcs"},
    "compute": {"head_node": "t3.medium", "queues": [
        {"name": "cpu", "instance_types": ["c6i.large", "c6i.xlarge", "c6i.2xlarge"], "max_count": 30},
        {"name": "spot", "instance_types": ["c6a.large"], "max_count": 60, "capacity_type": "spot"},
    ]},
}
REFS = {"security_group:id": "sg-0123456789abcdef0",
        "instance_profile:arn": "arn:aws:iam::123456789012:instance-profile/aws-pcs/bench",
        "subnet:id": "subnet-0123456789abcdef0"}


def median_ms(fn, n: int) -> float:
    times = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def lifecycle() -> None:
    t = Template.model_validate(DATA)
    plan = build_plan(t, "subnet-0123456789abcdef0", {})
    refs = dict(REFS) | {f"launch_template:{g['name']}": "lt-0123456789abcdef0" for g in plan["node_groups"]}
    client = boto3.client("pcs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    fake = ModelCheckedPcs(client)
    fake.activate()
    ex = Executor(client, poll_seconds=0, sleep=lambda _s: None)
    ex.apply(plan, refs)
    ex.delete("bench-pcs")
    assert fake.left() == 0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    t = Template.model_validate(DATA)
    render(t)  # warm the template caches
    print(f"PCS render (config, scripts, pcs/plan.json): median {median_ms(lambda: render(t), n):.1f} ms over {n}")
    lifecycle()
    print(f"PCS stubbed lifecycle (create 5 node groups + 2 queues, delete): "
          f"median {median_ms(lifecycle, n):.1f} ms over {n}")
    dry_runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    if dry_runs:
        import json
        import subprocess
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "pcs.json"
            path.write_text(json.dumps(DATA | {"networking": {"ssh_allowed_cidr": "203.0.113.0/24"}}))
            env = {**__import__("os").environ, "PCTL_HOME": str(Path(tmp) / "home")}

            def dry_run() -> None:
                subprocess.run([sys.executable, "-m", "pctl", "create", str(path), "--dry-run"], env=env,
                               check=True, capture_output=True, timeout=600)

            print(f"pctl create --dry-run (PCS template): median {median_ms(dry_run, dry_runs) / 1000:.1f} s "
                  f"over {dry_runs}")


if __name__ == "__main__":
    main()
