"""Networking: subnets, the VPC range pctl creates, and who can reach SSH.

`ssh_exposure_issue` is also the check for the *effective* SSH range at render/create time, when it comes
from `--ssh-cidr`, the environment, the global config or an existing VPC's CIDR rather than the template.
"""

from __future__ import annotations

from collections.abc import Iterator

from pctl.model.template import Template
from pctl.validation import rules
from pctl.validation.base import Validator
from pctl.validation.issues import Issue, Level

SSH_PATH = ("networking", "ssh_allowed_cidr")


def ssh_exposure_issue(cidr: str, template: Template | None = None, source: str = "the template") -> Issue | None:
    """A WARNING Issue when SSH would be open to the internet, or to a public range the template does not write.

    `cidr`: the effective AllowedIps; `source`: where it came from, for the message (e.g. "--ssh-cidr",
    "PCTL_SSH_CIDR", "the VPC's CIDR"). Fails `--strict` like every warning. None when the range is fine.
    """
    written = template is not None and template.networking.ssh_allowed_cidr == cidr
    problem = rules.ssh_exposure(cidr, written_in_template=written)
    if problem is None:
        return None
    origin = "" if written else f" (from {source})"
    return Issue(Level.WARNING, SSH_PATH, f"{problem}{origin}",
                 "write your site's range in networking.ssh_allowed_cidr (e.g. 198.51.100.0/24); "
                 "use --strict to make this an error", code="SshExposure")


class NetworkingValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        n = t.networking
        if n.ssh_allowed_cidr is not None:
            problem = rules.ipv4_cidr_problem(n.ssh_allowed_cidr)
            if problem:
                yield self.issue(SSH_PATH, f"not an IPv4 CIDR: {problem}",
                                 "e.g. 203.0.113.0/24 (your site's range) or 198.51.100.7/32")
            else:
                exposure = ssh_exposure_issue(n.ssh_allowed_cidr, t)
                if exposure:
                    yield exposure
        for field in ("subnet_id", "compute_subnet_id"):
            value = getattr(n, field)
            if value is not None and not rules.SUBNET_RE.fullmatch(value):
                yield self.issue(("networking", field), f"{value!r} is not a subnet id", "e.g. subnet-0123456789abcdef0")
        if n.compute_subnet_id and not n.subnet_id:
            yield self.issue(("networking", "compute_subnet_id"), "compute_subnet_id needs subnet_id too",
                             "give the head node's subnet_id as well")
        problem = rules.vpc_cidr_problem(n.vpc_cidr)
        if problem:
            yield self.issue(("networking", "vpc_cidr"), f"vpc_cidr {n.vpc_cidr!r} {problem}",
                             "use a private range such as 10.42.0.0/16 (SSH defaults to it: it must never be public)")
