"""pctl capture remote: against the real loopback head node, plus the decision rules on plain facts."""

from __future__ import annotations

import re

import pytest

from pctl.capture.remote import (
    build_template,
    capture_remote,
    fsx_capacity_gib,
    parse_findmnt,
    parse_module_avail,
    render_report,
)
from pctl.errors import PctlError
from pctl.validation import Level, validate_text


def _valid(template: dict) -> None:
    import yaml

    report, loaded = validate_text(yaml.safe_dump(template, sort_keys=False), "<captured>")
    errors = [str(i) for i in report.issues if i.level == Level.ERROR]
    assert not errors and loaded.template is not None, errors


@pytest.mark.headnode
def test_capture_of_the_loopback_node(headnode, tmp_path):
    cap = capture_remote(f"{headnode.user}@{headnode.host}", headnode.port, headnode.key_path,
                         known_hosts=str(tmp_path / "kh"), expected_fingerprint=headnode.fingerprint)
    t = cap.template
    _valid(t)
    assert cap.facts["slurm_cluster"] == "pctl-headnode"
    assert t["cluster"]["name"] == "pctl-headnode"
    # Slurm partitions -> queues, each with a suggested instance type.
    assert [q["name"] for q in t["compute"]["queues"]] == ["batch", "debug"]
    assert all(q["instance_types"] and q["max_count"] == 1 for q in t["compute"]["queues"])
    # Modules -> Spack specs.
    packages = t["software"]["spack_packages"]
    # (python@3.11.9: the loopback node's modules are Spack's, named after the concretized version)
    for spec in ("python@3.11.9", "gcc@12.3.0", "openmpi@4.1.6", "gromacs@2024.1", "cmake@3.27.9"):
        assert spec in packages
    assert not any(p.startswith("lmod") or p.startswith("settarg") for p in packages)  # Lmod's own modules
    # Users: fixed UIDs kept; the one outside pctl's range is reported, not templated.
    users = {u["name"]: u for u in t["users"]}
    assert users["alice"] == {"name": "alice", "uid": 2001, "gid": 2001}
    assert users["bob"]["groups"] == ["lab"]
    assert headnode.legacy_user not in users
    md = cap.report_md
    assert f"`{headnode.legacy_user}` (UID 61001): UID 61001 is outside pctl's range 1001-60000" in md
    assert re.search(r"\| openmpi/4\.1\.6-gcc-[\d.]+ \| openmpi@4\.1\.6 \| 1\.00 \|", md)  # the node's own gcc
    # A fuzzy guess (labtool ~ libtool) is reported with its confidence, never installed.
    assert "`labtool/0.9`: only a guess" in md and not any(p.startswith("libtool") for p in packages)
    assert "| batch | batch | 1 |" in md
    assert "## Assumptions" in md and "region us-east-1" in md


def test_target_must_be_user_at_host():
    with pytest.raises(PctlError, match="is not USER@HOST"):
        capture_remote("just-a-host")


def _facts(**extra) -> dict:
    base = {"target": "admin@old:22", "hostname": "old-login1", "cpus": 32, "memory_gb": 128.0, "arch": "x86_64",
            "os_id": "rocky", "os_version": "8.9", "os_pretty": "Rocky Linux 8.9", "modules": [], "passwd": [],
            "groups": [], "filesystems": [], "partitions": [], "nodes": [], "slurm_cluster": "Old_HPC"}
    return base | extra


