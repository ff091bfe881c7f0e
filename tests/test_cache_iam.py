"""Who may reach the binary cache on a ParallelCluster cluster (issue 15), and where the cache lives.

- The head node (install: shared: the only node that installs) gets pctl's managed policy under
  HeadNode/Iam/AdditionalIamPolicies: the cache's objects, a listing of its prefix, the signing key's secret.
  Compute nodes get nothing of the cache.
- The policy is checked with moto's own IAM policy evaluator (moto has no SimulatePrincipalPolicy), and the
  rendered config with the policy passes ParallelCluster's validators under moto (tier 2), which really
  look it up (the control: a policy that does not exist is an ERROR).
- ``software.binary_cache``: true (pctl's bucket), false (off), s3://BUCKET (the user's bucket).

AWS is moto in-process (tests/fixtures/aws.py).
"""

from __future__ import annotations

import json

import pytest
import yaml

from pctl import library
from pctl.cache.access import (
    CLUSTER_POLICY_PATH,
    cluster_policy_name,
    ensure_cluster_policy,
)
from pctl.cache.location import cache_bucket_for, user_bucket
from pctl.render import RenderOptions, render
from pctl.validation import validate_file, validate_text

BUCKET = "pctl-123456789012-us-east-1"
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pctl/spack-cache/signing-key-AbC"
TAGS = {"pctl:cluster": "starter", "pctl:owner": "me"}


def starter(**software):
    t = validate_file(library.path_of("starter"))[1].template
    if software:
        t = t.model_copy(update={"software": t.software.model_copy(update=software)})
    return t


def config(template, **options):
    opts = RenderOptions(scripts_s3_prefix=f"s3://{BUCKET}/pctl/starter/scripts", **options)
    rendered = render(template, opts)
    return yaml.safe_load(rendered.files["cluster-config.yaml"]), rendered


def cache_entries(node):
    return [a for a in node["Iam"]["S3Access"] if a.get("KeyName", "").startswith("spack-cache")]


# ---- rendering: the head node only ------------------------------------------------------------------

def test_with_pctls_policy_only_the_head_node_reaches_the_cache():
    arn = f"arn:aws:iam::123456789012:policy{CLUSTER_POLICY_PATH}{cluster_policy_name('starter')}"
    cfg, rendered = config(starter(), cache_policy_arn=arn)
    head = cfg["HeadNode"]["Iam"]
    assert head["AdditionalIamPolicies"] == [{"Policy": arn}]
    assert cache_entries(cfg["HeadNode"]) == []  # the policy covers it: objects, listing, key
    for q in cfg["Scheduling"]["SlurmQueues"]:
        assert cache_entries(q) == [] and "AdditionalIamPolicies" not in q["Iam"]
        assert [(a.get("KeyName"), a["EnableWriteAccess"]) for a in q["Iam"]["S3Access"]
                if a["BucketName"] == BUCKET] == [("pctl/starter/scripts/*", False)]
    spack_yaml = rendered.files["spack/spack.yaml"]
    assert f"s3://{BUCKET}/spack-cache/v" in spack_yaml


def test_loads_through_pclusters_cluster_schema():
    from pctl.pcluster_engine import schema_errors  # tier 1

    arn = f"arn:aws:iam::123456789012:policy{CLUSTER_POLICY_PATH}pctl-starter-spack-cache"
    _cfg, rendered = config(starter(), cache_policy_arn=arn)
    assert schema_errors(rendered.files["cluster-config.yaml"], "starter") is None
    bad = rendered.files["cluster-config.yaml"].replace("- Policy:", "- PolicyArn:")  # the control
    assert "AdditionalIamPolicies" in json.dumps(schema_errors(bad, "starter"))


def test_a_plain_render_gives_the_head_node_the_prefix_and_says_what_is_missing():
    cfg, rendered = config(starter())
    assert [(a["KeyName"], a["EnableWriteAccess"]) for a in cache_entries(cfg["HeadNode"])] == [("spack-cache/*", True)]
    assert "AdditionalIamPolicies" not in cfg["HeadNode"]["Iam"]
    assert "pctl-NAME-spack-cache" in rendered.files["cluster-config.yaml"]  # the comment says why
    for q in cfg["Scheduling"]["SlurmQueues"]:
        assert cache_entries(q) == []


