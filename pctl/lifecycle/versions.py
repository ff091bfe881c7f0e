"""Which recorded ParallelCluster versions differ from the installed one (issue 5), as warnings.

pcluster refuses a custom AMI baked for another version, and may not update or delete a cluster another
version created; `pctl status` and `pctl delete` say so before the user runs into it.
"""

from __future__ import annotations

from pctl.state import ClusterState


def version_warnings(st: ClusterState, installed: str | None = None) -> list[str]:
    """Warnings for the cluster's recorded pcluster version and its AMI's (empty when all match)."""
    from pctl.pcluster_manager import check_version_match

    found = [check_version_match(st.pcluster_version, f"cluster {st.name}", installed=installed)]
    if st.ami_id:
        found.append(check_version_match(st.ami_pcluster_version, f"AMI {st.ami_id}", installed=installed))
    return [w for w in found if w]
