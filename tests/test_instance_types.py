"""Instance type facts (AWS's DescribeInstanceTypes data via moto's dump), offerings, grouping and the checks.

Facts asserted here are AWS's published ones (e.g. g4dn.2xlarge: 8 vCPUs, 4 cores, 1 NVIDIA T4 GPU).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from pctl import instance_types as it
from pctl.compute_resources import plan_queue, split
from pctl.model.template import Queue
from pctl.validation import validate_text
from tests.conftest import REPO


@pytest.fixture(autouse=True)
def _no_live_cache(tmp_path, monkeypatch):
    """Every test starts without a live overlay (PCTL_HOME is a fresh directory)."""
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl-home"))
    it.forget_live()
    yield
    it.forget_live()


def template(queues: str, head: str = "t3.medium", region: str = "us-east-1") -> str:
    return textwrap.dedent(f"""\
        cluster: {{name: typed, region: {region}}}
        compute:
          head_node: {head}
          queues:
        """) + textwrap.indent(textwrap.dedent(queues), "    ")


def issues(text: str, code: str | None = None):
    report, _ = validate_text(text, "t.yaml")
    return [i for i in report.issues if code is None or i.code == code]


# ---- the table ---------------------------------------------------------------------------------------

def test_table_is_generated_from_moto_and_is_current():
    """scripts/gen_instance_types.py --check: the committed table is what the installed moto's data gives."""
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_instance_types.py"), "--check"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    from importlib.metadata import version

    assert it.table()["moto_version"] == version("moto") and it.table_date()[:2] == "20"
    assert len(it.all_names()) > 1000