def test_binary_cache_false_turns_it_off_everywhere():
    arn = "arn:aws:iam::123456789012:policy/parallelcluster/pctl/pctl-starter-spack-cache"
    cfg, rendered = config(starter(binary_cache=False), cache_policy_arn=arn)
    assert "AdditionalIamPolicies" not in cfg["HeadNode"]["Iam"] and cache_entries(cfg["HeadNode"]) == []
    assert "spack-cache" not in rendered.files["spack/spack.yaml"]
    assert "CACHE_URL=${PCTL_CACHE_URL:-''}" in rendered.files["scripts/spack-install.sh"]


def test_a_named_bucket_holds_the_cache():
    cfg, rendered = config(starter(binary_cache="s3://lab-spack-cache"))
    assert [a["BucketName"] for a in cache_entries(cfg["HeadNode"])] == ["lab-spack-cache"]
    assert "s3://lab-spack-cache/spack-cache/v" in rendered.files["spack/spack.yaml"]
    assert cache_bucket_for(True, BUCKET) == BUCKET
    assert cache_bucket_for(False, BUCKET) is None
    assert cache_bucket_for("s3://lab-spack-cache/", BUCKET) == "lab-spack-cache"


def test_install_ami_gives_the_head_node_no_cache_access():
    arn = "arn:aws:iam::123456789012:policy/parallelcluster/pctl/pctl-starter-spack-cache"
    from pctl.model.template import InstallMode

    cfg, _ = config(starter(install=InstallMode.ami), cache_policy_arn=arn, custom_ami="ami-0123456789abcdef0")
    assert "AdditionalIamPolicies" not in cfg["HeadNode"]["Iam"] and cache_entries(cfg["HeadNode"]) == []


@pytest.mark.parametrize("arn", ["arn:aws:iam::123:policy/x", "arn:aws:iam::123456789012:policy/x\n",
                                 "arn:aws:iam::123456789012:policy/x;rm -rf /", "arn:aws:s3:::bucket"])
def test_a_malformed_policy_arn_never_reaches_the_config(arn):
    from pctl.errors import ConfigError

    with pytest.raises(ConfigError, match="not an IAM policy ARN"):
        RenderOptions(cache_policy_arn=arn).check()


# ---- the template field -------------------------------------------------------------------------

BASE = """\
cluster: {name: lab, region: us-east-1}
compute:
  head_node: t3.medium
  queues: [{name: cpu, instance_types: [c6i.large]}]
software:
  spack_packages: [zlib]
  binary_cache: VALUE
"""


@pytest.mark.parametrize("value, message", [
    ("s3://Lab_Cache", "may contain only lowercase"),
    ("s3://lab-cache/some/prefix", "not a key prefix"),
    ("lab-cache", "must be s3://BUCKET"),
    ('"s3://lab-cache\\n"', "binary_cache"),  # a real trailing newline (YAML's double-quoted escape)
])
def test_a_bad_binary_cache_names_the_field_and_line(value, message):
    report = validate_text(BASE.replace("VALUE", value), "lab.yaml")[0]
    text = report.render()
    assert "lab.yaml:7:" in text and "software.binary_cache" in text and message in text, text
    assert "hint:" in text and report.errors


@pytest.mark.parametrize("value", ["true", "false", "s3://lab-spack-cache", "s3://lab-spack-cache/"])
def test_good_binary_cache_values_pass(value):
    report = validate_text(BASE.replace("VALUE", value), "lab.yaml")[0]
    assert not report.errors, report.render()


def test_user_bucket_refuses_what_is_not_one_bucket():
    assert user_bucket("s3://lab-spack-cache") == "lab-spack-cache"
    for bad in ("s3://", "s3://ab", "s3://a..b", "s3://lab cache", "https://lab-cache"):
        with pytest.raises(ValueError):
            user_bucket(bad)


# ---- the managed policy in IAM --------------------------------------------------------------------

