"""Render: one test per requirement, asserting on the parsed config that pcluster's schema accepted."""

from __future__ import annotations

import copy
import re
import subprocess
import sys

import pytest
import yaml

import pctl.validation  # noqa: F401  (import order: validation before the loader)
from pctl.model.constants import (
    AMI_SPACK_ROOT,
    INSTALL_DONE,
    INSTALL_FAILED,
    INSTALL_LOG,
    SOFTWARE_STATUS_DIR,
)
from pctl.model.template import Template
from pctl.render import Rendered, RenderOptions, ami_software_script, render
from pctl.render.context import node_groups
from tests.conftest import REPO

BASE = {
    "cluster": {"name": "demo", "region": "us-east-1", "os": "alinux2023"},
    "compute": {"head_node": "t3.medium", "queues": [{"name": "compute", "instance_types": ["c6i.2xlarge"], "max_count": 8}]},
}
FULL_OPTIONS = RenderOptions(
    subnet_id="subnet-0123456789abcdef0",
    compute_subnet_id="subnet-0fedcba9876543210",
    key_name="lab-key",
    ssh_allowed_cidr="192.0.2.0/24",
    scripts_s3_prefix="s3://lab-cluster-bucket/pctl/demo/scripts",
    extra_tags={"owner": "hpc-team"},
)


def template(**sections) -> Template:
    data = copy.deepcopy(BASE)
    data.update(sections)
    return Template.model_validate(data)


def queues(**queue) -> dict:
    return {"head_node": "t3.medium", "queues": [{"name": "q", "max_count": 8, **queue}]}


def config(t: Template, cluster_schema, options: RenderOptions | None = None) -> dict:
    return cluster_schema(render(t, options).config_text, t.cluster.name)


# ---- compute resources --------------------------------------------------------------------------

def test_same_size_types_share_one_flexible_resource_with_full_max_count(cluster_schema):
    t = template(compute=queues(instance_types=["c6i.4xlarge", "c6a.4xlarge", "c7i.4xlarge"], max_count=50, min_count=2))
    [q] = config(t, cluster_schema)["Scheduling"]["SlurmQueues"]
    [cr] = q["ComputeResources"]
    assert [i["InstanceType"] for i in cr["Instances"]] == ["c6i.4xlarge", "c6a.4xlarge", "c7i.4xlarge"]
    assert (cr["MinCount"], cr["MaxCount"]) == (2, 50)


def test_mixed_size_types_split_the_queue_max_count_as_a_hard_cap(cluster_schema):
    t = template(compute=queues(instance_types=["c6i.2xlarge", "c6i.4xlarge", "c6i.8xlarge"], max_count=7, min_count=1))
    [q] = config(t, cluster_schema)["Scheduling"]["SlurmQueues"]
    crs = q["ComputeResources"]
    assert [cr["InstanceType"] for cr in crs] == ["c6i.2xlarge", "c6i.4xlarge", "c6i.8xlarge"]
    assert sum(cr["MaxCount"] for cr in crs) == 7 and min(cr["MaxCount"] for cr in crs) >= 1  # max_count is a cap
    assert sum(cr["MinCount"] for cr in crs) == 1


@pytest.mark.parametrize(("capacity", "expected"), [("ondemand", "ONDEMAND"), ("spot", "SPOT"), ("capacity_block", "CAPACITY_BLOCK")])
def test_capacity_type_maps_to_pcluster_enum(cluster_schema, monkeypatch, capacity, expected):
    """For capacity blocks, loading the config makes pcluster call EC2 DescribeCapacityReservations,
    which moto does not implement: that one pcluster call is replaced by an empty answer (offline)."""
    from pcluster.aws.ec2 import Ec2Client

    monkeypatch.setattr(Ec2Client, "describe_capacity_reservations", lambda self, ids: [])
    itype = "p5.48xlarge" if capacity == "capacity_block" else "c6i.2xlarge"  # capacity blocks: GPU types only
    t = template(compute=queues(instance_types=[itype], capacity_type=capacity))
    [q] = config(t, cluster_schema)["Scheduling"]["SlurmQueues"]
    assert q["CapacityType"] == expected
    if capacity == "capacity_block":
        target = q["ComputeResources"][0]["CapacityReservationTarget"]
        assert target["CapacityReservationId"].startswith("cr-")


