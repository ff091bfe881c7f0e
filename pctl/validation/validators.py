"""The offline checks. One class per check; each yields Issues with the field path and a hint."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from pctl import instance_types
from pctl.model.constants import OS_ARCHITECTURES
from pctl.model.template import CapacityType, InstallMode, Template
from pctl.validation import rules
from pctl.validation.base import Validator
from pctl.validation.issues import Issue, Level


class ClusterNameValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        name = t.cluster.name
        if not rules.CLUSTER_NAME_RE.fullmatch(name):
            yield self.issue(("cluster", "name"), f"cluster name {name!r} is not valid",
                             "start with a letter; use only letters, digits and hyphens, e.g. `genomics-2024`")
        elif len(name) > rules.CLUSTER_NAME_MAX:
            yield self.issue(("cluster", "name"), f"cluster name is {len(name)} characters long; the limit is 60",
                             "shorten the name")


class RegionValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        known = rules.known_regions()
        region = t.cluster.region
        if known and region not in known:
            import difflib

            close = difflib.get_close_matches(region, sorted(known), n=1, cutoff=0.7)
            hint = f"did you mean `{close[0]}`?" if close else "use a region code such as us-east-1 or eu-west-1"
            yield self.issue(("cluster", "region"), f"unknown AWS region {region!r}", hint)


class KeyNameValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        if t.cluster.key_name is not None and not rules.KEY_NAME_RE.fullmatch(t.cluster.key_name):
            yield self.issue(("cluster", "key_name"), "key pair name has characters EC2 does not allow",
                             "use letters, digits, spaces and ._:/+=@-")


class AwsTagValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for key, value in t.cluster.tags.items():
            path = ("cluster", "tags", key)
            if key.lower().startswith("aws:") or key.startswith("pctl:"):
                yield self.issue(path, f"tag key {key!r} uses a reserved prefix", "aws: and pctl: tags are set by AWS and pctl")
            elif not rules.TAG_KEY_RE.fullmatch(key):
                yield self.issue(path, f"tag key {key!r} is not a valid AWS tag key", "1-128 letters, digits, spaces and _.:/=+-@")
            if not rules.TAG_VALUE_RE.fullmatch(str(value)):
                yield self.issue(path, "tag value is not a valid AWS tag value", "at most 256 letters, digits, spaces and _.:/=+-@")


class QueueNameValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        counts = Counter(q.name for q in t.compute.queues)
        for i, q in enumerate(t.compute.queues):
            path = ("compute", "queues", i, "name")
            if not rules.QUEUE_NAME_RE.fullmatch(q.name):
                yield self.issue(path, f"queue name {q.name!r} is not valid for Slurm/ParallelCluster",
                                 f"use a lowercase letter first, then lowercase letters, digits or hyphens, e.g. `{rules_suggest(q.name)}`")
            elif len(q.name) > rules.QUEUE_NAME_MAX:
                yield self.issue(path, f"queue name is {len(q.name)} characters long; the limit is 25",
                                 f"shorten it, e.g. `{q.name[:25].rstrip('-')}`")
            if counts[q.name] > 1:
                yield self.issue(path, f"queue name {q.name!r} is used more than once", "give every queue its own name")


def rules_suggest(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"q-{cleaned}".rstrip("-")
    return cleaned[:25]


class QueueCountValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for i, q in enumerate(t.compute.queues):
            if q.min_count > q.max_count:
                yield self.issue(("compute", "queues", i, "min_count"),
                                 f"min_count ({q.min_count}) is greater than max_count ({q.max_count})",
                                 f"set min_count to at most {q.max_count}, or raise max_count")


class InstanceTypeValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        if not instance_types.is_well_formed(t.compute.head_node):
            yield self.issue(("compute", "head_node"), f"{t.compute.head_node!r} is not an EC2 instance type",
                             "write a type such as t3.medium or c6i.xlarge")
        for i, q in enumerate(t.compute.queues):
            for j, it in enumerate(q.instance_types):
                if not instance_types.is_well_formed(it):
                    yield self.issue(("compute", "queues", i, "instance_types", j), f"{it!r} is not an EC2 instance type",
                                     "write a type such as c6i.2xlarge")


class ArchitectureValidator(Validator):
    """Head and compute nodes share one architecture, which the OS must support."""

    def check(self, t: Template) -> Iterator[Issue]:
        head_arch = instance_types.architecture(t.compute.head_node)
        if head_arch is None:
            return
        supported = OS_ARCHITECTURES.get(t.cluster.os, ())
        if head_arch not in supported:
            yield self.issue(("compute", "head_node"), f"{t.cluster.os} has no {head_arch} image",
                             f"choose a {' or '.join(supported)} head node")
        for i, q in enumerate(t.compute.queues):
            for j, it in enumerate(q.instance_types):
                arch = instance_types.architecture(it)
                if arch and arch != head_arch:
                    yield self.issue(("compute", "queues", i, "instance_types", j),
                                     f"{it} is {arch} but the head node {t.compute.head_node} is {head_arch}",
                                     "ParallelCluster needs one architecture per cluster (one AMI): pick "
                                     f"{head_arch} compute types, or a {arch} head node")


class AllocationStrategyValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for i, q in enumerate(t.compute.queues):
            if q.allocation_strategy in ("capacity-optimized", "price-capacity-optimized") and q.capacity_type is not CapacityType.spot:
                yield self.issue(("compute", "queues", i, "allocation_strategy"),
                                 f"{q.allocation_strategy} applies only to spot capacity",
                                 "use `lowest-price` for on-demand queues, or set `capacity_type: spot`")


class SpotMinCountValidator(Validator):
    level = Level.WARNING

    def check(self, t: Template) -> Iterator[Issue]:
        for i, q in enumerate(t.compute.queues):
            if q.capacity_type is CapacityType.spot and q.min_count > 0:
                yield self.issue(("compute", "queues", i, "min_count"),
                                 "static spot nodes can be reclaimed at any time and are replaced at spot prices",
                                 "use min_count: 0 for spot queues, or an on-demand queue for always-on nodes")


class SpackSpecValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for i, spec in enumerate(t.software.spack_packages):
            problem = rules.spack_spec_problem(spec)
            if problem:
                yield self.issue(("software", "spack_packages", i), f"Spack spec {spec!r}: {problem}",
                                 "write a spec such as `gromacs@2024.1 +mpi ^openmpi` (see `spack help --spec`)")


class SpackVersionValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        if not rules.SPACK_VERSION_RE.fullmatch(t.software.spack_version):
            yield self.issue(("software", "spack_version"), f"{t.software.spack_version!r} is not a Spack release",
                             "pin a release such as 0.23.1: its binary cache is pinned with it")


class BinaryCacheValidator(Validator):
    """software.binary_cache: true, false, or ``s3://BUCKET`` (the cache then lives under spack-cache/ there)."""

    def check(self, t: Template) -> Iterator[Issue]:
        value = t.software.binary_cache
        path = ("software", "binary_cache")
        if isinstance(value, bool):
            return
        from pctl.cache.location import user_bucket

        try:
            user_bucket(value)
        except ValueError as exc:
            yield self.issue(path, f"binary_cache {value!r}: {exc}",
                             "write true (pctl's bucket), false (no cache) or s3://BUCKET, e.g. s3://my-lab-spack-cache")
            return


