"""Preflight: everything that can stop a create, checked before anything is created, reported at once.

`run(template, settings, dry_run=...)` returns a `Preflight` whose `checks` (plan.Check: name, outcome
passed/failed/warning/skipped, detail, hint) cover, in order:

* SSH: the CIDR allowed to reach the head node (needed when pctl creates the network);
* placeholders: the config rendered with every value pctl fills in at create time has none left;
* tools: `node` (Node.js >= 18, what ParallelCluster's CDK needs) and the installed pcluster version;
* AWS credentials: they resolve and STS answers (names the account, identity and region);
* key pair: the named one exists, or pctl will create `pctl-<cluster>` (private key under $PCTL_HOME);
* instance types: every type is offered in the zone the cluster will use (the user's subnet's zone, or
  the zone pctl's network step picks);
* quota: one node of the largest queue fits the account's running-vCPU quota (else it fails), and the queue
  at full scale (else a warning) - Service Quotas; where it does not answer, e.g. under moto, "skipped".

A dry run without credentials reports the AWS checks as skipped (a plan needs no account); a create
fails on them. Plain Python (boto3 through pctl.aws; no prefect).
"""

from __future__ import annotations

import datetime
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

from pctl.errors import PctlError
from pctl.lifecycle import keypair
from pctl.lifecycle.plan import Check
from pctl.lifecycle.settings import CreateSettings
from pctl.model.template import InstallMode, Platform, Template

NODE_MIN_MAJOR = 18
# End-of-life dates of Node.js majors (nodejs.org, "Previous Releases"): the CDK warns on every run after them.
NODE_END_OF_LIFE = {18: "2025-04-30", 20: "2026-04-30"}
# Values that only stand in for what pctl itself fills in at create time (network, bucket, AMI).
_STAND_IN_SUBNET = "subnet-0ffffffffffffffff"
_STAND_IN_AMI = "ami-0ffffffffffffffff"
_STAND_IN_SCRIPTS = "s3://pctl-preflight-stand-in/pctl/scripts"
MY_IP_HINT = ("your own public IP: `curl -s https://checkip.amazonaws.com` (then use it as A.B.C.D/32), or your "
              "site's network range from its admins")


class PreflightFailed(PctlError):
    """The create cannot start: every failed check, each with its fix. Nothing was created."""


@dataclass
class Preflight:
    checks: list[Check] = field(default_factory=list)
    account: str | None = None
    key_to_create: str | None = None  # pctl creates this key pair (none was named)
    zone: str | None = None

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.outcome == "failed"]

    def lines(self) -> list[str]:
        return [f"preflight {c.outcome:<8} {c.name}" + (f": {c.detail}" if c.detail else "") for c in self.checks]

    def error(self, name: str) -> PreflightFailed:
        problems = "\n".join(f"  - {c.name}: {c.detail}" + (f"\n      fix: {c.hint}" if c.hint else "")
                             for c in self.failed)
        return PreflightFailed(f"preflight of {name} found {len(self.failed)} problem"
                               f"{'' if len(self.failed) == 1 else 's'}; nothing was created:\n{problems}",
                               "fix them all, then run the same command again")


# ---- offline checks --------------------------------------------------------------------------------

def ssh_check(settings: CreateSettings, node: str = "head node") -> Check:
    """``node``: who takes the SSH logins ("head node"; "login node" on PCS)."""
    if settings.user_network:
        return Check("SSH access", "passed", f"your subnet {settings.subnet_id}: pctl creates no security group"
                     + (f"; SSH from {settings.ssh_allowed_cidr}" if settings.ssh_allowed_cidr else ""))
    if settings.ssh_allowed_cidr:
        return Check("SSH access", "passed", f"the {node} accepts SSH from {settings.ssh_allowed_cidr}")
    return Check("SSH access", "failed", f"no CIDR may SSH to the {node} (pctl creates the security group)",
                 "pass --ssh-cidr A.B.C.D/32, set networking.ssh_allowed_cidr in the template, or "
                 f"`pctl config set ssh_allowed_cidr A.B.C.D/32`; {MY_IP_HINT}")


