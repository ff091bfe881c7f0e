"""Requests that flows accept: pydantic models, so the Prefect UI renders real forms for them.

They are plain pydantic (no prefect import) and shared by flows, deployments and the CLI.
A template can arrive as YAML text, a registry name, or a path; it is resolved where the run executes.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, model_validator


class TemplateSource(BaseModel):
    """Exactly one of: the template's YAML text, a registry name, or a path on the worker."""

    yaml: str | None = Field(None, description="Paste the template YAML here.", json_schema_extra={"format": "textarea"})
    registry: str | None = Field(None, description="A registry template name (or source/name).")
    path: str | None = Field(None, description="A template file path (or library name) where the flow runs.")

    @model_validator(mode="after")
    def _exactly_one(self) -> TemplateSource:
        given = [n for n in ("yaml", "registry", "path") if getattr(self, n)]
        if len(given) != 1:
            raise ValueError("give exactly one of yaml, registry or path")
        return self

    def label(self) -> str:
        return self.path or (f"registry:{self.registry}" if self.registry else "<yaml>")

    def resolve(self) -> tuple[str, str]:
        """(template text, a label for messages)."""
        if self.yaml is not None:
            return self.yaml, "<yaml>"
        if self.registry is not None:
            from pctl.registry import fetch_template  # the git registry (pulled and sha256-checked)

            return fetch_template(self.registry)
        from pctl.library import resolve

        p: Path = resolve(self.path or "")
        try:
            return p.read_text(encoding="utf-8"), str(p)
        except UnicodeDecodeError:
            raise _not_text(p) from None
        except OSError as exc:
            from pctl.errors import ConfigError

            why = exc.strerror or str(exc)
            raise ConfigError(f"cannot read template {self.path}: {why}",
                              "give a template file, or a library name from `pctl templates list`") from None


def _not_text(p: Path) -> Exception:
    """A template file that is not UTF-8 text: the error `pctl validate` reports for it (pctl.model.loader's
    issue: FILE:LINE:COLUMN of the first bad byte, and its hint), as a ConfigError."""
    from pctl.errors import ConfigError
    from pctl.model.loader import load_file

    issues = [i for i in load_file(p).issues if i.code == "not_text"]
    if not issues:  # the file changed since it was read
        return ConfigError(f"cannot read template {p}: it is not UTF-8 text",
                           "a template is YAML text: save it as UTF-8 (plain text) in your editor")
    issue = issues[0]
    return ConfigError(f"{p}:{issue.line}:{issue.column}: {issue.message}", issue.hint)


class CreateRequest(BaseModel):
    template: TemplateSource
    name: str | None = Field(None, description="Override cluster.name.")
    region: str | None = Field(None, description="Override cluster.region.")
    key_name: str | None = None
    subnet_id: str | None = Field(None, description="Use this subnet; pctl then creates no network (and never deletes it).")
    ssh_cidr: str | None = Field(None, description="CIDR allowed to SSH to the head node (e.g. your IP as A.B.C.D/32).")
    dry_run: bool = Field(False, description="Validate, render and plan only: creates nothing, needs no AWS account.")
    wait: bool = True
    verify: bool = Field(True, description="Run the software/users/jobs verification after create.")
    rollback: bool = Field(True, description="On failure, delete what this run created. Off: keep it; a re-run resumes.")
    timeout_minutes: int = Field(90, ge=1, le=600)


class DeleteRequest(BaseModel):
    name: str
    region: str | None = None
    wait: bool = True
    timeout_minutes: int = Field(60, ge=1, le=600)


class VerifyRequest(BaseModel):
    name: str
    timeout_minutes: int = Field(60, ge=1, le=600, description="How long to wait for the software install marker.")
    accept_new_host_key: bool = False
    # Optional overrides of what the cluster's state records (or a node pctl did not create).
    host: str | None = Field(None, description="Head node address; default: the one recorded at create.")
    port: int = Field(22, ge=1, le=65535)
    user: str | None = Field(None, description="SSH user; default: the OS's default user (ec2-user, ubuntu...).")
    key_path: str | None = Field(None, description="SSH private key on the worker; default ~/.ssh/<key_name>.pem or the agent.")
    template: TemplateSource | None = Field(None, description="The cluster's template; default: the one recorded at create.")
    expected_fingerprint: str | None = Field(None, description="Head node host key fingerprint (SHA256:...), from its console output.")


class AmiBuildRequest(BaseModel):
    template: TemplateSource
    region: str | None = None
    force: bool = Field(False, description="Bake even when an image with the same fingerprint exists.")
    timeout_minutes: int = Field(120, ge=1, le=600)
    subnet_id: str | None = Field(None, description="Subnet for the builder (needs the internet); default: a default-VPC subnet.")


class CacheWarmRequest(BaseModel):
    """`pctl cache warm`: build a template's packages into the account's Spack binary cache (docs/cache.md)."""

    template: TemplateSource
    region: str | None = None
    timeout_minutes: int = Field(180, ge=1, le=600)
    subnet_id: str | None = Field(None, description="Subnet for the builder (needs the internet); default: a default-VPC subnet.")


class AmiRebuildRequest(BaseModel):
    """The scheduled rebuild: re-bake only templates whose fingerprint changed."""

    templates: list[TemplateSource] = Field(default_factory=list)
    region: str | None = None
    subnet_id: str | None = Field(None, description="Subnet for the builders (needs the internet); default: a default-VPC subnet.")