def test_allocation_strategy_efa_and_hyperthreading_map_through(cluster_schema):
    t = template(compute=queues(instance_types=["c5n.18xlarge"], capacity_type="spot",
                                allocation_strategy="capacity-optimized", efa=True, disable_hyperthreading=True))
    [q] = config(t, cluster_schema)["Scheduling"]["SlurmQueues"]
    assert q["AllocationStrategy"] == "capacity-optimized"
    assert q["Networking"]["PlacementGroup"] == {"Enabled": True}
    [cr] = q["ComputeResources"]
    assert cr["Efa"] == {"Enabled": True}
    assert cr["DisableSimultaneousMultithreading"] is True


def test_queue_without_efa_has_no_placement_group(cluster_schema):
    [q] = config(template(), cluster_schema)["Scheduling"]["SlurmQueues"]
    assert "PlacementGroup" not in q["Networking"]
    assert "Efa" not in q["ComputeResources"][0]


# ---- custom actions, IAM, IMDS, encryption --------------------------------------------------------

def test_every_queue_and_the_head_node_get_on_node_configured(cluster_schema):
    t = template(compute={"head_node": "t3.medium", "queues": [
        {"name": "a", "instance_types": ["c6i.xlarge"]},
        {"name": "b", "instance_types": ["c6i.2xlarge"], "capacity_type": "spot"},
        {"name": "c", "instance_types": ["m6i.large"]},
    ]})
    cfg = config(t, cluster_schema, FULL_OPTIONS)
    head = cfg["HeadNode"]["CustomActions"]["OnNodeConfigured"]["Script"]
    assert head == "s3://lab-cluster-bucket/pctl/demo/scripts/head-node.sh"
    for q in cfg["Scheduling"]["SlurmQueues"]:
        assert q["CustomActions"]["OnNodeConfigured"]["Script"] == "s3://lab-cluster-bucket/pctl/demo/scripts/compute-node.sh"


def test_script_urls_name_where_each_script_must_be_uploaded():
    r = render(template(), FULL_OPTIONS)
    assert r.script_urls["scripts/head-node.sh"] == "s3://lab-cluster-bucket/pctl/demo/scripts/head-node.sh"
    assert set(r.script_urls) == set(r.scripts)
    for url in r.script_urls.values():
        assert url in r.config_text or url.endswith("spack-install.sh")


def test_s3_access_scoped_to_named_buckets_with_write_only_where_asked(cluster_schema):
    t = template(data={"s3_mounts": [
        {"bucket": "ref-data", "mount_point": "/data/ref", "read_only": True},
        {"bucket": "results-bucket", "mount_point": "/data/results", "read_only": False},
        {"bucket": "mixed-bucket", "mount_point": "/data/m1", "read_only": True, "prefix": "a/"},
        {"bucket": "mixed-bucket", "mount_point": "/data/m2", "read_only": False, "prefix": "b/"},
    ]})
    cfg = config(t, cluster_schema, FULL_OPTIONS)
    # (bucket, key, write): read where mounted, write only where a mount asks (under its prefix), the
    # scripts bucket only for this cluster's scripts prefix
    expected = {("ref-data", None, False), ("results-bucket", None, True), ("mixed-bucket", None, False),
                ("mixed-bucket", "b/*", True), ("lab-cluster-bucket", "pctl/demo/scripts/*", False)}
    # the account's Spack binary cache (issue 15): only the head node, which installs, writes its prefix
    # (with no managed policy from `pctl create` here; tests/test_cache_iam.py has the policy)
    head_only = {("lab-cluster-bucket", "spack-cache/*", True)}
    nodes = [cfg["HeadNode"], *cfg["Scheduling"]["SlurmQueues"]]
    for node in nodes:
        access = node["Iam"]["S3Access"]
        if node is cfg["HeadNode"]:
            assert {(a["BucketName"], a.get("KeyName"), a["EnableWriteAccess"]) for a in access} == expected | head_only
            assert len(access) == len(expected) + 1
            continue
        assert {(a["BucketName"], a.get("KeyName"), a["EnableWriteAccess"]) for a in access} == expected
        assert len(access) == len(expected)
        assert all("*" not in a["BucketName"] for a in access)


