"""Property tests (hypothesis).

1. Generated valid templates (strategies over the model's fields that satisfy the validators) pass
   validation, and render to configs that load through pcluster's ClusterSchema, with and without
   AWS options, and to node scripts that `bash -n` accepts.
2. Garbage YAML and garbage values through validate_text never raise and always yield located issues.
"""

from __future__ import annotations

import string
import subprocess

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pctl import instance_types
from pctl.model.constants import (
    OS_ARCHITECTURES,
    RESERVED_GROUP_NAMES,
    RESERVED_USER_NAMES,
    USER_ID_MAX,
    USER_ID_MIN,
)
from pctl.render import RenderOptions, render
from pctl.validation import validate_text

# CI has 2 cores: keep the example counts modest.
VALID = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GARBAGE = settings(max_examples=100, deadline=None)
MUTATED = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REGIONS = ["us-east-1", "us-west-2", "eu-west-1", "ap-southeast-2"]
# Common families offered (on-demand and spot) in every region the generator uses, in every zone of them.
FAMILIES = ("c5", "c5n", "c6i", "m5", "m6i", "r5", "r6i", "t3", "c6g", "m6g", "r6g", "c7g")


def _usable(name: str) -> bool:
    f = instance_types.facts(name)
    return (name.split(".")[0] in FAMILIES and f is not None and "o" in f.usage and "s" in f.usage
            and all(instance_types.offered_in(name, r) for r in REGIONS)
            and all(len(instance_types.common_zones([name], r)) == len(instance_types.common_zones(["t3.medium"], r))
                    for r in REGIONS))


TYPES_BY_ARCH = {
    arch: sorted(t for t, info in instance_types.types().items() if info["arch"] == arch and _usable(t))
    for arch in ("x86_64", "arm64")
}
# pcluster's head node needs min(nodes / 25 + 0.6, 16) GiB for the nodes it may manage (HeadNodeMemory):
# 16 GiB covers any draw here.
HEAD_TYPES_BY_ARCH = {arch: [t for t in pool if instance_types.facts(t).memory_mib >= 16 * 1024]
                      for arch, pool in TYPES_BY_ARCH.items()}
SPECS = ["zlib", "openmpi@4.1.6", "hdf5 +mpi", "gromacs@2024.1 +mpi ^openmpi", "python@3.11", "cmake@3.27.9 %gcc"]
HEX17 = st.text("0123456789abcdef", min_size=17, max_size=17)


def names(pattern: str) -> st.SearchStrategy[str]:
    return st.from_regex(pattern, fullmatch=True)


@st.composite
def queues(draw, arch: str) -> list[dict]:
    pool = TYPES_BY_ARCH[arch]
    qnames = draw(st.lists(names(r"[a-z][a-z0-9-]{0,12}"), min_size=1, max_size=3, unique=True))
    out = []
    for qname in qnames:
        types = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
        max_count = draw(st.integers(len(types), 100))  # several compute resources share max_count (>= 1 each)
        capacity = draw(st.sampled_from(["ondemand", "spot"]))
        strategies = [None, "lowest-price"] + (["capacity-optimized", "price-capacity-optimized"] if capacity == "spot" else [])
        q = {
            "name": qname,
            "instance_types": types,
            "min_count": draw(st.integers(0, max_count)) if capacity == "ondemand" else 0,
            "max_count": max_count,
            "capacity_type": capacity,
            "disable_hyperthreading": draw(st.booleans()),
            "efa": all(instance_types.info(t)["efa"] for t in types) and draw(st.booleans()),
        }
        strategy = draw(st.sampled_from(strategies))
        if strategy:
            q["allocation_strategy"] = strategy
        out.append(q)
    return out


