"""Instance type checks against AWS's own facts (pctl.instance_types), as ParallelCluster makes them at create.

One class per check, each mirroring the ParallelCluster validator named in its docstring, so that what
pctl accepts, pcluster accepts. Types that are not well-formed names are InstanceTypeValidator's
(pctl/validation/validators.py); these checks skip them.
"""

from __future__ import annotations

from collections.abc import Iterator

from pctl import instance_types
from pctl.compute_resources import describe_key, groups, plan_queue, split_summary
from pctl.model.template import CapacityType, Template
from pctl.validation.base import Validator
from pctl.validation.issues import Issue, Level, Path

# pcluster.constants.MAX_NUMBER_OF_COMPUTE_RESOURCES_PER_CLUSTER (3.16)
MAX_COMPUTE_RESOURCES_PER_CLUSTER = 50


def _all_types(t: Template) -> Iterator[tuple[Path, str]]:
    yield ("compute", "head_node"), t.compute.head_node
    for i, q in enumerate(t.compute.queues):
        for j, it in enumerate(q.instance_types):
            yield ("compute", "queues", i, "instance_types", j), it


def _known_types(t: Template) -> Iterator[tuple[Path, instance_types.InstanceType]]:
    for path, name in _all_types(t):
        f = instance_types.facts(name)
        if f is not None:
            yield path, f


class KnownInstanceTypeValidator(Validator):
    """pcluster InstanceTypeValidator: the type must exist (DescribeInstanceTypes)."""

    def check(self, t: Template) -> Iterator[Issue]:
        for path, name in _all_types(t):
            if not instance_types.is_well_formed(name):
                continue
            f = instance_types.facts(name)
            if f is None:
                yield self.issue(path, f"unknown EC2 instance type {name!r}",
                                 f"{instance_types.did_you_mean(name)} (pctl's table: AWS data of "
                                 f"{instance_types.table_date()}; a newer type is accepted once an online "
                                 "check with AWS credentials has seen it)")
            elif f.arch.endswith("_mac"):
                yield self.issue(path, f"{name} is a Mac instance: ParallelCluster has no macOS images",
                                 "pick an x86_64 or arm64 Linux type")


class InstanceTypeOfferedValidator(Validator):
    """pcluster checks the subnet's zone offers every type (DescribeInstanceTypeOfferings)."""

    def check(self, t: Template) -> Iterator[Issue]:
        region = t.cluster.region
        if not instance_types.known_region(region):
            return  # RegionValidator reports an unknown region
        for path, f in _known_types(t):
            if instance_types.offered_in(f.name, region) is False:
                elsewhere = instance_types.regions_offering(f.name)
                where = (f"regions that offer it: {', '.join(elsewhere[:8])}{' ...' if len(elsewhere) > 8 else ''}"
                         if elsewhere else "no region in pctl's table offers it")
                yield self.issue(path, f"{f.name} is not offered in {region}", f"pick another type, or another region ({where})")


class CommonZoneValidator(Validator):
    """All nodes share one compute subnet, so one zone must offer every compute type (and the head node's)."""

    level = Level.WARNING

    def check(self, t: Template) -> Iterator[Issue]:
        region = t.cluster.region
        names = [f.name for _, f in _known_types(t) if instance_types.offered_in(f.name, region)]
        if len(set(names)) < 2 or instance_types.common_zones(names, region):
            return
        per_type = "; ".join(f"{n}: {', '.join(z[-1] for z in instance_types.zones(n, region) or ()) or '-'}"
                             for n in dict.fromkeys(names))
        yield self.issue(("compute",), f"no availability zone of {region} offers all of these types (zones: {per_type})",
                         "pick types one zone offers together, or put the head node and the queues in subnets of "
                         "zones that offer them")


class EfaSupportValidator(Validator):
    """pcluster EfaValidator / InstancesEFAValidator and InstanceTypePlacementGroupValidator: `efa: true`
    needs EFA on every type of the queue, and the cluster placement group pctl then enables."""

    def check(self, t: Template) -> Iterator[Issue]:
        for i, q in enumerate(t.compute.queues):
            if not q.efa:
                continue
            for j, name in enumerate(q.instance_types):
                f = instance_types.facts(name)
                path = ("compute", "queues", i, "instance_types", j)
                if f is None:
                    continue
                if not f.efa:
                    efa_like = [s for s in instance_types.suggestions(name, 8) if (g := instance_types.facts(s)) and g.efa]
                    hint = "set `efa: false`, or use EFA types" + (f" such as {', '.join(efa_like[:3])}" if efa_like else
                                                                  " (e.g. c5n.18xlarge, c6in.32xlarge, hpc7a.96xlarge)")
                    yield self.issue(path, f"{name} does not support EFA, but queue {q.name!r} has `efa: true`", hint)
                elif not f.cluster_placement:
                    yield self.issue(path, f"{name} cannot launch in a cluster placement group, which `efa: true` enables",
                                     "set `efa: false` or pick another type")


class CapacityTypeSupportValidator(Validator):
    """pcluster CapacityTypeValidator: the type must support the queue's usage class (spot, capacity block)."""

    def check(self, t: Template) -> Iterator[Issue]:
        need = {CapacityType.spot: ("s", "spot"), CapacityType.capacity_block: ("c", "capacity blocks"),
                CapacityType.ondemand: ("o", "on-demand")}
        for i, q in enumerate(t.compute.queues):
            letter, label = need[q.capacity_type]
            for j, name in enumerate(q.instance_types):
                f = instance_types.facts(name)
                if f is not None and letter not in f.usage:
                    yield self.issue(("compute", "queues", i, "instance_types", j),
                                     f"{name} is not available as {label} (queue {q.name!r} is {q.capacity_type.value})",
                                     "pick another type, or another capacity_type")