def test_imdsv2_required(cluster_schema):
    cfg = config(template(), cluster_schema)
    assert cfg["Imds"] == {"ImdsSupport": "v2.0"}
    assert cfg["HeadNode"]["Imds"] == {"Secured": True}


def test_every_ebs_volume_is_encrypted(cluster_schema):
    t = template(shared_storage=[{"name": "shared", "mount_point": "/shared", "type": "ebs", "size_gb": 200},
                                 {"name": "more", "mount_point": "/more", "type": "ebs", "size_gb": 50}])
    cfg = config(t, cluster_schema)
    assert cfg["HeadNode"]["LocalStorage"]["RootVolume"]["Encrypted"] is True
    for q in cfg["Scheduling"]["SlurmQueues"]:
        assert q["ComputeSettings"]["LocalStorage"]["RootVolume"]["Encrypted"] is True
    ebs = [s for s in cfg["SharedStorage"] if s["StorageType"] == "Ebs"]
    assert [s["EbsSettings"] for s in ebs] == [
        {"VolumeType": "gp3", "Size": 200, "Encrypted": True},
        {"VolumeType": "gp3", "Size": 50, "Encrypted": True},
    ]


def test_default_shared_volume_is_an_encrypted_ebs_at_shared(cluster_schema):
    [s] = config(template(), cluster_schema)["SharedStorage"]
    assert (s["MountDir"], s["StorageType"], s["EbsSettings"]["Encrypted"]) == ("/shared", "Ebs", True)


def test_data_volumes_and_existing_ids_map_to_shared_storage(cluster_schema):
    t = template(
        shared_storage=[
            {"name": "shared", "mount_point": "/shared", "type": "efs", "file_system_id": "fs-0123456789abcdef2"},
            {"name": "old", "mount_point": "/old", "type": "ebs", "file_system_id": "vol-0123456789abcdef0"},
        ],
        data={
            "efs": [{"mount_point": "/data/efs", "file_system_id": "fs-0123456789abcdef0"}, {"mount_point": "/data/new"}],
            "fsx_lustre": [
                {"mount_point": "/fsx", "import_path": "s3://lab-inputs/raw", "storage_capacity_gb": 2400},
                {"mount_point": "/fsx2", "file_system_id": "fs-0123456789abcdef1"},
            ],
        },
    )
    storage = {s["MountDir"]: s for s in config(t, cluster_schema)["SharedStorage"]}
    assert storage["/shared"]["EfsSettings"] == {"FileSystemId": "fs-0123456789abcdef2", "EncryptionInTransit": True}
    assert storage["/old"]["EbsSettings"] == {"VolumeId": "vol-0123456789abcdef0"}
    assert storage["/data/efs"]["EfsSettings"] == {"FileSystemId": "fs-0123456789abcdef0", "EncryptionInTransit": True}
    assert storage["/data/new"]["EfsSettings"] == {"Encrypted": True, "EncryptionInTransit": True}
    assert storage["/fsx"]["FsxLustreSettings"] == {"StorageCapacity": 2400, "DeploymentType": "SCRATCH_2",
                                                    "ImportPath": "s3://lab-inputs/raw"}
    assert storage["/fsx2"]["FsxLustreSettings"] == {"FileSystemId": "fs-0123456789abcdef1"}
    names = [s["Name"] for s in storage.values()]
    assert len(names) == len(set(names))


def test_fsx_import_bucket_gets_read_access(cluster_schema):
    t = template(data={"fsx_lustre": [{"mount_point": "/fsx", "import_path": "s3://lab-inputs/raw"}]})
    access = config(t, cluster_schema)["HeadNode"]["Iam"]["S3Access"]
    assert {"BucketName": "lab-inputs", "EnableWriteAccess": False} in access


# ---- SSH, tags, placeholders ------------------------------------------------------------------------

