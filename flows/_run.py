"""What every flow run shares: a findable name (`create-genomics`), the cluster's tag, and the line that
tells the CLI user which run this is and where to see it."""

from __future__ import annotations

import contextlib
import re
from typing import Any


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def cluster_name_of(request: Any) -> str | None:
    """The cluster a request is about: its name, else cluster.name from an inline or path template."""
    name = _get(request, "name")
    if name:
        return str(name)
    source = _get(request, "template")
    if source is None:
        return None
    with contextlib.suppress(Exception):
        import yaml

        text = _get(source, "yaml")
        if text is None and _get(source, "path"):
            from pctl.library import resolve

            text = resolve(_get(source, "path")).read_text(encoding="utf-8")[:1_000_000]
        if text:
            found = (yaml.safe_load(text) or {}).get("cluster", {}).get("name")
            if isinstance(found, str):
                return found
    return None


def run_name(action: str, request: Any) -> str:
    name = cluster_name_of(request)
    clean = re.sub(r"[^A-Za-z0-9-]+", "-", name or "")[:60].strip("-")
    return f"{action}-{clean}" if clean else f"{action}-cluster"


def namer(action: str):  # -> Callable[[], str], for @flow(flow_run_name=...)
    def name() -> str:
        from prefect.runtime import flow_run

        params = flow_run.parameters or {}
        return run_name(action, params.get("request") or {"name": params.get("name")})

    return name


def announce(request: Any) -> None:
    """Tag the run with its cluster and log its name and UI link (the CLI prints it as a progress line)."""
    from prefect.runtime import flow_run

    from tasks._common import log

    cluster = cluster_name_of(request)
    with contextlib.suppress(Exception):  # tags are a convenience: never fail a run over them
        if cluster:
            from prefect import get_client

            with get_client(sync_client=True) as client:
                run = client.read_flow_run(flow_run.id)
                tags = sorted({*run.tags, "pctl", f"cluster:{cluster}"})
                client.update_flow_run(flow_run.id, tags=tags)
    url = None
    with contextlib.suppress(Exception):
        from pctl.prefect_env import ephemeral

        if not ephemeral() and flow_run.id:
            from prefect.settings import PREFECT_UI_URL

            # The bundled UI's page of a run (what deployments.ui checks with a browser); Prefect's own
            # runtime.ui_url points at /flow-runs/..., a path that UI does not serve.
            url = f"{str(PREFECT_UI_URL.value()).rstrip('/')}/runs/flow-run/{flow_run.id}"
    log(f"Prefect run {flow_run.name}" + (f": {url}" if url else " (temporary server: `pctl server up` keeps runs)"))
