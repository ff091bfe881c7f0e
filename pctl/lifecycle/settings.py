"""The effective settings of one create: request flags, then the template, then the global config."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from pctl.errors import ConfigError, ValidationFailed
from pctl.model.template import Template
from pctl.requests import CreateRequest


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class CreateSettings:
    name: str
    region: str
    key_name: str | None
    subnet_id: str | None  # the user's: pctl creates no network and never deletes this subnet
    compute_subnet_id: str | None
    ssh_allowed_cidr: str | None
    template_hash: str

    @property
    def user_network(self) -> bool:
        return self.subnet_id is not None


def _global_config() -> object | None:
    """The config engineer's `pctl.config.load_config()`, when it exists and loads."""
    try:
        from pctl.config import load_config
    except ImportError:
        return None
    try:
        return load_config()
    except Exception:  # a broken global config must not hide the template's own values
        return None


def resolve(template: Template, text: str, request: CreateRequest) -> CreateSettings:
    cfg = _global_config()
    region = request.region or template.cluster.region or getattr(cfg, "region", None)
    if not region:
        raise ConfigError("no AWS region", "set cluster.region in the template or pass --region")
    net = template.networking
    settings = CreateSettings(
        name=request.name or template.cluster.name,
        region=region,
        key_name=request.key_name or template.cluster.key_name or getattr(cfg, "key_name", None),
        subnet_id=request.subnet_id or net.subnet_id,
        compute_subnet_id=net.compute_subnet_id,
        ssh_allowed_cidr=getattr(request, "ssh_cidr", None) or net.ssh_allowed_cidr or getattr(cfg, "ssh_allowed_cidr", None),
        template_hash=sha256_text(text),
    )
    _check(settings)
    return settings


def _check(settings: CreateSettings) -> None:
    """Refuse a malformed name, key name, subnet id or CIDR before anything runs (ConfigError, exit 1)."""
    from pctl.render import RenderOptions
    from pctl.state import check_name

    check_name(settings.name)
    RenderOptions(subnet_id=settings.subnet_id, compute_subnet_id=settings.compute_subnet_id,
                  key_name=settings.key_name, ssh_allowed_cidr=settings.ssh_allowed_cidr).check()


def check_template(text: str, source: str) -> tuple[Template, list[str]]:
    """The offline checks, plain Python (the CLI runs them before Prefect starts): (template, warning lines) or ValidationFailed."""
    from pctl.validation import validate_text

    report, loaded = validate_text(text, source)
    if not report.ok() or loaded.template is None:
        from pctl.words import plural

        raise ValidationFailed(f"{source} is invalid ({plural(len(report.errors), 'error')}):\n{report.render()}",
                               f"fix the lines above, then `pctl validate {source}`")
    return loaded.template, [issue.render(source) for issue in report.warnings]