def test_ssh_defaults_to_the_vpc_cidr_and_says_so(cluster_schema):
    t = template(networking={"vpc_cidr": "10.7.0.0/16"})
    r = render(t)
    cfg = cluster_schema(r.config_text, "demo")
    assert cfg["HeadNode"]["Ssh"]["AllowedIps"] == "10.7.0.0/16"
    assert "SSH is closed to the internet" in r.config_text


def test_ssh_cidr_from_template_then_options(cluster_schema):
    t = template(networking={"ssh_allowed_cidr": "203.0.113.0/24"})
    r = render(t)
    assert cluster_schema(r.config_text, "demo")["HeadNode"]["Ssh"]["AllowedIps"] == "203.0.113.0/24"
    assert "closed to the internet" not in r.config_text
    cfg = config(t, cluster_schema, RenderOptions(ssh_allowed_cidr="198.51.100.7/32"))
    assert cfg["HeadNode"]["Ssh"]["AllowedIps"] == "198.51.100.7/32"


def test_world_open_ssh_only_when_the_template_asks(cluster_schema):
    assert "0.0.0.0/0" not in render(template()).config_text
    t = template(networking={"ssh_allowed_cidr": "0.0.0.0/0"})
    assert config(t, cluster_schema)["HeadNode"]["Ssh"]["AllowedIps"] == "0.0.0.0/0"


def test_tags_carry_the_cluster_name_and_template_tags(cluster_schema):
    t = template(cluster={**BASE["cluster"], "tags": {"project": "genomics", "cost-center": "42"}})
    tags = {x["Key"]: x["Value"] for x in config(t, cluster_schema, FULL_OPTIONS)["Tags"]}
    assert tags == {"pctl:cluster": "demo", "project": "genomics", "cost-center": "42", "owner": "hpc-team"}


def test_placeholders_are_marked_and_still_load(cluster_schema):
    r = render(template())
    cfg = cluster_schema(r.config_text, "demo")
    assert cfg["HeadNode"]["Networking"]["SubnetId"] == "subnet-00000000000000000"
    assert cfg["HeadNode"]["CustomActions"]["OnNodeConfigured"]["Script"].startswith("s3://pctl-placeholder/")
    marked = [line for line in r.config_text.splitlines() if "# PCTL-PLACEHOLDER:" in line]
    assert len(marked) == len(r.placeholders) + 1  # the script URL is marked on head and queue; listed once
    for description in r.placeholders:
        assert f"# PCTL-PLACEHOLDER: {description}" in r.config_text


def test_options_replace_every_placeholder(cluster_schema):
    r = render(template(), FULL_OPTIONS)
    cfg = cluster_schema(r.config_text, "demo")
    assert r.placeholders == []
    assert "PCTL-PLACEHOLDER" not in r.config_text and "pctl-placeholder" not in r.config_text
    assert cfg["HeadNode"]["Networking"]["SubnetId"] == "subnet-0123456789abcdef0"
    assert cfg["HeadNode"]["Ssh"]["KeyName"] == "lab-key"
    assert cfg["Scheduling"]["SlurmQueues"][0]["Networking"]["SubnetIds"] == ["subnet-0fedcba9876543210"]


def test_template_networking_and_key_are_used_without_options(cluster_schema):
    t = template(cluster={**BASE["cluster"], "key_name": "tmpl-key"}, networking={"subnet_id": "subnet-0aaaaaaaaaaaaaaaa"})
    r = render(t)
    cfg = cluster_schema(r.config_text, "demo")
    assert cfg["HeadNode"]["Ssh"]["KeyName"] == "tmpl-key"
    assert cfg["Scheduling"]["SlurmQueues"][0]["Networking"]["SubnetIds"] == ["subnet-0aaaaaaaaaaaaaaaa"]
    assert r.placeholders == ["node scripts location: upload scripts/ and pass --scripts-s3-prefix"]