class QueueSplitValidator(Validator):
    """Several compute resources in one queue share its max_count (and min_count).

    ERROR when max_count is smaller than the number of compute resources the types need (each needs
    MaxCount >= 1); WARNING otherwise, saying why the types were split and how the counts were."""

    def check(self, t: Template) -> Iterator[Issue]:
        for i, q in enumerate(t.compute.queues):
            grouped = groups(list(q.instance_types), q.disable_hyperthreading)
            if len(grouped) < 2:
                continue
            reasons = "; ".join(f"{'/'.join(types)} ({describe_key(key) if key else 'unknown'})" for key, types in grouped)
            if q.max_count < len(grouped):
                yield self.issue(("compute", "queues", i, "max_count"),
                                 f"queue {q.name!r} needs {len(grouped)} compute resources (ParallelCluster puts only "
                                 f"types that agree on vCPUs{' (cores: hyperthreading off)' if q.disable_hyperthreading else ''}, "
                                 f"GPUs, EFA and architecture in one): {reasons}; max_count {q.max_count} cannot give each "
                                 "at least one node",
                                 f"raise max_count to at least {len(grouped)}, or use types that agree")
                continue
            yield self.issue(("compute", "queues", i, "instance_types"),
                             f"queue {q.name!r} becomes {len(grouped)} compute resources (types differ: {reasons}); "
                             f"max_count {q.max_count} is split between them: {split_summary(q)}",
                             "to pool every type under the whole max_count, use types of one size and kind "
                             "(e.g. c6i.4xlarge, c6a.4xlarge, c7i.4xlarge)", level=Level.WARNING)


class ComputeResourceCountValidator(Validator):
    """pcluster's schema: at most 50 compute resources in the cluster."""

    def check(self, t: Template) -> Iterator[Issue]:
        total = sum(len(plan_queue(q)) for q in t.compute.queues)
        if total > MAX_COMPUTE_RESOURCES_PER_CLUSTER:
            yield self.issue(("compute", "queues"), f"the queues need {total} compute resources; ParallelCluster "
                             f"allows {MAX_COMPUTE_RESOURCES_PER_CLUSTER}",
                             "use fewer instance types, or types of one size per queue (they pool into one resource)")


class PublicOnlyNetworkInterfacesValidator(Validator):
    """pcluster MultiNetworkInterfacesInstancesValidator: AWS cannot auto-assign a public IP to an instance
    with several network interfaces (EFA adds one; some types have several network cards), and with
    `networking.public_only` compute nodes live in the public subnet and need one."""

    def check(self, t: Template) -> Iterator[Issue]:
        if not t.networking.public_only:
            return
        for i, q in enumerate(t.compute.queues):
            if q.efa:
                yield self.issue(("compute", "queues", i, "efa"),
                                 f"queue {q.name!r} has `efa: true` (a second, EFA-only network interface) but "
                                 "`networking.public_only` puts compute nodes in a public subnet: AWS gives no public IP "
                                 "to an instance with several network interfaces",
                                 "drop `public_only` (compute nodes then use a private subnet and a NAT gateway), "
                                 "or set `efa: false`")
                continue
            for j, name in enumerate(q.instance_types):
                f = instance_types.facts(name)
                if f is not None and f.network_cards > 1:
                    yield self.issue(("compute", "queues", i, "instance_types", j),
                                     f"{name} has {f.network_cards} network cards, so its nodes get several network "
                                     "interfaces; `networking.public_only` needs one (AWS gives no public IP otherwise)",
                                     "drop `public_only`, or pick a type with one network card")


class HeadNodeMemoryValidator(Validator):
    """pcluster HeadNodeMemorySizeValidator: slurmctld on the head node needs memory for every compute node
    it may manage: min(total max_count / 25 + 0.6, 16) GB (pcluster's own formula, GB = GiB here)."""

    def check(self, t: Template) -> Iterator[Issue]:
        f = instance_types.facts(t.compute.head_node)
        if f is None:
            return
        nodes = sum(q.max_count for q in t.compute.queues)
        required = min(nodes / 25 + 0.6, 16)
        have = f.memory_mib / 1024
        if have < required:
            bigger = [n for n in ("t3.medium", "t3.large", "m6i.large", "m6i.xlarge", "m6i.2xlarge")
                      if (g := instance_types.facts(n)) and g.memory_mib / 1024 >= required]
            yield self.issue(("compute", "head_node"),
                             f"head node {f.name} has {have:g} GiB of memory; ParallelCluster needs at least "
                             f"{required:.2f} GiB to manage {nodes} compute nodes (the queues' max_count)",
                             f"use a head node with more memory{', e.g. ' + bigger[0] if bigger else ''}, "
                             "or lower max_count")


def online_issues(session: object, t: Template) -> list[Issue]:
    """The type checks again with AWS's live answer (the online preflight path; needs credentials).

    Asks AWS about every type of the template in its region (`instance_types.refresh_from_aws`, which keeps
    the answer so that later offline runs agree), then re-runs this module's checks: the live answer wins
    over the shipped table. Raises what botocore raises; the caller reports it.
    """
    names = [name for _, name in _all_types(t) if instance_types.is_well_formed(name)]
    instance_types.refresh_from_aws(session, names, t.cluster.region)
    checks = [cls() for cls in (KnownInstanceTypeValidator, InstanceTypeOfferedValidator, CommonZoneValidator,
                                EfaSupportValidator, CapacityTypeSupportValidator, HeadNodeMemoryValidator)]
    return [issue for check in checks for issue in check.check(t)]