def placeholder_check(template: Template, settings: CreateSettings, key_name: str) -> Check:
    """Render with every value pctl fills in at create time; whatever is still a placeholder would reach
    ParallelCluster (a capacity block id, a compute subnet...)."""
    from pctl.render import RenderOptions, render

    if settings.name != template.cluster.name:
        template = template.model_copy(update={"cluster": template.cluster.model_copy(update={"name": settings.name})})
    options = RenderOptions(
        subnet_id=settings.subnet_id or _STAND_IN_SUBNET,
        compute_subnet_id=settings.compute_subnet_id or (None if settings.subnet_id else _STAND_IN_SUBNET),
        key_name=key_name, ssh_allowed_cidr=settings.ssh_allowed_cidr, scripts_s3_prefix=_STAND_IN_SCRIPTS,
        custom_ami=_STAND_IN_AMI if template.software.install is InstallMode.ami else None,
    )
    try:
        left = list(render(template, options).placeholders)
    except PctlError as exc:
        return Check("rendered config", "failed", str(exc), exc.hint or "")
    if left:
        return Check("rendered config", "failed", "values nobody fills in: " + "; ".join(left),
                     "set them in the template (or pass the flag each one names)")
    return Check("rendered config", "passed", "no placeholder is left once pctl fills in the network, bucket and key")


def node_check() -> Check:
    node = shutil.which("node")
    if node is None:
        return Check("Node.js", "failed", "`node` is not on PATH (ParallelCluster's CDK needs it to create a cluster)",
                     f"install Node.js {NODE_MIN_MAJOR}+ (`apt-get install nodejs`, or nodejs.org) and put it on PATH")
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10, check=False)
        version = (out.stdout or out.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("Node.js", "failed", f"{node} does not run: {exc}", "reinstall Node.js")
    m = re.fullmatch(r"v?(\d+)\.\d+\.\d+\S*", version)
    if m is None or int(m.group(1)) < NODE_MIN_MAJOR:
        return Check("Node.js", "failed", f"{node} is {version or 'of unknown version'}",
                     f"install Node.js {NODE_MIN_MAJOR}+ and put it first on PATH")
    major = int(m.group(1))
    ended = NODE_END_OF_LIFE.get(major)
    if ended and datetime.date.today().isoformat() >= ended:
        return Check("Node.js", "warning", f"{version} ({node}) reached end-of-life on {ended}; ParallelCluster's "
                     "CDK still runs on it but says so on every create", "install a maintained Node.js LTS (22 or newer)")
    return Check("Node.js", "passed", f"{version} ({node})")


def pcluster_check(resumed_with: str | None = None) -> Check:
    from pctl.pcluster_manager import PINNED_VERSION, _same, installed_version

    current = installed_version()
    if current is None:
        return Check("ParallelCluster", "failed", "aws-parallelcluster is not installed", "`pctl pcluster install`")
    if resumed_with and not _same(resumed_with, current):
        return Check("ParallelCluster", "failed",
                     f"the interrupted create began with pcluster {resumed_with}, {current} is installed",
                     f"`pctl pcluster install --version {resumed_with}` to resume it, or `pctl delete` it first")
    if not _same(current, PINNED_VERSION):
        return Check("ParallelCluster", "warning", f"{current} is installed; pctl is tested with {PINNED_VERSION}",
                     f"`pctl pcluster install --version {PINNED_VERSION}`")
    return Check("ParallelCluster", "passed", current)


# ---- AWS checks ------------------------------------------------------------------------------------

CREDENTIALS_FIX = "configure credentials: `aws configure`, `aws sso login`, or AWS_PROFILE"


def identity(region: str, timeout_s: float = 5.0) -> tuple[Any, dict[str, str] | None, str]:
    """(session, {'Account', 'Arn'} or None, why not). One STS call, no retries, short timeouts."""
    session, ident, why, _ = whoami(region, timeout_s)
    return session, ident, why


def whoami(region: str, timeout_s: float = 5.0) -> tuple[Any, dict[str, str] | None, str, str]:
    """`identity` plus the fix for why not: credentials when there are none (or AWS refused them), the way
    to AWS (network, proxy, AWS_ENDPOINT_URL) when no answer came back at all."""
    from botocore.config import Config

    from pctl.aws.errors import to_pctl_error
    from pctl.aws.session import make_session

    try:
        session = make_session(region)
        if session.get_credentials() is None:
            return session, None, "no AWS credentials found", CREDENTIALS_FIX
        cfg = Config(connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 1, "mode": "standard"})
        ident = session.client("sts", config=cfg).get_caller_identity()
    except Exception as exc:
        err = to_pctl_error(exc, "asking STS who you are")
        return None, None, str(err).splitlines()[0], err.hint or CREDENTIALS_FIX
    return session, {"Account": ident["Account"], "Arn": ident["Arn"]}, "", ""