class ContainerValidator(Validator):
    """software.containers: unique names, a registry image reference or Spack packages (kept for the builder)."""

    def check(self, t: Template) -> Iterator[Issue]:
        counts = Counter(c.name for c in t.software.containers)
        for i, c in enumerate(t.software.containers):
            base = ("software", "containers", i)
            if not rules.CONTAINER_NAME_RE.fullmatch(c.name):
                yield self.issue((*base, "name"), f"container name {c.name!r} is not valid",
                                 "lowercase letters, digits, '.', '_' or '-', a letter or digit first, at most 63 characters")
            elif counts[c.name] > 1:
                yield self.issue((*base, "name"), f"container name {c.name!r} is used twice", "rename one")
            if c.image is None and not c.packages:
                yield self.issue(base, f"container {c.name!r} has neither an image nor packages",
                                 "add `image:` (a registry reference) or `packages:` (Spack specs to build it from)")
            if c.image is not None:
                problem = rules.image_reference_problem(c.image)
                if problem:
                    yield self.issue((*base, "image"), f"image {c.image!r} {problem}",
                                     "e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/bio:v1 or ghcr.io/org/tool:1.2")
                else:
                    region = rules.ecr_region(c.image)
                    if region and region != t.cluster.region:
                        yield self.issue((*base, "image"), f"the ECR image is in {region}, the cluster in {t.cluster.region}",
                                         "pulls cross regions (slower, billed); replicate the repository to the cluster's region",
                                         level=Level.WARNING)
            for k, spec in enumerate(c.packages):
                problem = rules.spack_spec_problem(spec)
                if problem:
                    yield self.issue((*base, "packages", k), f"package {spec!r}: {problem}", "write a Spack spec such as `samtools@1.17`")


class AmiInstallValidator(Validator):
    level = Level.WARNING

    def check(self, t: Template) -> Iterator[Issue]:
        if t.software.install is InstallMode.ami and not t.software.spack_packages:
            yield self.issue(("software", "install"), "install: ami with no spack_packages bakes an empty image",
                             "list packages, or use install: shared")