def test_generator_writes_the_table_shape(tmp_path):
    target = tmp_path / "types.json"
    out = subprocess.run([sys.executable, str(REPO / "scripts" / "gen_instance_types.py"), "--output", str(target)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(target.read_text())
    assert data["fields"] == list(it.FIELDS)
    assert all(len(row) == len(it.FIELDS) for row in data["types"].values())
    assert set(data["regions"]["us-east-1"]["zones"]) >= {"a", "b", "c"}


@pytest.mark.parametrize(("name", "vcpus", "cores", "gpus", "maker", "efa", "arch"), [
    ("g4dn.2xlarge", 8, 4, 1, "NVIDIA", False, "x86_64"),
    ("c5n.18xlarge", 72, 36, 0, None, True, "x86_64"),
    ("hpc7g.16xlarge", 64, 64, 0, None, True, "arm64"),
    ("p4d.24xlarge", 96, 48, 8, "NVIDIA", True, "x86_64"),
    ("t4g.medium", 2, 2, 0, None, False, "arm64"),
])
def test_facts_match_aws(name, vcpus, cores, gpus, maker, efa, arch):
    f = it.facts(name)
    assert (f.vcpus, f.cores, f.gpus, f.gpu_maker, f.efa, f.arch) == (vcpus, cores, gpus, maker, efa, arch)


def test_old_helpers_keep_working():
    assert it.vcpus("c6i.2xlarge") == 8 and it.architecture("c7g.large") == "arm64"
    assert it.architecture("not-a-type") is None and it.architecture("c9g.large") == "arm64"  # naming rule
    d = it.info("t3.medium")
    assert d["memory_gib"] == 4.0 and d["price_usd_hour"] == 0.0416 and d["arch"] == "x86_64"
    assert it.info("c6i.2xlarg") is None
    assert all(f["price_usd_hour"] is not None for f in it.types().values())  # types(): the priced ones


def test_offerings_by_region_and_zone():
    assert it.offered_in("c6i.2xlarge", "us-east-1") is True
    assert it.offered_in("hpc7a.96xlarge", "us-east-1") is False  # hpc7a: us-east-2, eu-north-1, ...
    assert "us-east-2" in it.regions_offering("hpc7a.96xlarge")
    assert it.offered_in("c6i.2xlarge", "xx-nowhere-1") is None
    zones = it.zones("hpc7a.96xlarge", "us-east-2")
    assert zones and all(z.startswith("us-east-2") for z in zones)
    assert set(it.common_zones(["hpc7a.96xlarge", "c6i.2xlarge"], "us-east-2")) == set(zones)


@pytest.mark.parametrize(("typo", "meant"), [("c6i.2xlarg", "c6i.2xlarge"), ("m5.xlarg", "m5.xlarge"),
                                              ("g4dn.2xlage", "g4dn.2xlarge"), ("C6I.2XLARGE", "c6i.2xlarge")])
def test_did_you_mean(typo, meant):
    assert it.suggestions(typo)[0] == meant


# ---- the live answer ---------------------------------------------------------------------------------

def test_live_answer_from_aws_is_kept_and_read_offline(aws, tmp_path):
    """refresh_from_aws against moto's EC2 (DescribeInstanceTypes, DescribeInstanceTypeOfferings)."""
    answer = it.refresh_from_aws(aws, ["c6i.2xlarge", "c6i.2xlarg"], "us-east-1")
    assert answer == {"c6i.2xlarge": True, "c6i.2xlarg": False}
    saved = json.loads(it.live_cache_path().read_text())
    assert saved["regions"]["us-east-1"]["c6i.2xlarg"] == []
    assert saved["types"]["c6i.2xlarge"][:2] == [8, 4]


def test_live_answer_wins_over_the_table():
    """A type launched after the table was made: AWS's answer (DescribeInstanceTypes items as AWS returns
    them; moto cannot invent a new type, so the items are written here) makes it known, offline too."""
    text = template("- {name: q, instance_types: [c9i.2xlarge]}")
    assert issues(text, "KnownInstanceType")
    item = {"InstanceType": "c9i.2xlarge", "VCpuInfo": {"DefaultVCpus": 8, "DefaultCores": 4, "DefaultThreadsPerCore": 2},
            "MemoryInfo": {"SizeInMiB": 16384}, "ProcessorInfo": {"SupportedArchitectures": ["x86_64"]},
            "NetworkInfo": {"EfaSupported": False, "NetworkCards": [{}]}, "SupportedUsageClasses": ["on-demand", "spot"],
            "PlacementGroupInfo": {"SupportedStrategies": ["cluster"]}}
    it.store_live("us-east-1", ["c9i.2xlarge", "c6i.2xlarge"], [item],
                  [{"InstanceType": "c9i.2xlarge", "Location": "us-east-1a"}])
    it.forget_live()  # a later process: read back from $PCTL_HOME/cache
    assert it.vcpus("c9i.2xlarge") == 8
    assert issues(text, "KnownInstanceType") == [] and issues(text, "InstanceTypeOffered") == []
    # ...and the live "not offered" for c6i.2xlarge in us-east-1 wins over the table's "offered"
    assert it.offered_in("c6i.2xlarge", "us-east-1") is False


# ---- validation ----------------------------------------------------------------------------------------

def test_unknown_types_are_located_errors_with_did_you_mean():
    found = issues(template("- {name: q, instance_types: [c6i.2xlarg]}", head="t3.mediun"), "KnownInstanceType")
    assert [(i.field, i.level.value) for i in found] == [("compute.head_node", "error"),
                                                         ("compute.queues[0].instance_types[0]", "error")]
    assert "t3.medium" in found[0].hint and "c6i.2xlarge" in found[1].hint
    assert all(i.line for i in found)


def test_type_not_offered_in_region_is_an_error():
    (e,) = issues(template("- {name: mpi, instance_types: [hpc7a.96xlarge], efa: true}"), "InstanceTypeOffered")
    assert e.field == "compute.queues[0].instance_types[0]" and "us-east-2" in e.hint
    assert issues(template("- {name: mpi, instance_types: [hpc7a.96xlarge], efa: true}", region="us-east-2")) == []


def test_efa_on_a_type_without_efa_is_an_error():
    (e,) = issues(template("- {name: q, instance_types: [c5n.18xlarge, c6i.2xlarge], efa: true, max_count: 4}"),
                  "EfaSupport")
    assert e.field == "compute.queues[0].instance_types[1]" and "c6i.2xlarge does not support EFA" in e.message


def test_spot_needs_a_type_sold_as_spot():
    no_spot = next(n for n in it.region_types("us-east-1")
                   if "s" not in it.facts(n).usage and not it.facts(n).arch.endswith("_mac"))
    (e,) = issues(template(f"- {{name: q, instance_types: [{no_spot}], capacity_type: spot}}"), "CapacityTypeSupport")
    assert "spot" in e.message


# ---- grouping and the max_count split ------------------------------------------------------------------

def q(types, max_count=10, min_count=0, ht_off=False):
    return Queue(name="q", instance_types=types, max_count=max_count, min_count=min_count,
                 disable_hyperthreading=ht_off)


def test_split_sums_to_the_total():
    assert split(10, 3) == [4, 3, 3] and split(7, 7) == [1] * 7 and sum(split(101, 6)) == 101


def test_same_vcpus_different_gpus_are_two_resources_sharing_max_count():
    """Issue 10: m6i.2xlarge + g4dn.2xlarge (8 vCPUs each, 0 vs 1 GPU) must not be one flexible resource."""
    plan = plan_queue(q(["m6i.2xlarge", "g4dn.2xlarge"], max_count=10, min_count=3))
    assert [(cr.instance_types, cr.min_count, cr.max_count) for cr in plan] == [
        (("m6i.2xlarge",), 3, 5), (("g4dn.2xlarge",), 0, 5)]


@pytest.mark.parametrize(("types", "ht_off", "groups"), [
    (["c6i.4xlarge", "c6a.4xlarge", "c7i.4xlarge"], False, 1),  # 16 vCPUs, no GPU, no EFA, x86
    (["c6i.4xlarge", "c7g.4xlarge"], False, 2),  # same vCPUs, x86_64 vs arm64
    (["c5n.18xlarge", "c5.18xlarge"], False, 2),  # 72 vCPUs each, EFA vs none
    (["c6i.8xlarge", "c6a.8xlarge"], True, 1),  # 16 cores each
    (["c6i.8xlarge", "c7g.8xlarge"], True, 2),  # arm64 vs x86_64
    (["r6i.4xlarge", "m6i.4xlarge"], False, 1),  # memory differs: pcluster allows it
])
def test_grouping_follows_pclusters_flexible_rules(types, ht_off, groups):
    plan = plan_queue(q(types, ht_off=ht_off))
    assert len(plan) == groups
    assert sum(cr.max_count for cr in plan) == 10


def test_hyperthreading_off_groups_by_cores():
    a, b = "m7a.4xlarge", "m7i.8xlarge"  # m7a: 16 vCPUs = 16 cores (no SMT); m7i.8xlarge: 32 vCPUs, 16 cores
    fa, fb = it.facts(a), it.facts(b)
    assert fa.cores == fb.cores and fa.vcpus != fb.vcpus
    assert len(plan_queue(q([a, b], ht_off=True))) == 1 and len(plan_queue(q([a, b]))) == 2


def test_split_is_a_warning_that_says_how_and_too_small_max_count_is_an_error():
    text = template("- {name: mix, instance_types: [c6i.2xlarge, c6i.4xlarge, c6i.8xlarge], max_count: 10, min_count: 1}")
    (w,) = issues(text, "QueueSplit")
    assert w.level.value == "warning" and "c6i.2xlarge: 4 (min 1), c6i.4xlarge: 3, c6i.8xlarge: 3" in w.message
    (e,) = issues(text.replace("max_count: 10, min_count: 1", "max_count: 2"), "QueueSplit")
    assert e.level.value == "error" and e.field == "compute.queues[0].max_count" and "at least 3" in e.hint


def test_library_templates_pass_the_type_checks():
    from pctl import library
    from pctl.validation import validate_file

    for name in library.names():
        report, _ = validate_file(library.path_of(name))
        assert report.errors == [], report.render()


def test_head_node_needs_memory_for_the_compute_nodes_it_manages():
    """pcluster HeadNodeMemorySizeValidator: min(nodes / 25 + 0.6, 16) GB."""
    (e,) = issues(template("- {name: q, instance_types: [c6i.large], max_count: 36}", head="c1.medium"), "HeadNodeMemory")
    assert e.field == "compute.head_node" and "2.04 GiB" in e.message and "36 compute nodes" in e.message
    assert issues(template("- {name: q, instance_types: [c6i.large], max_count: 20}", head="c1.medium"),
                  "HeadNodeMemory") == []


def test_online_issues_use_the_live_answer(aws):
    """The online path: AWS (moto's EC2) is asked, its answer kept, and the checks re-run on it."""
    from pctl.model.loader import load_text
    from pctl.validation.instance_rules import online_issues

    loaded = load_text(template("- {name: q, instance_types: [c6i.2xlarge, hpc7a.96xlarge]}"), "t.yaml")
    found = online_issues(aws, loaded.template)
    assert [(i.code, i.field) for i in found if i.level.value == "error"] == [
        ("InstanceTypeOffered", "compute.queues[0].instance_types[1]")]
    saved = json.loads(it.live_cache_path().read_text())
    assert set(saved["regions"]["us-east-1"]) == {"t3.medium", "c6i.2xlarge", "hpc7a.96xlarge"}
