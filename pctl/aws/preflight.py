"""The online half of `pctl validate`: facts only AWS knows (offerings, subnets, key pairs, quotas).

Every check degrades to a WARNING issue when the API cannot answer (no credentials, no network, no
permission): validation must report, never crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pctl.aws.errors import error_code, to_pctl_error
from pctl.aws.session import client
from pctl.validation.issues import Issue, Level, Path

if TYPE_CHECKING:
    import boto3

    from pctl.model.template import Template

# Running On-Demand vCPU quotas by instance family letter (Service Quotas codes, service "ec2").
ONDEMAND_QUOTAS = {
    **dict.fromkeys("acdhimrtz", ("L-1216C47A", "Running On-Demand Standard (A, C, D, H, I, M, R, T, Z) instances")),
    "g": ("L-DB2E81BA", "Running On-Demand G and VT instances"),
    "p": ("L-417A185B", "Running On-Demand P instances"),
}
SPOT_STANDARD_QUOTA = ("L-34B43A08", "All Standard (A, C, D, H, I, M, R, T, Z) Spot Instance Requests")


def _issue(level: Level, path: Path, message: str, hint: str | None, code: str) -> Issue:
    return Issue(level, tuple(path), message, hint, code=code)


def _unreachable(path: Path, what: str, exc: BaseException) -> Issue:
    err = to_pctl_error(exc, what)
    return _issue(Level.WARNING, path, f"Could not check online: {err}", err.hint, "PreflightUnavailable")


def _instance_type_paths(t: Template) -> list[tuple[Path, str]]:
    out: list[tuple[Path, str]] = [(("compute", "head_node"), t.compute.head_node)]
    for qi, q in enumerate(t.compute.queues):
        out += [(("compute", "queues", qi, "instance_types", ti), it) for ti, it in enumerate(q.instance_types)]
    return out


def check_instance_types(session: boto3.Session, t: Template) -> list[Issue]:
    region = session.region_name
    wanted = _instance_type_paths(t)
    names = sorted({name for _, name in wanted})
    try:
        ec2 = client(session, "ec2")
        offered: set[str] = set()
        for page in ec2.get_paginator("describe_instance_type_offerings").paginate(
            LocationType="region", Filters=[{"Name": "instance-type", "Values": names}]
        ):
            offered |= {o["InstanceType"] for o in page["InstanceTypeOfferings"]}
    except Exception as exc:
        return [_unreachable(("compute",), "listing instance type offerings", exc)]
    return [
        _issue(Level.ERROR, path, f"Instance type {name} is not offered in {region}.",
               f"Pick a type that `aws ec2 describe-instance-type-offerings --region {region}` lists, or another region.",
               "InstanceTypeOffered")
        for path, name in wanted if name not in offered
    ]


def check_subnets(session: boto3.Session, t: Template, subnet_id: str | None) -> list[Issue]:
    wanted: list[tuple[Path, str]] = []
    if subnet_id or t.networking.subnet_id:
        wanted.append((("networking", "subnet_id"), subnet_id or t.networking.subnet_id))
    if t.networking.compute_subnet_id:
        wanted.append((("networking", "compute_subnet_id"), t.networking.compute_subnet_id))
    issues = []
    ec2 = client(session, "ec2")
    for path, sid in wanted:
        try:
            ec2.describe_subnets(SubnetIds=[sid])
        except Exception as exc:
            if error_code(exc) in ("InvalidSubnetID.NotFound", "InvalidSubnetID.Malformed"):
                issues.append(_issue(Level.ERROR, path, f"Subnet {sid} does not exist in {session.region_name}.",
                                     "Check the id and region, or drop the field to let pctl create a network.",
                                     "SubnetExists"))
            else:
                issues.append(_unreachable(path, f"looking up subnet {sid}", exc))
    return issues


def check_key_pair(session: boto3.Session, t: Template, key_name: str | None) -> list[Issue]:
    name = key_name or t.cluster.key_name
    if not name:
        return []
    try:
        client(session, "ec2").describe_key_pairs(KeyNames=[name])
        return []
    except Exception as exc:
        if error_code(exc) == "InvalidKeyPair.NotFound":
            return [_issue(Level.ERROR, ("cluster", "key_name"), f"Key pair {name} does not exist in {session.region_name}.",
                           f"Create or import it: aws ec2 import-key-pair --region {session.region_name} --key-name {name} ...",
                           "KeyPairExists")]
        return [_unreachable(("cluster", "key_name"), f"looking up key pair {name}", exc)]


def _family_letter(instance_type: str) -> str:
    return instance_type[:1].lower()


def _vcpus(session: boto3.Session, names: list[str]) -> dict[str, int]:
    from pctl.instance_types import vcpus

    out = {n: v for n in names if (v := vcpus(n))}
    missing = [n for n in names if n not in out]
    if missing:
        try:
            for it in client(session, "ec2").describe_instance_types(InstanceTypes=missing)["InstanceTypes"]:
                out[it["InstanceType"]] = it["VCpuInfo"]["DefaultVCpus"]
        except Exception:
            pass  # unknown types are reported by check_instance_types; the quota check skips them
    return out


def check_quotas(session: boto3.Session, t: Template) -> list[Issue]:
    """WARN when the template at full scale needs more vCPUs than the account's quota allows."""
    names = sorted({n for _, n in _instance_type_paths(t)})
    vcpus = _vcpus(session, names)
    need: dict[tuple[str, str], int] = {}
    head = t.compute.head_node
    if head in vcpus and _family_letter(head) in ONDEMAND_QUOTAS:
        key = ONDEMAND_QUOTAS[_family_letter(head)]
        need[key] = need.get(key, 0) + vcpus[head]
    for q in t.compute.queues:
        biggest = max((vcpus.get(n, 0) for n in q.instance_types), default=0)
        letter = _family_letter(q.instance_types[0])
        if q.capacity_type.value == "spot":
            key = SPOT_STANDARD_QUOTA if letter in "acdhimrtz" else None
        else:
            key = ONDEMAND_QUOTAS.get(letter)
        if key and biggest:
            need[key] = need.get(key, 0) + biggest * q.max_count
    issues = []
    sq = client(session, "service-quotas")
    for (code, label), vcpu_need in sorted(need.items()):
        try:
            value = sq.get_service_quota(ServiceCode="ec2", QuotaCode=code)["Quota"]["Value"]
        except Exception as exc:
            if error_code(exc) in ("NoSuchResourceException", "AccessDeniedException"):
                continue  # Service Quotas does not answer for this quota/identity: nothing to warn about
            issues.append(_unreachable(("compute", "queues"), f"reading quota {code}", exc))
            continue
        if vcpu_need > value:
            issues.append(_issue(
                Level.WARNING, ("compute", "queues"),
                f"At full scale the cluster needs {vcpu_need} vCPUs of '{label}' but the account's quota in "
                f"{session.region_name} is {value:.0f}.",
                f"Lower max_count or request an increase: Service Quotas > EC2 > {code}.",
                "VcpuQuota",
            ))
    return issues


def online_checks(
    session: boto3.Session, template: Template, *, subnet_id: str | None = None, key_name: str | None = None
) -> list[Issue]:
    issues: list[Issue] = []
    for check in (
        lambda: check_instance_types(session, template),
        lambda: check_subnets(session, template, subnet_id),
        lambda: check_key_pair(session, template, key_name),
        lambda: check_quotas(session, template),
    ):
        try:
            issues += check()
        except Exception as exc:  # a bug or an unexpected answer must not crash validate
            issues.append(_unreachable((), "running online checks", exc))
    return issues
