"""render() and ami_software_script(): the context goes through one Jinja template per file."""

from __future__ import annotations

import warnings

from pctl.errors import ConfigError
from pctl.model.constants import AMI_SPACK_ROOT
from pctl.model.template import Platform, Template
from pctl.render import context as ctx
from pctl.render.environment import render_template
from pctl.render.options import RenderOptions
from pctl.render.rendered import CONFIG_FILE, PCS_PLAN_FILE, SCRIPTS_DIR, Rendered

SPACK_ENV_FILE = "spack/spack.yaml"
PROFILE_FILE = "modules/pctl-modules.sh"


def checked(template: Template) -> Template:
    """The template re-validated from scratch: render trusts no model it is handed.

    A model built with ``Template.model_construct`` (or changed after validation) skips every check;
    rebuilding it through ``model_validate`` and the offline validators applies them all again.
    Raises ConfigError naming the first problems; returns the freshly validated model.
    """
    from pydantic import ValidationError

    from pctl.validation.base import offline_validators
    from pctl.validation.issues import Level

    if not isinstance(template, Template):
        raise ConfigError(f"render needs a pctl Template, not {type(template).__name__}",
                          "load it with pctl.model.loader.load_template")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # serializer warnings about wrongly typed fields: judged below
            data = template.model_dump(mode="python", round_trip=True, exclude_unset=False)
        fresh = Template.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'template'}: {e['msg']}"
                             for e in exc.errors(include_url=False)[:5])
        raise ConfigError(f"refusing to render an invalid template: {problems}",
                          "validate it first (`pctl validate`); render re-checks every model it is given") from None
    except Exception as exc:  # a model_construct'ed object that cannot even be dumped
        raise ConfigError(f"refusing to render an invalid template: {type(exc).__name__}: {exc}"[:300],
                          "validate it first (`pctl validate`)") from None
    errors = [i for v in offline_validators() for i in v.check(fresh) if i.level is Level.ERROR]
    if errors:
        raise ConfigError("refusing to render an invalid template: "
                          + "; ".join(f"{'.'.join(map(str, i.path)) or 'template'}: {i.message}" for i in errors[:5]),
                          "validate it first (`pctl validate`)")
    return fresh


def render(template: Template, options: RenderOptions | None = None) -> Rendered:
    """Every file of one cluster: ``{relative path: text}`` plus placeholders and script URLs.

    The template is re-validated first (``checked``) and every value is quoted for where it lands
    (pctl.render.environment). Raises ConfigError (invalid model or options) or UnsafeValue.
    """
    template = checked(template)
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
    placeholders = list(context["placeholders"])
    if template.cluster.platform is Platform.pcs:
        from pctl.render.pcs import plan_context

        plan = plan_context(template, options, context)
        files[PCS_PLAN_FILE] = render_template("pcs/plan.json.j2", plan)
        # PCS has no head node and takes one subnet: its plan's stand-ins replace the config's subnet ones
        placeholders = [p for p in placeholders if "subnet" not in p.split(":", 1)[0]] + plan["plan"]["placeholders"]
    urls = {f"{SCRIPTS_DIR}/{n}": ctx.script_url(context["scripts"]["prefix"], n) for n in ctx.script_names()}
    return Rendered(files=files, placeholders=placeholders, script_urls=urls,
                    warnings=ssh_warnings(template, options))


def ssh_warnings(template: Template, options: RenderOptions) -> list[str]:
    """The SSH exposure of the effective AllowedIps when it does not come from the template itself (the
    template's own value is the validator's job): the internet, or a public range the template does not
    write. ConfigError instead under ``options.strict``."""
    from pctl.render.options import effective_ssh
    from pctl.validation.network import ssh_exposure_issue

    n = template.networking
    cidr, source = effective_ssh(n.ssh_allowed_cidr, n.vpc_cidr, options)
    if source is None:
        return []
    issue = ssh_exposure_issue(cidr, template, source=source)
    if issue is None:
        return []
    if options.strict:
        raise ConfigError(f"{issue.message} (--strict)", issue.hint)
    return [f"{issue.message}; {issue.hint}"]


def ami_software_script(template: Template, cache_bucket: str | None = None) -> str:
    """The script an AMI build runs: Spack and the environment into AMI_SPACK_ROOT, in the foreground.

    ``cache_bucket``: pctl's bucket; the build then uses and pushes to its Spack binary cache (pctl.cache)."""
    template = checked(template)
    context = ctx.node_context(template, spack_root=AMI_SPACK_ROOT, cache_bucket=cache_bucket)
    return render_template("scripts/ami-software.sh.j2", context)