def test_filesystems_map_to_aws_equivalents_with_reasons():
    fs = [
        {"target": "/projects", "source": "nas1:/export/projects", "fstype": "nfs4", "size": 10**13},
        {"target": "/scratch", "source": "10.0.0.5@tcp:/scratch", "fstype": "lustre", "size": 5 * 10**12},
        {"target": "/gpfs/work", "source": "work", "fstype": "gpfs", "size": 10**12},
        {"target": "/home", "source": "nas1:/export/home", "fstype": "nfs4", "size": 10**12},
        {"target": "/scratch/sub", "source": "nas2:/x", "fstype": "nfs", "size": 1},
        {"target": "/lab", "source": "//win/lab", "fstype": "cifs", "size": 1},
        {"target": "/datasets", "source": "lab-datasets:/", "fstype": "fuse.s3fs", "size": 0},
        {"target": "/proc", "source": "proc", "fstype": "proc", "size": 0},
    ]
    plan = build_template(_facts(filesystems=fs))
    data = plan.template["data"]
    assert data["efs"] == [{"mount_point": "/projects"}]
    # ParallelCluster creates one FSx for Lustre per cluster: the first parallel file system gets it
    assert data["fsx_lustre"] == [{"mount_point": "/scratch", "storage_capacity_gb": 4800}]
    assert data["s3_mounts"] == [{"bucket": "lab-datasets", "mount_point": "/datasets", "read_only": True}]
    skipped = {f["target"]: f["reason"] for f in plan.filesystems_skipped}
    assert set(skipped) == {"/home", "/scratch/sub", "/lab", "/gpfs/work"}
    assert "at most one FSx for Lustre" in skipped["/gpfs/work"] and "file_system_id" in skipped["/gpfs/work"]
    assert "at most one EFS" in skipped["/home"] and "/projects is it" in skipped["/home"]
    assert "FSx for Windows" in skipped["/lab"]
    _valid(plan.template)
    md = render_report(plan, _facts())
    assert "| /scratch | lustre from 10.0.0.5@tcp:/scratch | FSx for Lustre | 0.90 |" in md


def test_partitions_become_valid_queues_and_gpus_get_gpu_instances():
    nodes = [{"NodeName": "g1", "CPUTot": "48", "RealMemory": "380000", "Gres": "gpu:a100:4", "Partitions": "GPU_Long"},
             {"NodeName": "c1", "CPUTot": "64", "RealMemory": "256000", "Gres": "(null)", "Partitions": "cpu,all"}]
    parts = [{"PartitionName": "GPU_Long", "TotalNodes": "8"}, {"PartitionName": "cpu", "TotalNodes": "100"}]
    plan = build_template(_facts(nodes=nodes, partitions=parts))
    queues = plan.template["compute"]["queues"]
    assert [q["name"] for q in queues] == ["gpu-long", "cpu"]
    assert [q["max_count"] for q in queues] == [8, 100]
    from pctl.instance_types import types

    gpu_type, cpu_type = queues[0]["instance_types"][0], queues[1]["instance_types"][0]
    assert types()[gpu_type]["gpus"] >= 4 and types()[cpu_type].get("gpus", 0) == 0
    assert types()[cpu_type]["vcpus"] >= 64
    assert plan.template["cluster"]["os"] == "rhel8"  # ParallelCluster has no Rocky image; RHEL 8 is compatible
    assert any("no Rocky image" in a for a in plan.assumptions)
    assert any("partition GPU_Long becomes queue gpu-long" in a for a in plan.assumptions)
    _valid(plan.template)


def test_users_outside_the_range_or_service_accounts_are_reported_not_templated():
    passwd = [
        {"name": "ana", "uid": 5001, "gid": 5001, "home": "/home/ana", "shell": "/bin/bash"},
        {"name": "old", "uid": 70001, "gid": 70001, "home": "/home/old", "shell": "/bin/bash"},
        {"name": "svc", "uid": 1500, "gid": 1500, "home": "/", "shell": "/usr/sbin/nologin"},
        {"name": "ec2-user", "uid": 1001, "gid": 1001, "home": "/home/ec2-user", "shell": "/bin/bash"},
        {"name": "daemon", "uid": 2, "gid": 2, "home": "/", "shell": "/usr/sbin/nologin"},
    ]
    plan = build_template(_facts(passwd=passwd, groups=[{"name": "chem", "gid": 7000, "members": ["ana"]}]))
    assert plan.template["users"] == [{"name": "ana", "uid": 5001, "gid": 5001, "groups": ["chem"]}]
    assert {s["name"] for s in plan.users_skipped} == {"old", "svc", "ec2-user"}
    _valid(plan.template)


def test_fsx_capacity_steps():
    assert [fsx_capacity_gib(n * 2**30) for n in (0, 1200, 1201, 2400, 2401, 9000)] == [1200, 1200, 2400, 2400,
                                                                                         4800, 9600]


