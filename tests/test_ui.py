"""End to end through the UI: register the deployments, run a dry-run create through a real worker, wait for
Completed, and look at the flow run's page in headless Chromium the way a user would.

The PNG is kept under artifacts/ (gitignored) for a human to look at.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deployments.ui import find_chromium, flow_run_url, png_stats, screenshot, ui_url_from_api

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts"
POOL = "pctl-test-ui"

pytestmark = [
    pytest.mark.usefixtures("aws_api_limit_removed"),
    pytest.mark.prefect,
    pytest.mark.slow,
    pytest.mark.skipif(find_chromium() is None, reason="headless Chromium is not installed"),
]


def _wait_final(flow_run_id, timeout: float = 180.0):
    from prefect import get_client

    deadline = time.monotonic() + timeout
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(flow_run_id)
            if run.state and run.state.is_final():
                return run
            if time.monotonic() > deadline:
                pytest.fail(f"flow run still {run.state_name} after {timeout:.0f} s")
            time.sleep(0.5)


def test_dry_run_create_via_deployment_renders_in_the_ui(prefect_server, tmp_path):
    from prefect.deployments import run_deployment

    from deployments.register import register

    reg = register(pool=POOL, only=["create-cluster"])
    assert "create-cluster/create-cluster" in reg.deployments

    run = run_deployment(
        "create-cluster/create-cluster",
        parameters={"request": {"template": {"path": "starter"}, "dry_run": True, "name": "ui-check"}},
        timeout=0,  # just schedule it; the worker below runs it
    )
    # A real process worker, bounded: --run-once polls once, runs what it found, waits for it, exits.
    env = {**os.environ, "PREFECT_API_URL": prefect_server, "PCTL_HOME": str(tmp_path / "pctl-home")}
    worker = subprocess.run(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", POOL, "--type", "process", "--run-once"],
        env=env, capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )
    final = _wait_final(run.id)
    assert final.state.is_completed(), f"{final.state_name}: {final.state.message}\n{worker.stdout[-3000:]}"
    assert (tmp_path / "pctl-home" / "rendered" / "ui-check" / "cluster-config.yaml").exists()

    url = flow_run_url(ui_url_from_api(prefect_server), str(run.id))
    cap = screenshot(url, ARTIFACTS / "ui-flow-run.png")
    stats = png_stats(cap.png)
    assert cap.png.stat().st_size > 20_000
    assert (stats.width, stats.height) == (1440, 1000)
    # A blank or half-loaded page is one or two colours; the run page has text, a graph and badges.
    assert stats.colours > 50 and stats.dominant_share < 0.9, stats
    # And it is this run's page, showing its final state, not an error or the dashboard.
    assert final.name in cap.dom
    assert "Completed" in cap.dom
    assert "create-cluster" in cap.dom