def key_check(session: Any, settings: CreateSettings) -> tuple[Check, str | None]:
    """(check, name of a key pair pctl will create or None)."""
    region = session.region_name
    if settings.key_name:
        found = keypair.describe(session, settings.key_name)
        if found is None:
            return Check("key pair", "failed", f"{settings.key_name} does not exist in {region}",
                         f"import yours (`aws ec2 import-key-pair --region {region} --key-name {settings.key_name} "
                         "--public-key-material fileb://~/.ssh/id_rsa.pub`), or drop --key-name/cluster.key_name "
                         "and pctl creates one"), None
        return Check("key pair", "passed", f"{settings.key_name} ({found.get('KeyType', 'rsa')}) exists in {region}"), None
    name = keypair.default_name(settings.name)
    path = keypair.private_key_path(name)
    if keypair.describe(session, name) is not None:
        if path.exists():
            return Check("key pair", "passed", f"{name} exists; its private key is {path}"), None
        return Check("key pair", "failed", f"{name} exists in {region} but its private key is not at {path}",
                     f"pass --key-name with a key pair you hold, or `aws ec2 delete-key-pair --region {region} "
                     f"--key-name {name}`"), None
    return Check("key pair", "passed", f"none named: pctl creates {name} (RSA) and keeps its private key at {path} "
                 "(mode 0600)"), name


def zone_for(session: Any, settings: CreateSettings) -> str:
    from pctl.aws.session import client

    if settings.subnet_id:
        return client(session, "ec2").describe_subnets(SubnetIds=[settings.subnet_id])["Subnets"][0]["AvailabilityZone"]
    from pctl.aws.network import _first_az  # the zone pctl's network step will pick

    return _first_az(client(session, "ec2"))


def zone_check(session: Any, template: Template, zone: str) -> Check:
    from pctl.aws.session import client

    wanted = sorted({template.compute.head_node, *(t for q in template.compute.queues for t in q.instance_types)})
    offered: set[str] = set()
    pages = client(session, "ec2").get_paginator("describe_instance_type_offerings").paginate(
        LocationType="availability-zone",
        Filters=[{"Name": "location", "Values": [zone]}, {"Name": "instance-type", "Values": wanted}])
    for page in pages:
        offered |= {o["InstanceType"] for o in page["InstanceTypeOfferings"]}
    missing = [t for t in wanted if t not in offered]
    if missing:
        return Check("instance types", "failed", f"not offered in {zone}: {', '.join(missing)}",
                     f"pick types `aws ec2 describe-instance-type-offerings --location-type availability-zone "
                     f"--filters Name=location,Values={zone}` lists, or a subnet in another zone (--subnet-id)")
    return Check("instance types", "passed", f"all {len(wanted)} offered in {zone}")


def quota_check(session: Any, template: Template) -> Check:
    """The largest queue at full scale (max_count x its biggest type's vCPUs) against its vCPU quota."""
    from pctl.aws.errors import error_code
    from pctl.aws.preflight import ONDEMAND_QUOTAS, SPOT_STANDARD_QUOTA, _vcpus
    from pctl.aws.session import client

    names = sorted({t for q in template.compute.queues for t in q.instance_types})
    vcpus = _vcpus(session, names)
    best = None
    for q in template.compute.queues:
        one = max((vcpus.get(t, 0) for t in q.instance_types), default=0)
        need = one * q.max_count
        letter = q.instance_types[0][:1].lower()
        if q.capacity_type.value == "spot":
            quota = SPOT_STANDARD_QUOTA if letter in "acdhimrtz" else None
        else:
            quota = ONDEMAND_QUOTAS.get(letter)
        if best is None or need > best[1]:
            best = (q, need, quota, one)
    if best is None or not best[1]:
        return Check("vCPU quota", "skipped", "vCPU counts of the queue's types are unknown")
    q, need, quota, one = best
    if quota is None:
        return Check("vCPU quota", "skipped", f"queue {q.name}: no known quota code for {q.instance_types[0]}")
    code, label = quota
    try:
        value = client(session, "service-quotas").get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
    except Exception as exc:
        why = error_code(exc) or type(exc).__name__
        return Check("vCPU quota", "skipped", f"Service Quotas did not answer for {code} ({why}); queue {q.name} "
                     f"needs {need} vCPUs at full scale",
                     f"check it yourself: Service Quotas > EC2 > '{label}'")
    if one > value:  # not even one node of the queue can start: the cluster could never run a job there
        return Check("vCPU quota", "failed", f"one node of queue {q.name} needs {one} vCPUs; the '{label}' quota "
                     f"in {session.region_name} is {value:.0f}",
                     f"request an increase: Service Quotas > EC2 > {code} (new accounts often start at 0 for GPUs)")
    if need > value:  # it runs, but cannot reach max_count
        return Check("vCPU quota", "warning", f"queue {q.name} needs {need} vCPUs at full scale; the '{label}' quota "
                     f"in {session.region_name} is {value:.0f}",
                     f"lower its max_count, or request an increase: Service Quotas > EC2 > {code}")
    return Check("vCPU quota", "passed", f"queue {q.name}: {need} of {value:.0f} vCPUs ({label})")