def test_parsers_read_lmod_terse_output_and_findmnt_trees():
    avail = ("/usr/share/lmod/lmod/modulefiles/Core:\nlmod\nsettarg\n/apps/modules:\ngcc/\ngcc/12.3.0\n"
             "gcc/13.2.0 (D)\nR/4.3.1(default)\n")
    assert parse_module_avail(avail) == ["gcc/12.3.0", "gcc/13.2.0", "R/4.3.1"]
    tree = '{"filesystems": [{"target": "/", "source": "/dev/sda1", "fstype": "xfs", "size": 5, ' \
           '"children": [{"target": "/data", "source": "n:/d", "fstype": "nfs4", "size": null}]}]}'
    assert [f["target"] for f in parse_findmnt(tree)] == ["/", "/data"]
    assert parse_findmnt("not json") == []


def test_parallel_file_systems_other_than_lustre_map_with_lower_confidence():
    plan = build_template(_facts(filesystems=[{"target": "/gpfs/work", "source": "work", "fstype": "gpfs", "size": 10**12}]))
    gpfs = next(f for f in plan.filesystems if f["target"] == "/gpfs/work")
    assert gpfs["confidence"] < 0.9 and "closest to gpfs" in gpfs["suggestion"]


def test_groups_found_on_the_cluster_are_written_with_their_gids():
    """Issue 10: shared primary groups and site supplementary groups keep their names and GIDs."""
    passwd = [
        {"name": "ana", "uid": 5001, "gid": 7000, "home": "/home/ana", "shell": "/bin/bash"},  # lab is her primary
        {"name": "ben", "uid": 5002, "gid": 7000, "home": "/home/ben", "shell": "/bin/bash"},  # ...and his
        {"name": "cy", "uid": 5003, "gid": 5003, "home": "/home/cy", "shell": "/bin/bash"},  # own private group
        {"name": "dee", "uid": 5004, "gid": 100, "home": "/home/dee", "shell": "/bin/bash"},  # OS group "users"
    ]
    groups = [
        {"name": "lab", "gid": 7000, "members": []},
        {"name": "cy", "gid": 5003, "members": ["ana"]},  # ana may read cy's files
        {"name": "imaging", "gid": 7100, "members": ["ana", "cy", "dee"]},
        {"name": "wheel", "gid": 10, "members": ["ben"]},  # an OS group: never templated
        {"name": "users", "gid": 100, "members": []},
        {"name": "legacy", "gid": 70000, "members": ["cy"]},  # outside pctl's GID range
    ]
    plan = build_template(_facts(passwd=passwd, groups=groups))
    t = plan.template
    assert t["groups"] == [{"name": "lab", "gid": 7000}, {"name": "imaging", "gid": 7100}]
    users = {u["name"]: u for u in t["users"]}
    assert users["ana"] == {"name": "ana", "uid": 5001, "group": "lab", "groups": ["cy", "imaging"]}
    assert users["ben"] == {"name": "ben", "uid": 5002, "group": "lab"}
    assert users["cy"] == {"name": "cy", "uid": 5003, "gid": 5003, "groups": ["imaging"]}
    assert users["dee"] == {"name": "dee", "uid": 5004, "gid": 5004, "groups": ["imaging"]}  # private group instead
    said = " | ".join(plan.assumptions)
    assert "group users (GID 100" in said and "an OS group" in said
    assert "group legacy (GID 70000" in said and "outside pctl's range" in said
    assert "user dee gets a private group with GID 5004 instead of users" in said
    assert "wheel" not in str(t)
    _valid(t)


def test_nfs_home_becomes_efs_shared_storage():
    """ParallelCluster 3.8+ shares /home from EFS: a site's NFS /home maps there (software stays on /shared)."""
    fs = [{"target": "/home", "source": "nas1:/export/home", "fstype": "nfs4", "size": 10**12},
          {"target": "/projects", "source": "nas1:/export/projects", "fstype": "nfs4", "size": 10**13}]
    plan = build_template(_facts(filesystems=fs))
    assert plan.template["shared_storage"] == [
        {"name": "shared", "mount_point": "/shared", "type": "ebs", "size_gb": 100},
        {"name": "home", "mount_point": "/home", "type": "efs"}]
    assert "data" not in plan.template  # one created EFS per cluster: /projects is reported instead
    skipped = {f["target"]: f["reason"] for f in plan.filesystems_skipped}
    assert "at most one EFS" in skipped["/projects"] and "/home is it" in skipped["/projects"]
    assert any(a.startswith("/home: a new, encrypted EFS") for a in plan.assumptions)
    _valid(plan.template)