@pytest.mark.parametrize("bad", [
    RenderOptions(subnet_id="subnet-xyz"), RenderOptions(ssh_allowed_cidr="10.0.0.1/8"),
    RenderOptions(scripts_s3_prefix="https://example.com/x"), RenderOptions(custom_ami="ami-1"),
    RenderOptions(key_name="bad\nkey"),
])
def test_malformed_options_are_refused(bad):
    from pctl.errors import PctlError

    with pytest.raises(PctlError):
        render(template(), bad)


# ---- scripts ----------------------------------------------------------------------------------------

USERS = [{"name": "alice", "uid": 2001, "gid": 2001, "groups": ["lab"]}, {"name": "bob", "uid": 2002, "gid": 2002}]
GROUPS = [{"name": "lab", "gid": 2500}]


def test_users_with_fixed_ids_on_head_and_compute():
    r = render(template(users=USERS, groups=GROUPS))
    for name in ("scripts/head-node.sh", "scripts/compute-node.sh"):
        s = r.files[name]
        assert "ensure_user alice 2001 2001 /bin/bash" in s and "ensure_user bob 2002 2002 /bin/bash" in s
        assert "ensure_group alice 2001" in s and "ensure_group lab 2500" in s
        assert "usermod --append --groups lab alice" in s
        # idempotent: each creation is guarded by a lookup
        assert 'if id -u "$name"' in s and 'if current=$(getent group "$name")' in s
    assert "--create-home" in r.files["scripts/head-node.sh"]
    assert "--no-create-home" in r.files["scripts/compute-node.sh"]


def test_shared_primary_group_is_created_once_with_the_site_gid():
    users = [{"name": "ana", "uid": 3001, "group": "lab", "groups": ["imaging", "cy"]},  # cy: another user's own group
             {"name": "ben", "uid": 3002, "gid": 4100},  # the lab's GID: lab is ben's primary group too
             {"name": "cy", "uid": 3003, "gid": 3003}]
    groups = [{"name": "lab", "gid": 4100}, {"name": "imaging", "gid": 4200}]
    t = template(users=users, groups=groups)
    assert node_groups(t) == [{"name": "lab", "gid": 4100}, {"name": "imaging", "gid": 4200}, {"name": "cy", "gid": 3003}]
    for name in ("scripts/head-node.sh", "scripts/compute-node.sh"):
        s = render(t).files[name]
        ensure = [line for line in s.splitlines() if line.startswith("ensure_group ")]
        assert ensure == ["ensure_group lab 4100", "ensure_group imaging 4200", "ensure_group cy 3003"]
        assert "ensure_user ana 3001 4100 /bin/bash" in s and "ensure_user ben 3002 4100 /bin/bash" in s
        assert "usermod --append --groups imaging ana" in s and "usermod --append --groups cy ana" in s


def test_s3_mounts_use_mountpoint_with_the_right_flags():
    t = template(data={"s3_mounts": [
        {"bucket": "ref-data", "mount_point": "/data/ref"},
        {"bucket": "results-bucket", "mount_point": "/data/out", "read_only": False, "prefix": "runs/"},
    ]})
    for name in ("scripts/head-node.sh", "scripts/compute-node.sh"):
        s = render(t).files[name]
        assert "mount_bucket ref-data /data/ref --read-only\n" in s
        line = next(x for x in s.splitlines() if x.startswith("mount_bucket results-bucket"))
        assert "--allow-delete --allow-overwrite" in line and "--prefix runs/" in line and "--read-only" not in line
        assert "mountpoint-s3-release/latest/x86_64/mount-s3.rpm" in s
        assert "if ! command -v mount-s3" in s and "if mountpoint -q" in s


def test_mount_s3_package_follows_os_family_and_architecture():
    t = template(cluster={**BASE["cluster"], "os": "ubuntu2204"},
                 compute={"head_node": "c7g.xlarge", "queues": [{"name": "q", "instance_types": ["c7g.2xlarge"]}]},
                 data={"s3_mounts": [{"bucket": "ref-data", "mount_point": "/data/ref"}]})
    s = render(t).files["scripts/compute-node.sh"]
    assert "latest/arm64/mount-s3.deb" in s and "apt-get install" in s