def cache_check(session: Any, template: Template) -> Check | None:
    """The binary cache (issue 15): its bucket when the template names one, and a signing key (in Secrets
    Manager, else ``gpg`` here to make one). None when the template uses no account cache."""
    from pctl.cache.keys import gpg_program, load_signing_key
    from pctl.cache.location import cache_bucket_for

    bc = template.software.binary_cache
    if bc is False:
        return None
    bucket = cache_bucket_for(bc, None)
    if bucket is not None:
        from pctl.aws.bucket import bucket_exists

        if not bucket_exists(session, bucket):
            return Check("binary cache", "failed", f"software.binary_cache: the bucket s3://{bucket} does not exist",
                         "create it (`aws s3 mb s3://BUCKET`), or set binary_cache: true to use pctl's bucket")
    where = f"s3://{bucket}/spack-cache/" if bucket else "pctl's bucket"
    key = load_signing_key(session)
    if key is not None:
        return Check("binary cache", "passed", f"{where}, signing key {key.fingerprint[-16:]} (Secrets Manager)")
    if gpg_program() is None:
        return Check("binary cache", "failed",
                     "the account has no signing key for its Spack binary cache yet, and `gpg` (which makes it, once) "
                     "is not installed here",
                     "install GnuPG (`apt-get install gnupg`, `dnf install gnupg2`, `brew install gnupg`), "
                     "or set software.binary_cache: false")
    return Check("binary cache", "passed", f"{where}; the create makes the account's first signing key (gpg) "
                 "and keeps it in Secrets Manager")


def _guarded(name: str, fn: Any, *args: Any) -> Any:
    """Run one AWS check; an unexpected answer becomes a failed check naming the cause, never a crash."""
    from pctl.aws.errors import to_pctl_error

    try:
        return fn(*args)
    except Exception as exc:
        err = to_pctl_error(exc, f"checking {name}")
        return Check(name, "failed", str(err).splitlines()[0], err.hint or "")


def run(template: Template, settings: CreateSettings, *, dry_run: bool = False,
        resumed_with: str | None = None) -> Preflight:
    """Every check, each one independent: a failure never hides the next one's answer. Node.js and the
    pcluster version are ParallelCluster's only (a PCS cluster needs neither)."""
    pf = Preflight()
    key_name = settings.key_name or keypair.default_name(settings.name)
    pcs = template.cluster.platform is Platform.pcs
    pf.checks += [ssh_check(settings, "login node" if pcs else "head node"), placeholder_check(template, settings, key_name)]
    if not pcs:  # PCS runs Slurm itself: no CDK, no pcluster
        pf.checks += [node_check(), pcluster_check(resumed_with)]
    session, ident, why, fix = whoami(settings.region)
    if ident is None:
        outcome = "skipped" if dry_run else "failed"
        pf.checks.append(Check("AWS credentials", outcome, f"{why} (region {settings.region})", fix))
        pf.checks.append(Check("AWS account checks", "skipped",
                               "key pair, instance types in the zone and vCPU quota need credentials"))
        return pf
    pf.account = ident["Account"]
    pf.checks.append(Check("AWS credentials", "passed",
                           f"account {ident['Account']} as {ident['Arn']}, region {settings.region}"))
    found = _guarded("key pair", key_check, session, settings)
    if isinstance(found, Check):
        pf.checks.append(found)
    else:
        pf.checks.append(found[0])
        pf.key_to_create = found[1]
    zone = _guarded("instance types", zone_for, session, settings)
    if isinstance(zone, Check):
        pf.checks.append(zone)
    else:
        pf.zone = zone
        pf.checks.append(_guarded("instance types", zone_check, session, template, zone))
    pf.checks.append(_guarded("vCPU quota", quota_check, session, template))
    cache = _guarded("binary cache", cache_check, session, template)
    if cache is not None:
        pf.checks.append(cache)
    return pf


def without_credentials(template: Template, settings: CreateSettings) -> PreflightFailed | None:
    """Before Prefect starts (`pctl create`): with no AWS credentials at all (a local lookup, no network),
    the whole preflight, which then needs no AWS, as the error; None when credentials exist (the flow's
    preflight does the rest). Saves a user without credentials the wait for Prefect's temporary server."""
    from pctl.aws.session import make_session

    if make_session(settings.region).get_credentials() is not None:
        return None
    pf = run(template, settings)
    return pf.error(settings.name) if pf.failed else None