@st.composite
def users(draw) -> tuple[list[dict], list[dict]]:
    """Users with their own groups or a shared lab group, and supplementary groups with declared GIDs."""
    unames = draw(st.lists(names(r"[a-z][a-z0-9_]{0,10}").filter(lambda n: n not in RESERVED_USER_NAMES),
                           max_size=3, unique=True))
    gnames = draw(st.lists(names(r"[a-z][a-z0-9]{0,8}").filter(lambda n: n not in RESERVED_GROUP_NAMES and n not in unames),
                           max_size=2, unique=True))
    ids = draw(st.lists(st.integers(USER_ID_MIN, USER_ID_MAX), min_size=len(unames) + len(gnames),
                        max_size=len(unames) + len(gnames), unique=True))
    groups = [{"name": g, "gid": i} for g, i in zip(gnames, ids[len(unames):], strict=True)]
    out = []
    for n, i in zip(unames, ids[:len(unames)], strict=True):
        user: dict = {"name": n, "uid": i, "groups": draw(st.lists(st.sampled_from(gnames), unique=True)) if gnames else []}
        if gnames and draw(st.booleans()):
            user["group"] = draw(st.sampled_from(gnames))  # a shared primary group
        else:
            user["gid"] = i
        out.append(user)
    return out, groups


@st.composite
def valid_templates(draw) -> dict:
    arch = draw(st.sampled_from(["x86_64", "arm64"]))
    bucket = names(r"[a-z0-9][a-z0-9-]{1,20}[a-z0-9]").filter(lambda b: "--" not in b and not b.startswith(("xn--", "sthree-")))
    shared_type = draw(st.sampled_from(["ebs", "efs", "fsx_lustre"]))
    shared = {"name": "shared", "mount_point": draw(st.sampled_from(["/shared", "/apps", "/opt/shared"])), "type": shared_type}
    if shared_type == "ebs":
        shared["size_gb"] = draw(st.integers(1, 16384))
    elif shared_type == "fsx_lustre":
        shared["size_gb"] = draw(st.sampled_from([1200, 2400, 4800]))
    if draw(st.booleans()):
        prefix = {"ebs": "vol-", "efs": "fs-", "fsx_lustre": "fs-"}[shared_type]
        shared["file_system_id"] = prefix + draw(HEX17)
    new_shared = None if "file_system_id" in shared else shared_type
    data: dict = {
        "s3_mounts": [
            {"bucket": draw(bucket), "mount_point": f"/data/s3-{i}", "read_only": draw(st.booleans()),
             **({"prefix": draw(names(r"[a-z0-9]{1,8}/"))} if draw(st.booleans()) else {})}
            for i in range(draw(st.integers(0, 2)))
        ],
        # ParallelCluster creates at most one EFS and one FSx per cluster: a second one must exist already.
        "efs": [{"mount_point": f"/data/efs-{i}",
                 **({"file_system_id": "fs-" + draw(HEX17)} if draw(st.booleans()) or new_shared == "efs" else {})}
                for i in range(draw(st.integers(0, 1)))],
        "fsx_lustre": [],
    }
    if draw(st.booleans()):
        fsx: dict = {"mount_point": "/fsx"}
        if draw(st.booleans()) or new_shared == "fsx_lustre":
            fsx["file_system_id"] = "fs-" + draw(HEX17)
        else:
            fsx["storage_capacity_gb"] = draw(st.sampled_from([1200, 2400, 7200]))
            if draw(st.booleans()):
                fsx["import_path"] = f"s3://{draw(bucket)}"
        data["fsx_lustre"].append(fsx)
    people, groups = draw(users())
    networking: dict = {}
    if draw(st.booleans()):
        networking["ssh_allowed_cidr"] = draw(st.sampled_from(["203.0.113.0/24", "198.51.100.7/32", "10.0.0.0/8"]))
    if draw(st.booleans()):
        networking["subnet_id"] = "subnet-" + draw(HEX17)
    return {
        "cluster": {
            "name": draw(names(r"[a-zA-Z][a-zA-Z0-9-]{1,30}")),
            "region": draw(st.sampled_from(REGIONS)),
            # rocky8/9: ParallelCluster publishes no image for them, pctl refuses them (OsImageValidator)
            "os": draw(st.sampled_from(sorted(set(OS_ARCHITECTURES) - {"rocky8", "rocky9"}))),
            "tags": draw(st.dictionaries(names(r"[a-z][a-z0-9-]{0,10}"), names(r"[A-Za-z0-9 ._-]{0,12}"), max_size=2)),
        },
        "compute": {"head_node": draw(st.sampled_from(HEAD_TYPES_BY_ARCH[arch])), "queues": draw(queues(arch))},
        "software": {
            "spack_packages": draw(st.lists(st.sampled_from(SPECS), max_size=3, unique=True)),
            "spack_version": draw(st.sampled_from(["0.22.2", "0.23.1", "1.0.2"])),
            "install": draw(st.sampled_from(["shared", "ami"])),
        },
        "users": people,
        "groups": groups,
        "data": data,
        "shared_storage": [shared],
        "networking": networking,
        "description": "generated",
    }