def test_the_policy_is_made_once_under_parallelclusters_path_and_kept_up_to_date(aws):
    iam = aws.client("iam")
    arn = ensure_cluster_policy(aws, "starter", BUCKET, SECRET, TAGS)
    assert arn == "arn:aws:iam::123456789012:policy/parallelcluster/pctl/pctl-starter-spack-cache"
    policy = iam.get_policy(PolicyArn=arn)["Policy"]
    assert policy["Path"] == "/parallelcluster/pctl/"
    assert {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=arn)["Tags"]} == TAGS
    assert ensure_cluster_policy(aws, "starter", BUCKET, SECRET, TAGS) == arn
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 1  # same document: no new version
    ensure_cluster_policy(aws, "starter", "lab-spack-cache", SECRET, TAGS)
    versions = iam.list_policy_versions(PolicyArn=arn)["Versions"]
    default = [v for v in versions if v["IsDefaultVersion"]][0]["VersionId"]
    doc = iam.get_policy_version(PolicyArn=arn, VersionId=default)["PolicyVersion"]["Document"]
    assert "lab-spack-cache" in json.dumps(doc) and BUCKET not in json.dumps(doc)
    for _ in range(6):  # IAM keeps at most five versions: the oldest non-default goes first
        ensure_cluster_policy(aws, "starter", BUCKET if _ % 2 else "lab-spack-cache", SECRET, TAGS)
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) <= 5


def test_the_policy_grants_the_cache_prefix_listing_and_key_and_nothing_else(aws):
    # moto's own IAM policy evaluator on the document IAM holds
    from moto.iam.access_control import IAMPolicy, PermissionResult

    iam = aws.client("iam")
    arn = ensure_cluster_policy(aws, "starter", BUCKET, SECRET, TAGS)
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    policy = IAMPolicy(json.dumps(document) if not isinstance(document, str) else document)
    from pctl.cache.access import cache_policy

    assert document == cache_policy(BUCKET, SECRET)  # what bake and warm builders get inline, too

    def allowed(action, resource):
        return policy.is_action_permitted(action, resource) == PermissionResult.PERMITTED

    assert allowed("s3:PutObject", f"arn:aws:s3:::{BUCKET}/spack-cache/v0.23.1/build_cache/x.spack")
    assert allowed("s3:GetObject", f"arn:aws:s3:::{BUCKET}/spack-cache/v0.23.1/build_cache/index.json")
    assert allowed("secretsmanager:GetSecretValue", SECRET)
    assert not allowed("s3:PutObject", f"arn:aws:s3:::{BUCKET}/pctl/starter/scripts/head-node.sh")
    assert not allowed("s3:GetObject", f"arn:aws:s3:::{BUCKET}/pctl/other/scripts/head-node.sh")
    assert not allowed("s3:DeleteObject", f"arn:aws:s3:::{BUCKET}/spack-cache/v0.23.1/build_cache/index.json")
    assert not allowed("s3:PutObject", "arn:aws:s3:::someone-elses-bucket/spack-cache/x")
    assert not allowed("secretsmanager:GetSecretValue", SECRET.replace("signing-key", "db-password"))
    # moto's evaluator checks only StringEquals conditions, so the listing's StringLike is asserted as written
    listing = [s for s in document["Statement"] if "s3:ListBucket" in s["Action"]]
    assert listing == [{"Sid": "CacheList", "Effect": "Allow", "Action": ["s3:ListBucket"],
                        "Resource": f"arn:aws:s3:::{BUCKET}",
                        "Condition": {"StringLike": {"s3:prefix": ["spack-cache/*"]}}}]


