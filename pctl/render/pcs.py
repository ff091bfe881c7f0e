"""platform: pcs -> `pcs/plan.json`, the `pcs` requests in order (`pctl.pcs.plan`), for review.

The renderer's context supplies the tags and the subnet the user gave; everything PCS needs that only
exists after pctl's own steps (security group, launch templates, instance profile, ids) is a
`${kind:name}` reference that the executor resolves at create.
"""

from __future__ import annotations

from typing import Any

from pctl.model.template import Template
from pctl.pcs.limits import slurm_version_of
from pctl.pcs.plan import build_plan
from pctl.render.options import RenderOptions


def plan_context(t: Template, o: RenderOptions, context: dict[str, Any]) -> dict[str, Any]:
    subnet = o.compute_subnet_id or o.subnet_id or t.networking.compute_subnet_id or t.networking.subnet_id
    tags = {tag["key"]: tag["value"] for tag in context["tags"]}
    return {"plan": build_plan(t, subnet, tags, slurm_version_of(t))}