def test_spack_environment_pins_version_cache_compiler_and_slurm():
    t = template(cluster={**BASE["cluster"], "os": "rhel9"},
                 software={"spack_packages": ["gromacs@2024.1 +mpi", "openmpi@4.1.6"], "spack_version": "0.23.1"})
    r = render(t)
    env = yaml.safe_load(r.files["spack/spack.yaml"])["spack"]
    assert env["specs"][:2] == ["gromacs@2024.1 +mpi", "openmpi@4.1.6"]
    assert env["mirrors"] == {"spack-v0.23.1": "https://binaries.spack.io/v0.23.1"}
    lmod = env["modules"]["default"]["lmod"]
    # Lmod's core compilers are what `spack compiler find` finds on the node (node-compilers.yaml, included)
    assert "node-compilers.yaml" in env["include"] and "core_compilers" not in lmod
    assert lmod["hierarchy"] == ["mpi"]
    assert "{compiler.name}" in lmod["projections"]["all"]
    assert env["modules"]["default"]["roots"]["lmod"] == "/shared/spack/share/spack/lmod"
    installer = r.files["scripts/spack-install.sh"]
    assert "SPACK_ROOT=/shared/spack" in installer and "SPACK_VERSION=0.23.1" in installer
    assert "slurm@${slurm_version}" in installer and "SLURM_PREFIX=/opt/slurm" in installer
    # one environment, not one install per spec (the specs live in spack.yaml; the installer only checks modules)
    assert "spack add" not in installer and "install gromacs" not in installer
    assert "module lmod refresh" in installer


def test_spack_1_projections_use_dependency_tokens():
    env = yaml.safe_load(render(template(software={"spack_version": "1.0.2"})).files["spack/spack.yaml"])["spack"]
    projections = env["modules"]["default"]["lmod"]["projections"]
    assert "{^c.name}" in projections["%c"] and "compiler." not in str(projections)
    assert env["mirrors"] == {"spack-v1.0.2": "https://binaries.spack.io/v1.0.2"}


def test_spack_root_follows_the_first_shared_volume_and_the_template():
    t = template(shared_storage=[{"name": "apps", "mount_point": "/apps", "type": "efs"}])
    assert "SPACK_ROOT=/apps/spack" in render(t).files["scripts/spack-install.sh"]
    t = template(software={"spack_root": "/shared/sw/spack"})
    assert "SPACK_ROOT=/shared/sw/spack" in render(t).files["scripts/spack-install.sh"]


def test_head_node_detaches_the_install_and_reports_through_markers():
    r = render(template(software={"spack_packages": ["zlib"]}))
    head = r.files["scripts/head-node.sh"]
    status = f"/shared/spack/{SOFTWARE_STATUS_DIR}"
    assert re.search(r"^\s*setsid nohup bash .*install\.sh.*&$", head, re.M)
    assert f"if [ -f {status}/{INSTALL_DONE} ]" in head  # re-runs skip a finished install
    installer = r.files["scripts/spack-install.sh"]
    for marker in (INSTALL_LOG, INSTALL_DONE, INSTALL_FAILED):
        assert f"{status}/{marker}" in installer
    assert "trap 'on_error" in installer
    # the installer and spack.yaml the head node writes are exactly the rendered files
    assert r.files["scripts/spack-install.sh"] in head
    assert r.files["spack/spack.yaml"] in head
    assert "spack" not in r.files["scripts/compute-node.sh"].split("PCTL_PROFILE_EOF")[0]


def test_profile_snippet_on_every_node():
    r = render(template())
    snippet = r.files["modules/pctl-modules.sh"]
    assert "PCTL_MODULES_CORE=/shared/spack/share/spack/lmod/Core" in snippet
    assert "setup-env.sh" in snippet
    for name in ("scripts/head-node.sh", "scripts/compute-node.sh"):
        assert f"cat > /etc/profile.d/pctl-modules.sh <<'PCTL_PROFILE_EOF'\n{snippet}PCTL_PROFILE_EOF" in r.files[name]


