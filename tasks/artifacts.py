"""Prefect artifacts: the plan, the rendered config, and the table of resources pctl created."""

from __future__ import annotations

import re

from prefect import task
from prefect.cache_policies import NO_CACHE

from pctl.lifecycle.plan import Plan, _env


def _key(prefix: str, name: str) -> str:
    # Artifact keys: lowercase letters, digits and dashes only.
    return re.sub(r"[^a-z0-9-]", "-", f"{prefix}-{name}".lower())


@task(name="publish-plan", cache_policy=NO_CACHE)
def publish_plan(plan: Plan) -> None:
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(key=_key("plan", plan.name), markdown=plan.markdown(),
                             description=f"What `pctl create` would do for {plan.name}")


@task(name="publish-config", cache_policy=NO_CACHE)
def publish_config(name: str, config_text: str) -> None:
    from prefect.artifacts import create_markdown_artifact

    fence = "````" if "```" in config_text else "```"
    create_markdown_artifact(key=_key("config", name), markdown=f"{fence}yaml\n{config_text}{fence}\n",
                             description=f"Rendered ParallelCluster config of {name}")


@task(name="publish-resources", cache_policy=NO_CACHE)
def publish_resources(name: str) -> None:
    """A table artifact (for the UI's table view) and a markdown one that also names the user's resources."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    from pctl import state

    st = state.load(name)
    if st is None:
        return
    rows = [{"kind": r.kind, "id": r.id, "region": r.region, "created": r.created_at} for r in st.resources]
    create_table_artifact(key=_key("resources", name), table=rows or [{"kind": "-", "id": "none", "region": st.region, "created": "-"}],
                          description=f"AWS resources pctl created for {name}")
    md = _env().get_template("resources.md.j2").render(
        name=name, region=st.region, resources=st.resources, user_supplied=st.user_supplied)
    create_markdown_artifact(key=_key("resources-summary", name), markdown=md)