def test_teardown_detaches_and_deletes_it_and_from_tags_finds_it(aws):
    from pctl.aws.network import delete_resources
    from pctl.aws.ownership import owners
    from pctl.aws.resource import Resource
    from pctl.aws.tagged import find_tagged

    iam = aws.client("iam")
    arn = ensure_cluster_policy(aws, "starter", BUCKET, SECRET, TAGS)
    ensure_cluster_policy(aws, "starter", "lab-spack-cache", SECRET, TAGS)  # a second version
    iam.create_role(RoleName="leftover-head-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))
    iam.attach_role_policy(RoleName="leftover-head-role", PolicyArn=arn)
    res = Resource("iam_policy", arn, "us-east-1")
    assert owners(aws, [res]) == {res: "me"}
    found = find_tagged(aws, "starter", "me")
    assert res in found.ours
    assert find_tagged(aws, "starter", "someone-else").theirs == {res: "me"}
    assert delete_resources(aws, [res], owner="me", poll_s=0) == [res]
    assert iam.list_policies(Scope="Local")["Policies"] == []
    assert iam.list_attached_role_policies(RoleName="leftover-head-role")["AttachedPolicies"] == []
    assert delete_resources(aws, [res], owner="me", poll_s=0) == []  # gone already: a no-op


# ---- tier 2: ParallelCluster's validators look the policy up ----------------------------------------

def _tier2(world, arn):
    from pctl import pcluster_engine as engine
    from pctl.aws.bucket import ensure_bucket, upload_texts

    ensure_bucket(world.session, BUCKET, "us-east-1", tls_only=False)
    t = starter()
    rendered = render(t, RenderOptions(
        subnet_id=world.subnet_id, compute_subnet_id=world.private_subnet_id, key_name=world.key_name,
        scripts_s3_prefix=f"s3://{BUCKET}/pctl/starter/scripts", cache_policy_arn=arn))
    for rel, url in rendered.script_urls.items():
        upload_texts(world.session, BUCKET, "", {url.removeprefix(f"s3://{BUCKET}/"): rendered.files[rel]})
    return engine.validator_failures(rendered.config_text, "starter", "us-east-1")


def test_tier2_the_rendered_policy_passes_pclusters_validators(pcluster_world):
    arn = ensure_cluster_policy(pcluster_world.session, "starter", BUCKET, SECRET, TAGS)
    failures = _tier2(pcluster_world, arn)
    assert [f for f in failures if f[0] == "ERROR"] == []
    assert [f for f in failures if f[1] == "AdditionalIamPolicyValidator"] == []


def test_tier2_control_a_policy_that_does_not_exist_is_refused(pcluster_world):
    failures = _tier2(pcluster_world, "arn:aws:iam::123456789012:policy/parallelcluster/pctl/pctl-starter-spack-cache")
    assert ("ERROR", "AdditionalIamPolicyValidator") in {(f[0], f[1]) for f in failures}


def test_pcs_renders_the_cache_for_the_login_node_and_only_its_role_reaches_it(aws):
    """PCS has no cluster config: the login group's own role carries the cache (it installs); the compute
    node groups' role has nothing of it (moto in-process IAM)."""
    from pctl.cache.access import cache_policy
    from pctl.model.template import Platform
    from pctl.pcs import nodes

    t = starter()
    t = t.model_copy(update={"cluster": t.cluster.model_copy(update={"platform": Platform.pcs})})
    rendered = render(t, RenderOptions(scripts_s3_prefix=f"s3://{BUCKET}/pctl/starter/scripts"))
    assert f"s3://{BUCKET}/spack-cache/v" in rendered.files["spack/spack.yaml"]
    plan = json.loads(rendered.files["pcs/plan.json"])
    profiles = {r["params"]["computeNodeGroupName"]: r["params"]["iamInstanceProfileArn"]
                for r in plan["requests"] if r["operation"] == "create_compute_node_group"}
    assert profiles.pop("login") == "${instance_profile:login_arn}"
    assert set(profiles.values()) == {"${instance_profile:arn}"}

    iam = aws.client("iam")
    access = [nodes.BucketAccess(BUCKET, False, "pctl/starter/")]
    nodes.ensure_instance_profile(iam, "starter", access, {})
    nodes.ensure_instance_profile(iam, "starter", access, {}, login=True, cache_policy=cache_policy(BUCKET, SECRET))
    names = nodes.names("starter")
    assert iam.list_role_policies(RoleName=names["role"])["PolicyNames"] == ["pctl-pcs-node"]
    assert sorted(iam.list_role_policies(RoleName=names["login_role"])["PolicyNames"]) == [
        "pctl-pcs-node", "pctl-spack-cache"]
    nodes.ensure_instance_profile(iam, "starter", access, {}, login=True)  # binary_cache: false on a re-run
    assert iam.list_role_policies(RoleName=names["login_role"])["PolicyNames"] == ["pctl-pcs-node"]
    deleted = nodes.delete_node_resources(aws.client("ec2"), iam, "starter")
    assert {"role pctl-starter-nodes", "role pctl-starter-login"} <= set(deleted)
    assert iam.list_roles(PathPrefix="/aws-pcs/")["Roles"] == []
