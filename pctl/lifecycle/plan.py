"""The plan of a create: what pctl would create, reuse or leave alone. Printed by `--dry-run`."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

import jinja2

from pctl.lifecycle.settings import CreateSettings
from pctl.model.template import InstallMode, Platform, Template
from pctl.words import plural


@dataclass
class Step:
    key: str
    title: str
    detail: str
    creates: bool = True  # False: reuses or only reads (the user's subnet, an existing AMI)


@dataclass
class Check:
    name: str
    outcome: str  # "passed", "failed", "warning", "skipped"
    detail: str = ""
    hint: str = ""  # the fix, for a failed (or skipped) check


@dataclass
class Plan:
    name: str
    region: str
    source: str
    template_hash: str
    steps: list[Step] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    cost_text: str | None = None
    monthly_usd: float | None = None
    pcluster_version: str | None = None
    config_path: str | None = None
    placeholders: list[str] = field(default_factory=list)
    create_command: str = ""  # the create to run next: every flag the dry run was given (not --dry-run)

    @property
    def placeholder_names(self) -> list[str]:
        """What the placeholders stand for, without render's how-to-pass-it hints (create fills them)."""
        return [p.split(":", 1)[0] for p in self.placeholders]

    def text(self) -> str:
        return _env().get_template("plan.txt.j2").render(plan=self).rstrip() + "\n"

    def markdown(self) -> str:
        return _env().get_template("plan.md.j2").render(plan=self)


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("pctl.lifecycle", "templates"),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
    )


def create_command(source: str, request: object) -> str:
    """`pctl create SOURCE` plus each flag the user gave (name, region, key, subnet, SSH CIDR), quoted."""
    import shlex

    parts = ["pctl", "create", source]
    for flag, attr in (("--name", "name"), ("--region", "region"), ("--key-name", "key_name"),
                       ("--subnet-id", "subnet_id"), ("--ssh-cidr", "ssh_cidr")):
        value = getattr(request, attr, None)
        if value:
            parts += [flag, value]
    if getattr(request, "rollback", True) is False:
        parts.append("--no-rollback")
    return shlex.join(parts)


def build(template: Template, settings: CreateSettings, source: str, pcluster_version: str | None) -> Plan:
    """The steps of a create, in order, from the template and the effective settings (no AWS calls)."""
    t = template
    plan = Plan(name=settings.name, region=settings.region, source=source,
                template_hash=settings.template_hash, pcluster_version=pcluster_version)
    if not (settings.key_name or t.cluster.key_name):
        plan.steps.append(Step("keypair", "key pair", f"create the EC2 key pair pctl-{settings.name} (its private "
                               "key stays on this machine, mode 0600) unless it exists already"))
    if settings.user_network:
        plan.steps.append(Step("network", "network", f"use your subnet {settings.subnet_id} (pctl never deletes it)", False))
    else:
        net = t.networking
        parts = [f"VPC {net.vpc_cidr}", "internet gateway", "public subnet"]
        if not net.public_only:
            parts += ["private subnet", "NAT gateway"]
        ssh = settings.ssh_allowed_cidr or "nowhere (no ssh_allowed_cidr set)"
        parts.append(f"security group (SSH from {ssh})")
        plan.steps.append(Step("network", "network", "create " + ", ".join(parts)))
    plan.steps.append(Step("bootstrap", "bootstrap scripts",
                           "upload the rendered node scripts to an encrypted S3 bucket (pctl's own, per account)"))
    bc = t.software.binary_cache
    if bc is not False and t.software.install is InstallMode.shared:
        where = f"{bc.rstrip('/')}/spack-cache/" if isinstance(bc, str) else "pctl's bucket (spack-cache/)"
        who = ("the login node group's role" if t.cluster.platform is Platform.pcs
               else f"the head node, through the IAM policy pctl-{settings.name}-spack-cache,")
        plan.steps.append(Step("cache", "binary cache", f"{who} may read and push the account's Spack binary cache "
                               f"in {where}; its signing key is made once per account if missing (Secrets Manager)"))
    if t.cluster.platform is Platform.pcs:
        _pcs_steps(plan, t, settings)
        return plan
    if t.software.install is InstallMode.ami:
        plan.steps.append(Step("ami", "custom AMI",
                               f"bake an image with {plural(len(t.software.spack_packages), 'Spack package')} "
                               "(reused when one with the same fingerprint exists)"))
    else:
        cache = ", binaries first from the account's cache" if bc is not False else ", from source (binary_cache: false)"
        plan.steps.append(Step("ami", "image", f"official ParallelCluster image for {t.cluster.os}; "
                               f"Spack installs {plural(len(t.software.spack_packages), 'package')} on {t.software_mount} "
                               f"after boot{cache}", False))
    queues = ", ".join(f"{q.name} ({'/'.join(q.instance_types)}, {q.min_count}-{q.max_count})" for q in t.compute.queues)
    plan.steps.append(Step("cluster", "cluster",
                           f"create {settings.name} with ParallelCluster {pcluster_version or '?'}: "
                           f"head node {t.compute.head_node}, queues {queues}"))
    plan.steps.append(Step("verify", "verify", "check software, users and a test job on the head node", False))
    return plan


def _pcs_steps(plan: Plan, t: Template, settings: CreateSettings) -> None:
    """The PCS half of a plan: node resources, image, the PCS cluster with its node groups and queues."""
    from pctl.pcs import limits
    from pctl.pcs.plan import node_groups

    groups = node_groups(t)
    nodes = sum(g.max_count for g in groups)
    volumes = ", ".join(s.mount_point for s in t.shared_storage)
    plan.steps.append(Step("pcs-resources", "PCS node resources",
                           f"security group, encrypted EFS for {volumes}, two /aws-pcs/ instance profiles scoped to "
                           "the template's buckets (compute; login, which alone reaches the binary cache), "
                           f"{len(groups)} launch templates (IMDSv2, encrypted root)"))
    plan.steps.append(Step("ami", "image", f"AWS's PCS sample AMI for Slurm {limits.slurm_version_of(t)} "
                           f"(found by name); Spack installs {plural(len(t.software.spack_packages), 'package')} on "
                           f"{t.software_mount} from the login node after boot", False))
    described = "; ".join(f"{g.name} ({'/'.join(g.instance_types)}, {g.min_count}-{g.max_count}"
                          + (f", {g.purchase_option}" if g.purchase_option != "ONDEMAND" else "") + ")" for g in groups)
    plan.steps.append(Step("cluster", "PCS cluster",
                           f"create {settings.name} on AWS PCS: Slurm {limits.slurm_version_of(t)}, size "
                           f"{limits.cluster_size(nodes) or 'too large'}, node groups {described}; "
                           f"{plural(len(t.compute.queues), 'queue')}"))
