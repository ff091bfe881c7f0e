"""`pctl delete NAME --forget`: drop a local entry only when pctl can show nothing of it is left in AWS.

`audit(st)` -> Audit: what still exists, what is gone, what could not be checked (no credentials, no
permission, a kind pctl cannot look up). An entry with no recorded resources whose create never reached
ParallelCluster needs no AWS at all. Plain Python (boto3 through pctl.aws; no prefect).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pctl.state import ClusterState, ResourceRecord, Status

# Steps of a create that come before ParallelCluster is asked for anything (flows/create.py).
_BEFORE_CLUSTER = ("start", "key pair", "network", "bootstrap bucket", "AMI bake", "render", "bootstrap upload",
                   "validate", "preflight")


def reached_pcluster(st: ClusterState) -> bool:
    """Could a ParallelCluster cluster exist for this entry? True unless history proves it never got there."""
    if st.cluster_status or st.head_node_public_ip or st.head_node_private_ip:
        return True
    for h in st.history:
        if h.status in (Status.ACTIVE, Status.DELETING, Status.DELETE_FAILED):
            return True
        if h.status in (Status.CREATE_FAILED, Status.ROLLED_BACK):
            step = (h.detail or "").split(":", 1)[0].strip()
            if step not in _BEFORE_CLUSTER:
                return True
    # A create whose last word is `creating` died without saying where: it may have got there.
    return bool(st.history) and st.history[-1].status == Status.CREATING


@dataclass
class Audit:
    existing: list[str] = field(default_factory=list)
    gone: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)  # "what (why)"

    @property
    def removable(self) -> bool:
        return not self.existing and not self.unchecked


def _missing(code: str | None) -> bool:
    return bool(code) and (code.endswith(".NotFound") or code in ("NoSuchEntity", "NoSuchBucket", "404",
                                                                  "InvalidAllocationID.NotFound", "NotFound"))


def _ec2_exists(session: Any, rec: ResourceRecord) -> bool:
    from pctl.aws.session import client

    ec2 = client(session, "ec2")
    k, i = rec.kind, rec.id
    if k == "vpc":
        return bool(ec2.describe_vpcs(VpcIds=[i])["Vpcs"])
    if k == "subnet":
        return bool(ec2.describe_subnets(SubnetIds=[i])["Subnets"])
    if k == "igw":
        return bool(ec2.describe_internet_gateways(InternetGatewayIds=[i])["InternetGateways"])
    if k == "route_table":
        return bool(ec2.describe_route_tables(RouteTableIds=[i])["RouteTables"])
    if k == "security_group":
        return bool(ec2.describe_security_groups(GroupIds=[i])["SecurityGroups"])
    if k == "eip":
        return bool(ec2.describe_addresses(AllocationIds=[i])["Addresses"])
    if k == "nat_gateway":
        found = ec2.describe_nat_gateways(NatGatewayIds=[i])["NatGateways"]
        return any(n["State"] not in ("deleted",) for n in found)
    if k == "instance":
        found = [x for r in ec2.describe_instances(InstanceIds=[i])["Reservations"] for x in r["Instances"]]
        return any(x["State"]["Name"] != "terminated" for x in found)
    if k == "image":
        return bool(ec2.describe_images(ImageIds=[i])["Images"])
    if k == "snapshot":
        return bool(ec2.describe_snapshots(SnapshotIds=[i])["Snapshots"])
    if k == "key_pair":
        return bool(ec2.describe_key_pairs(KeyNames=[i])["KeyPairs"])
    raise LookupError(k)


def _other_exists(session: Any, rec: ResourceRecord) -> bool:
    from pctl.aws.session import client

    if rec.kind == "iam_role":
        client(session, "iam").get_role(RoleName=rec.id)
        return True
    if rec.kind == "instance_profile":
        client(session, "iam").get_instance_profile(InstanceProfileName=rec.id)
        return True
    if rec.kind == "bucket":
        client(session, "s3").head_bucket(Bucket=rec.id)
        return True
    if rec.kind == "bucket_objects":
        prefix = str(rec.extra.get("prefix") or "").rstrip("/") + "/"
        return bool(client(session, "s3").list_objects_v2(Bucket=rec.id, Prefix=prefix, MaxKeys=1).get("KeyCount"))
    raise LookupError(rec.kind)


def exists(session: Any, rec: ResourceRecord) -> bool:
    """True/False; raises LookupError for a kind pctl cannot look up, other errors as the API raised them."""
    from pctl.aws.errors import error_code

    try:
        try:
            return _ec2_exists(session, rec)
        except LookupError:
            return _other_exists(session, rec)
    except LookupError:
        raise
    except Exception as exc:
        if _missing(error_code(exc)):
            return False
        raise


def audit(st: ClusterState, session_factory: Callable[[str], Any] | None = None,
          pcluster_describe: Callable[[str, str], Any] | None = None) -> Audit:
    """Check each recorded resource (and the ParallelCluster cluster, when the create may have reached it)."""
    out = Audit()
    needs_pcluster = reached_pcluster(st)
    if not st.resources and not needs_pcluster:
        return out
    session, why = None, ""
    try:
        from pctl.lifecycle.preflight import identity

        if session_factory is None:
            session, ident, why = identity(st.region)
            if ident is None:
                session = None
        else:
            session = session_factory(st.region)
    except Exception as exc:
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if session is None:
        out.unchecked += [f"{r.kind} {r.id} ({why})" for r in st.resources]
        if needs_pcluster:
            out.unchecked.append(f"ParallelCluster cluster {st.name} ({why})")
        return out
    for rec in st.resources:
        label = f"{rec.kind} {rec.id}"
        try:
            (out.existing if exists(session, rec) else out.gone).append(label)
        except LookupError:
            out.unchecked.append(f"{label} (pctl cannot look up a {rec.kind})")
        except Exception as exc:
            out.unchecked.append(f"{label} ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})")
    if needs_pcluster:
        label = f"ParallelCluster cluster {st.name}"
        try:
            if pcluster_describe is None:
                from pctl.lifecycle.pcluster_view import describe as pcluster_describe
            (out.existing if pcluster_describe(st.name, st.region) is not None else out.gone).append(label)
        except Exception as exc:
            out.unchecked.append(f"{label} ({type(exc).__name__}: {str(exc).splitlines()[0][:160] if str(exc) else ''})")
    return out
