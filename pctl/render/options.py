"""What the caller knows about AWS when rendering; every missing value becomes a marked placeholder."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pctl.errors import ConfigError
from pctl.validation import rules

# Obvious values that can never be real resources, each marked in the YAML by PLACEHOLDER_MARK.
PLACEHOLDER_MARK = "PCTL-PLACEHOLDER"
PLACEHOLDER_SUBNET = "subnet-00000000000000000"
PLACEHOLDER_KEY_NAME = "pctl-placeholder-key"
PLACEHOLDER_SCRIPTS_BUCKET = "pctl-placeholder"
PLACEHOLDER_AMI = "ami-00000000000000000"
PLACEHOLDER_CAPACITY_RESERVATION = "cr-00000000000000000"

AMI_ID_RE = re.compile(r"^ami-(?:[0-9a-f]{8}|[0-9a-f]{17})$")  # pcluster's PCLUSTER_AMI_ID_REGEX
# A customer-managed policy ARN: partition, 12-digit account, IAM's path and name characters.
POLICY_ARN_RE = re.compile(r"arn:aws(?:-cn|-us-gov)?:iam::[0-9]{12}:policy(?:/[A-Za-z0-9+=,.@_-]+)+", re.ASCII)


@dataclass
class RenderOptions:
    """AWS facts the template does not hold. All optional; options win over the template's own values."""

    subnet_id: str | None = None
    compute_subnet_id: str | None = None
    key_name: str | None = None
    ssh_allowed_cidr: str | None = None
    scripts_s3_prefix: str | None = None  # "s3://bucket/prefix" where the files of scripts/ are uploaded
    custom_ami: str | None = None
    extra_tags: dict[str, str] = field(default_factory=dict)
    # The real CIDR of the VPC that holds the user's own subnet (looked up in AWS): SSH's default range
    # instead of the template's networking.vpc_cidr, which describes only a VPC pctl would create.
    vpc_cidr: str | None = None
    # Where ssh_allowed_cidr came from, for the exposure warning (e.g. "--ssh-cidr", "PCTL_SSH_ALLOWED_CIDR").
    ssh_source: str = "--ssh-cidr, PCTL_SSH_ALLOWED_CIDR or the global config"
    strict: bool = False  # an SSH exposure warning is an error (ConfigError) instead
    # The head node's managed policy for the Spack binary cache (pctl.cache.access), made by `pctl create`.
    cache_policy_arn: str | None = None

    def check(self) -> None:
        """Refuse malformed values before they reach a config or a script."""
        for name in ("subnet_id", "compute_subnet_id"):
            value = getattr(self, name)
            if value is not None and not rules.SUBNET_RE.match(value):
                raise ConfigError(f"{value!r} is not a subnet id", "e.g. subnet-0123456789abcdef0")
        if self.key_name is not None and not rules.KEY_NAME_RE.match(self.key_name):
            raise ConfigError(f"{self.key_name!r} is not a valid key pair name", "use letters, digits, spaces and ._:/+=@-")
        if self.ssh_allowed_cidr is not None:
            problem = rules.cidr_problem(self.ssh_allowed_cidr)
            if problem:
                raise ConfigError(f"--ssh-cidr: {problem}", "e.g. 203.0.113.0/24")
        if self.vpc_cidr is not None and rules.cidr_problem(self.vpc_cidr):
            raise ConfigError(f"the VPC's CIDR {self.vpc_cidr!r}: {rules.cidr_problem(self.vpc_cidr)}")
        if self.scripts_s3_prefix is not None:
            bucket, _ = split_s3_url(self.scripts_s3_prefix)
            problem = rules.s3_bucket_problem(bucket)
            if problem or any(c in rules.SHELL_METACHARACTERS for c in self.scripts_s3_prefix):
                raise ConfigError(f"{self.scripts_s3_prefix!r} is not an s3://bucket/prefix URL",
                                  "e.g. s3://my-cluster-bucket/pctl/mycluster/scripts")
        if self.cache_policy_arn is not None and not POLICY_ARN_RE.fullmatch(self.cache_policy_arn):
            raise ConfigError(f"{self.cache_policy_arn!r} is not an IAM policy ARN",
                              "e.g. arn:aws:iam::123456789012:policy/parallelcluster/pctl/pctl-NAME-spack-cache")
        if self.custom_ami is not None and not AMI_ID_RE.match(self.custom_ami):
            raise ConfigError(f"{self.custom_ami!r} is not an AMI id", "e.g. ami-0123456789abcdef0")
        for key, value in self.extra_tags.items():
            if not rules.TAG_KEY_RE.match(key) or not rules.TAG_VALUE_RE.match(value):
                raise ConfigError(f"tag {key!r}={value!r} is not a valid AWS tag", "letters, digits, spaces and _.:/=+-@")


def split_s3_url(url: str) -> tuple[str, str]:
    """('bucket', 'prefix') of s3://bucket/prefix; the prefix has no leading or trailing slash."""
    if not url.startswith("s3://"):
        return "", ""
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.strip("/")


def effective_ssh(template_cidr: str | None, template_vpc_cidr: str, o: RenderOptions) -> tuple[str, str | None]:
    """(AllowedIps of the head node, where it came from): the option, the template, else the VPC's own range
    (the user's VPC's real CIDR when known). The source is None when the template wrote it."""
    if o.ssh_allowed_cidr and o.ssh_allowed_cidr != template_cidr:
        return o.ssh_allowed_cidr, o.ssh_source
    if template_cidr or o.ssh_allowed_cidr:
        return (template_cidr or o.ssh_allowed_cidr), None  # type: ignore[return-value]
    if o.vpc_cidr:
        return o.vpc_cidr, f"the CIDR of your subnet's VPC ({o.vpc_cidr})"
    return template_vpc_cidr, "networking.vpc_cidr"


def is_private(cidr: str) -> bool:
    """Inside 10/8, 172.16/12 or 192.168/16 (RFC 1918): unreachable from the internet."""
    import ipaddress

    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return any(net.version == p.version and net.subnet_of(p) for p in rules.PRIVATE_RANGES)
