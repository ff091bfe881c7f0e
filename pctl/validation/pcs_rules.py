"""Validators for `platform: pcs`: what AWS PCS accepts (`pctl.pcs.limits`, from the pcs service model).

They yield nothing for ParallelCluster templates.
"""

from __future__ import annotations

from collections.abc import Iterator

from pctl.model.template import Platform, Template
from pctl.pcs import limits
from pctl.pcs.plan import node_groups
from pctl.validation.base import Validator
from pctl.validation.issues import Issue, Level


class PcsClusterNameValidator(Validator):
    """PCS cluster names are shorter than ParallelCluster's (3-40 characters, no `pcs_` prefix)."""

    def check(self, t: Template) -> Iterator[Issue]:
        if t.cluster.platform is not Platform.pcs:
            return
        problem = limits.name_problem(t.cluster.name, limits.CLUSTER_NAME_MAX)
        if problem:
            yield self.issue(("cluster", "name"), f"a PCS cluster name {problem}",
                             f"use at most {limits.CLUSTER_NAME_MAX} letters, digits or hyphens, a letter first")


class SlurmVersionValidator(Validator):
    """cluster.slurm_version: one of the releases PCS runs; ParallelCluster ignores it (it ships its own)."""

    def check(self, t: Template) -> Iterator[Issue]:
        version = t.cluster.slurm_version
        if version is None:
            return
        path = ("cluster", "slurm_version")
        if t.cluster.platform is not Platform.pcs:
            yield self.issue(path, "ParallelCluster ships the Slurm of its own release: slurm_version is not used",
                             "remove it, or use platform: pcs to choose the Slurm release", level=Level.WARNING)
        elif version not in limits.SLURM_VERSIONS:
            yield self.issue(path, f"PCS does not run Slurm {version!r}",
                             "one of: " + ", ".join(limits.SLURM_VERSIONS) + " (quote it: \"25.05\", or YAML reads a number)")


class PcsClusterSizeValidator(Validator):
    """Every node group's max_count, plus the login node, must fit the largest PCS cluster size."""

    def check(self, t: Template) -> Iterator[Issue]:
        if t.cluster.platform is not Platform.pcs:
            return
        nodes = sum(g.max_count for g in node_groups(t))
        if limits.cluster_size(nodes) is None:
            largest, cap = limits.CLUSTER_SIZES[-1]
            yield self.issue(("compute", "queues"),
                             f"the queues reach {nodes} nodes (with the login node); a PCS cluster manages at most "
                             f"{cap} ({largest})", "lower max_count, or split the work over two clusters")


class PcsCountsValidator(Validator):
    """PCS holds at most 10 compute node groups (the login group counts) and 10 queues per cluster."""

    def check(self, t: Template) -> Iterator[Issue]:
        if t.cluster.platform is not Platform.pcs:
            return
        if len(t.compute.queues) > limits.MAX_QUEUES:
            yield self.issue(("compute", "queues"), f"{len(t.compute.queues)} queues: a PCS cluster holds at most "
                             f"{limits.MAX_QUEUES}", "merge queues, or split the work over two clusters")
        groups = node_groups(t)
        if len(groups) > limits.MAX_NODE_GROUPS:
            per_queue = ", ".join(f"{q.name}: {sum(g.queue == q.name for g in groups)}" for q in t.compute.queues)
            yield self.issue(("compute", "queues"),
                             f"the queues need {len(groups)} compute node groups with the login group (one per vCPU "
                             f"size: {per_queue}); a PCS cluster holds at most {limits.MAX_NODE_GROUPS}",
                             "give each queue instance types of one size")


class PcsOsValidator(Validator):
    """pctl's PCS nodes run Amazon Linux 2023: AWS's PCS sample AMIs, and the base of a baked PCS image."""

    def check(self, t: Template) -> Iterator[Issue]:
        if t.cluster.platform is Platform.pcs and t.cluster.os != "alinux2023":
            yield self.issue(("cluster", "os"), f"pctl runs PCS nodes on Amazon Linux 2023, not {t.cluster.os}",
                             "set os: alinux2023 (or leave it out) for platform: pcs")


LOGIN_VCPUS = 8  # above this, a PCS login node is more than logins and small builds need


class PcsHeadNodeValidator(Validator):
    """PCS runs the Slurm controller itself: `head_node` sizes the login node group instead."""

    level = Level.WARNING

    def check(self, t: Template) -> Iterator[Issue]:
        from pctl import instance_types

        if t.cluster.platform is not Platform.pcs:
            return
        vcpus = (instance_types.info(t.compute.head_node) or {}).get("vcpus") or 0
        if vcpus > LOGIN_VCPUS:  # said in docs/pcs.md and the plan; a warning only when it costs
            yield self.issue(("compute", "head_node"),
                             f"PCS has no head node (AWS runs the Slurm controller): {t.compute.head_node} ({vcpus} "
                             "vCPUs, running 24/7) becomes the instance type of the login node group",
                             f"a login node rarely needs more than {LOGIN_VCPUS} vCPUs: e.g. t3.large or m6i.xlarge")


class PcsSharedStorageValidator(Validator):
    """PCS has no head node to export an EBS volume over NFS: every shared volume is EFS there."""

    level = Level.WARNING

    def check(self, t: Template) -> Iterator[Issue]:
        if t.cluster.platform is not Platform.pcs:
            return
        from pctl.model.storage import StorageType

        for i, s in enumerate(t.shared_storage):
            if s.type is StorageType.ebs:
                yield self.issue(("shared_storage", i, "type"),
                                 f"PCS has no head node to share an EBS volume: {s.mount_point} becomes an encrypted "
                                 "EFS file system that pctl creates (size_gb does not apply)",
                                 "write `type: efs` to say so, or give an existing EFS with file_system_id")
            elif s.type is StorageType.fsx_lustre:
                yield self.issue(("shared_storage", i, "type"),
                                 "FSx for Lustre as shared storage is not supported on PCS by pctl yet",
                                 "use type: efs for the software volume; mount Lustre data with data.fsx_lustre "
                                 "on ParallelCluster", level=Level.ERROR)
        for i, _ in enumerate(t.data.fsx_lustre):
            yield self.issue(("data", "fsx_lustre", i), "FSx for Lustre mounts are not supported on PCS by pctl yet",
                             "mount the data through data.efs or data.s3_mounts, or use platform: parallelcluster",
                             level=Level.ERROR)
