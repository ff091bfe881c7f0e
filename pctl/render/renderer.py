"""render() and ami_software_script(): the context goes through one Jinja template per file."""

from __future__ import annotations

from pctl.model.constants import AMI_SPACK_ROOT
from pctl.model.template import Platform, Template
from pctl.render import context as ctx
from pctl.render.environment import render_template
from pctl.render.options import RenderOptions
from pctl.render.rendered import CONFIG_FILE, SCRIPTS_DIR, Rendered

SPACK_ENV_FILE = "spack/spack.yaml"
PROFILE_FILE = "modules/pctl-modules.sh"
PCS_PLAN_FILE = "pcs/plan.json"


def render(template: Template, options: RenderOptions | None = None) -> Rendered:
    options = options or RenderOptions()
    options.check()
    context = ctx.build(template, options)
    files = {
        CONFIG_FILE: render_template("cluster-config.yaml.j2", context),
        SPACK_ENV_FILE: render_template("spack/spack.yaml.j2", context),
        PROFILE_FILE: render_template("modules/pctl-modules.sh.j2", context),
    }
    for name in ctx.script_names():
        files[f"{SCRIPTS_DIR}/{name}"] = render_template(f"scripts/{name}.j2", context)
    if template.cluster.platform is Platform.pcs:
        from pctl.render.pcs import plan_context

        files[PCS_PLAN_FILE] = render_template("pcs/plan.json.j2", plan_context(template, options, context))
    urls = {f"{SCRIPTS_DIR}/{n}": ctx.script_url(context["scripts"]["prefix"], n) for n in ctx.script_names()}
    return Rendered(files=files, placeholders=list(context["placeholders"]), script_urls=urls)


def ami_software_script(template: Template) -> str:
    """The script an AMI build runs: Spack and the environment into AMI_SPACK_ROOT, in the foreground."""
    context = ctx.node_context(template, spack_root=AMI_SPACK_ROOT)
    return render_template("scripts/ami-software.sh.j2", context)