def test_ami_mode_skips_the_install_and_bakes_into_the_image(cluster_schema):
    t = template(software={"spack_packages": ["zlib"], "install": "ami"})
    assert t.spack_root == AMI_SPACK_ROOT
    r = render(t)
    cfg = cluster_schema(r.config_text, "demo")
    assert cfg["Image"]["CustomAmi"] == "ami-00000000000000000" and "custom AMI" in " ".join(r.placeholders)
    head = r.files["scripts/head-node.sh"]
    assert "setsid" not in head and "spack-install" not in head and "baked into the image" in head
    assert f"PCTL_SPACK_ROOT={AMI_SPACK_ROOT}" in r.files["modules/pctl-modules.sh"]
    bake = ami_software_script(t)
    assert f"SPACK_ROOT={AMI_SPACK_ROOT}" in bake and "setsid" not in bake
    assert '"zlib"' in bake
    cfg = config(t, cluster_schema, RenderOptions(custom_ami="ami-0123456789abcdef0"))
    assert cfg["Image"]["CustomAmi"] == "ami-0123456789abcdef0"


def test_hostile_values_are_refused_by_render_itself():
    """Render re-validates its model (quoting of what passes is tests/test_hostile_*.py's job)."""
    from pctl.errors import ConfigError

    t = Template.model_construct(**template().__dict__)
    t.users = [Template.model_validate({**BASE, "users": [{"name": "x", "uid": 2001, "gid": 2001}]}).users[0]]
    t.users[0].name = "x$(touch pwned)"
    t.software = t.software.model_copy(update={"spack_packages": ['zlib"\n  evil: true']})
    with pytest.raises(ConfigError, match="users.0.name|spack_packages"):
        render(t)


def test_write_creates_files_and_executable_scripts(tmp_path):
    r = render(template())
    assert isinstance(r, Rendered)
    written = r.write(tmp_path)
    rel = sorted(str(p.relative_to(tmp_path)) for p in written)
    assert rel == sorted(r.files)
    assert {"cluster-config.yaml", "spack/spack.yaml", "scripts/head-node.sh", "scripts/compute-node.sh"} <= set(rel)
    for p in written:
        mode = p.stat().st_mode & 0o777
        assert mode == (0o755 if p.suffix == ".sh" else mode)
    assert set(r.scripts) == {k for k in r.files if k.startswith("scripts/")}


# ---- CLI --------------------------------------------------------------------------------------------

def run_pctl(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pctl", *args], capture_output=True, text=True, cwd=cwd or REPO)


def test_cli_renders_a_library_template_with_options(tmp_path, cluster_schema):
    out = tmp_path / "out"
    proc = run_pctl("render", "starter", "-o", str(out), "--subnet-id", "subnet-0123456789abcdef0",
                    "--key-name", "k", "--scripts-s3-prefix", "s3://lab-cluster-bucket/s")
    assert proc.returncode == 0, proc.stderr
    cfg = cluster_schema((out / "cluster-config.yaml").read_text(), "starter")
    assert cfg["HeadNode"]["Networking"]["SubnetId"] == "subnet-0123456789abcdef0"
    assert (out / "spack" / "spack.yaml").exists() and (out / "scripts" / "compute-node.sh").stat().st_mode & 0o111
    assert "placeholder" not in proc.stdout


def test_cli_lists_placeholders_left(tmp_path):
    proc = run_pctl("render", "minimal", "-o", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"\d+ placeholders? left", proc.stdout) and "--subnet-id" in proc.stdout


def test_cli_invalid_template_prints_the_report_and_exits_1(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster:\n  name: demo\n  region: us-east-1\ncompute:\n  head_node: t3.medium\n  queues:\n"
                   "    - name: Bad_Queue\n      instance_types: [c6i.xlarge]\n")
    proc = run_pctl("render", str(bad), "-o", str(tmp_path / "out"))
    assert proc.returncode == 1
    assert f"{bad}:7:" in proc.stderr and "queue name" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_render_imports_neither_prefect_nor_boto3(tmp_path):
    code = ("import sys\nfrom pctl.cli import main\ntry:\n    main(['render', 'starter', '-o', sys.argv[1]])\n"
            "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('prefect', 'boto3', 'botocore', 'pcluster')))")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
