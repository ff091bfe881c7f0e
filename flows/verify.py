"""The verify flow: is the cluster's software installed, are its users and mounts there, do jobs run?

    python -m flows.verify NAME [--host H --port P --user U --key K --template T]
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from flows._run import announce, namer
from pctl.requests import VerifyRequest
from pctl.verify import resolve_target
from tasks.verify import raise_if_failed, verify_node


@flow(name="verify-cluster", flow_run_name=namer("verify"), log_prints=False)
def verify_cluster(request: VerifyRequest) -> dict[str, Any]:
    """Check a running cluster against its template; fails listing exactly what is missing."""
    announce(request)
    text = label = None
    if request.template is not None:
        text, label = request.template.resolve()
    target = resolve_target(
        request.name, host=request.host, port=request.port, user=request.user, key_path=request.key_path,
        template_text=text, expected_fingerprint=request.expected_fingerprint,
        accept_new_host_key=request.accept_new_host_key,
    )
    if label:
        from dataclasses import replace

        target = replace(target, template_label=label)
    result = verify_node(target, request.accept_new_host_key, wait_timeout_s=request.timeout_minutes * 60)
    return raise_if_failed(result)


if __name__ == "__main__":
    from pctl.cli import run_command

    run_command("verify", prog_name="python -m flows.verify")