@VALID
@given(data=valid_templates())
def test_generated_valid_templates_render_to_configs_pcluster_accepts(data, cluster_schema, tmp_path_factory):
    report, loaded = validate_text(yaml.safe_dump(data, sort_keys=False), "generated.yaml")
    assert report.errors == [], report.render()
    t = loaded.template
    for options in (None, RenderOptions(subnet_id="subnet-0123456789abcdef0", key_name="k",
                                        scripts_s3_prefix="s3://scripts-bucket/x", custom_ami="ami-0123456789abcdef0")):
        r = render(t, options)
        cfg = cluster_schema(r.config_text, t.cluster.name)
        for q, rendered in zip(t.compute.queues, cfg["Scheduling"]["SlurmQueues"], strict=True):
            # max_count is a hard cap on the queue: its compute resources share it (issue 10)
            assert sum(cr["MaxCount"] for cr in rendered["ComputeResources"]) == q.max_count
            assert rendered["CustomActions"]["OnNodeConfigured"]["Script"].endswith("/compute-node.sh")
        # without options at least the scripts location is a placeholder; with them, nothing is
        assert bool(r.placeholders) == (options is None)
    script = tmp_path_factory.mktemp("sh") / "compute-node.sh"
    script.write_text(r.files["scripts/compute-node.sh"])
    subprocess.run(["bash", "-n", str(script)], check=True)


# ---- garbage in: never a traceback, always a line to look at --------------------------------------

def assert_located(text: str) -> None:
    report, _ = validate_text(text, "garbage.yaml")
    for issue in report.issues:
        assert issue.line is not None and issue.line >= 1, (text, issue)
    if not report.ok():
        assert report.errors


# Characters the YAML reader refuses (C0 controls except tab/newline/CR) are covered separately below.
PRINTABLE = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=[
    chr(c) for c in range(32) if chr(c) not in "\t\n\r"] + ["\x7f", "\ufeff"] + [chr(c) for c in range(0x80, 0xa0)]))


@GARBAGE
@given(text=PRINTABLE)
def test_garbage_text_never_raises_and_is_located(text):
    assert_located(text)


YAML_ISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(string.printable, max_size=10),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(string.ascii_lowercase + "_", max_size=12), children, max_size=4),
    max_leaves=12,
)


@GARBAGE
@given(doc=YAML_ISH)
def test_garbage_yaml_documents_never_raise_and_are_located(doc):
    assert_located(yaml.safe_dump(doc))


@st.composite
def mutated_templates(draw) -> str:
    """A valid template with one field replaced by an arbitrary value."""
    data = draw(valid_templates())
    node = data
    while True:
        key = draw(st.sampled_from(sorted(node) if isinstance(node, dict) else list(range(len(node)))))
        child = node[key]
        if not isinstance(child, dict | list) or not child or draw(st.booleans()):
            node[key] = draw(YAML_ISH)
            break
        node = child
    return yaml.safe_dump(data, sort_keys=False)


@MUTATED
@given(text=mutated_templates())
def test_mutated_templates_never_raise_and_are_located(text):
    assert_located(text)


def test_control_characters_are_located():
    assert_located("cluster:\n  name: a\x00b\n")
