"""The account's Spack binary cache (pctl.cache): key, index listing and pruning, IAM scope, rendering, warm.

AWS is moto in-process (S3, Secrets Manager, IAM, EC2). In the warm test the builder's user data is a
stand-in (a thread writes its completion marker): no EC2 instance runs here. The real Spack side (push,
reuse, signatures) is tests/tier3/test_cache_spack.py.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import threading
import time

import pytest
from click.testing import CliRunner

from pctl.cache import index, location
from pctl.cache.keys import SigningKey, ensure_signing_key, load_signing_key
from pctl.errors import PctlError

BUCKET = "pctl-123456789012-us-east-1"
PREFIX = "spack-cache/v0.23.1/build_cache"


def spec(name, version, h, deps=(), os_="debian12", target="x86_64_v3", in_cache=True):
    return h, {"spec": {"name": name, "version": version, "hash": h,
                        "arch": {"platform": "linux", "platform_os": os_, "target": target},
                        "compiler": {"name": "gcc", "version": "12.2.0"},
                        "dependencies": [{"name": d, "hash": d + "h" * (32 - len(d)), "parameters": {}} for d in deps]},
               "in_buildcache": in_cache}


def hid(name):
    return name + "h" * (32 - len(name))


def put_cache(s3, specs, version="0.23.1"):
    installs = dict(spec(n, v, hid(n), deps, **kw) for n, v, deps, kw in specs)
    body = json.dumps({"database": {"version": "7", "installs": installs}}).encode()
    prefix = f"spack-cache/v{version}/build_cache"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/index.json", Body=body)
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/index.json.hash", Body=hashlib.sha256(body).hexdigest().encode())
    for n, v, _deps, kw in specs:
        if kw.get("in_cache", True):
            e = index.CacheEntry(version, n, v, hid(n), kw.get("os_", "debian12"), kw.get("target", "x86_64_v3"),
                                 "gcc@12.2.0")
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{e.stem}.spec.json.sig", Body=b"signed")
            s3.put_object(Bucket=BUCKET, Key=f"{prefix}/linux-{e.os}-{e.target}/gcc-12.2.0/{n}-{v}/{e.stem}.spack",
                          Body=b"tarball")


SPECS = [("zlib", "1.3.1", ("gmake", "glibc"), {}), ("gmake", "4.4.1", ("glibc",), {}),
         ("glibc", "2.36", (), {"in_cache": False}), ("samtools", "1.19", ("zlib",), {}),
         ("oldpkg", "0.1", ("gmake",), {}), ("zlib", "1.3.1", (), {"target": "zen3"})]


@pytest.fixture
def world(aws):
    aws.client("s3").create_bucket(Bucket=BUCKET)
    return aws


def keys_of(s3):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


# ---- the signing key ---------------------------------------------------------------------------

def test_signing_key_made_once_and_kept_in_secrets_manager(aws):
    assert load_signing_key(aws) is None
    key, arn = ensure_signing_key(aws)
    again, arn2 = ensure_signing_key(aws)
    assert again == key and arn2 == arn and ":secretsmanager:" in arn
    assert len(key.fingerprint) == 40 and "BEGIN PGP PUBLIC KEY BLOCK" in key.public
    assert "BEGIN PGP PRIVATE KEY BLOCK" in key.private
    secret = json.loads(aws.client("secretsmanager").get_secret_value(SecretId=location.SECRET_NAME)["SecretString"])
    assert secret["fingerprint"] == key.fingerprint


def test_signing_key_signs_and_another_key_does_not_verify(tmp_path):
    from pctl.cache.keys import generate_key

    ours, theirs = generate_key(), generate_key("other <o@example.invalid>")
    home = tmp_path / "g"
    home.mkdir(mode=0o700)
    gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    subprocess.run([*gpg, "--import"], input=theirs.private, text=True, check=True, capture_output=True)
    signed = subprocess.run([*gpg, "--clearsign", "-u", theirs.fingerprint], input="{}", text=True, check=True,
                            capture_output=True).stdout
    verify_home = tmp_path / "v"
    verify_home.mkdir(mode=0o700)
    vgpg = ["gpg", "--homedir", str(verify_home), "--batch"]
    subprocess.run([*vgpg, "--import"], input=ours.public, text=True, check=True, capture_output=True)
    assert subprocess.run([*vgpg, "--verify"], input=signed, text=True, capture_output=True).returncode != 0
    from pctl.cache.keys import stop_agent

    for h in (home, verify_home):
        stop_agent(h)


def test_a_secret_that_is_not_a_key_is_a_clear_error():
    with pytest.raises(PctlError, match="not pctl's JSON"):
        SigningKey.from_secret("hello")
    with pytest.raises(PctlError, match="does not hold a GPG key"):
        SigningKey.from_secret(json.dumps({"fingerprint": "x", "public": "y"}))


# ---- list and prune ----------------------------------------------------------------------------

def test_list_groups_by_os_target_compiler_and_spack_version(world):
    s3 = world.client("s3")
    put_cache(s3, SPECS[:5])
    put_cache(s3, [("zlib", "1.3.1", (), {"target": "zen3"})], version="0.22.2")
    rows = index.summary(index.list_entries(s3, BUCKET))
    assert [(r["os"], r["target"], r["compiler"], r["spack_version"], r["count"]) for r in rows] == [
        ("debian12", "x86_64_v3", "gcc@12.2.0", "0.23.1", 4), ("debian12", "zen3", "gcc@12.2.0", "0.22.2", 1)]
    assert rows[0]["packages"] == ["gmake@4.4.1", "oldpkg@0.1", "samtools@1.19", "zlib@1.3.1"]  # glibc: external


def test_empty_cache_lists_nothing(world):
    assert index.list_entries(world.client("s3"), BUCKET) == []


def test_prune_keeps_named_packages_and_their_dependencies(world):
    s3 = world.client("s3")
    put_cache(s3, SPECS[:5])
    entries = index.list_entries(s3, BUCKET)
    remove = index.prune_plan(entries, {"zlib"})
    assert sorted(e.name for e in remove) == ["oldpkg", "samtools"]  # gmake stays: zlib needs it
    before = keys_of(s3)
    n = index.prune(s3, BUCKET, remove)
    after = keys_of(s3)
    assert n == 6 and len(before) - len(after) == 4  # spec + tarball each (no plain .spec.json was there)
    assert not [k for k in after if "samtools" in k or "oldpkg" in k]
    body = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/index.json")["Body"].read()
    assert s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/index.json.hash")["Body"].read().decode() == \
        hashlib.sha256(body).hexdigest()
    assert sorted(e.name for e in index.list_entries(s3, BUCKET)) == ["gmake", "zlib"]


def test_cli_list_and_prune_ask_first(world, monkeypatch):
    from pctl.cache import names
    from pctl.cli import cli as main

    s3 = world.client("s3")
    put_cache(s3, SPECS[:5])
    monkeypatch.setattr(names, "named_packages", lambda **_: names.Named(packages={"lmod", "zlib", "samtools"}))
    runner = CliRunner()
    listed = runner.invoke(main, ["cache", "list", "--region", "us-east-1", "--bucket", BUCKET, "--json"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["groups"][0]["count"] == 4
    refused = runner.invoke(main, ["cache", "prune", "--region", "us-east-1", "--bucket", BUCKET], input="n\n")
    assert refused.exit_code == 1 and "oldpkg@0.1" in refused.output
    assert any("oldpkg" in k for k in keys_of(s3))
    done = runner.invoke(main, ["cache", "prune", "--region", "us-east-1", "--bucket", BUCKET], input="y\n")
    assert done.exit_code == 0, done.output
    assert not any("oldpkg" in k for k in keys_of(s3))


def test_prune_refuses_when_a_template_cannot_be_read(world, monkeypatch, capsys):
    from pctl.cache import names
    from pctl.cli import main

    monkeypatch.setattr(names, "named_packages",
                        lambda **_: names.Named(problems=["state:broken: state file is unreadable"]))
    with pytest.raises(SystemExit) as exit_:
        main(["cache", "prune", "--region", "us-east-1", "--bucket", BUCKET, "--yes"])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "nothing is pruned" in err and "Traceback" not in err


def test_named_packages_reads_the_library_and_states():
    from pctl.cache.names import named_packages

    named = named_packages(registry=False)
    assert not named.problems
    assert {"lmod", "openmpi", "hdf5", "samtools"} <= named.packages


# ---- IAM: write on the cache prefix, nothing else of the bucket -----------------------------------

# (what each node of a ParallelCluster cluster may reach: tests/test_cache_iam.py)


def test_pcs_node_policy_writes_only_the_cache_prefix():
    from pctl.pcs.nodes import node_policy

    policy = node_policy([location.bucket_access(BUCKET)])
    writes = [s for s in policy["Statement"] if "s3:PutObject" in s["Action"]]
    assert writes and all(s["Resource"] in (f"arn:aws:s3:::{BUCKET}/spack-cache/*", [f"arn:aws:s3:::{BUCKET}/spack-cache/*"])
                          for s in writes)
    every = json.dumps(policy)
    assert f"arn:aws:s3:::{BUCKET}/*" not in every


# (the builder's inline policy is the same document as the head node's: tests/test_cache_iam.py evaluates it)


# ---- rendering: the account cache first, reuse, the signing key -----------------------------------

def test_spack_yaml_lists_the_account_cache_before_the_public_one_and_reuses():
    import yaml

    from pctl import library
    from pctl.render import RenderOptions, render
    from pctl.validation import validate_file

    t = validate_file(library.path_of("starter"))[1].template
    r = render(t, RenderOptions(scripts_s3_prefix=f"s3://{BUCKET}/starter/scripts"))
    env = yaml.safe_load(r.files["spack/spack.yaml"])["spack"]
    assert list(env["mirrors"]) == ["pctl-account", f"spack-v{t.software.spack_version}"]
    assert env["mirrors"]["pctl-account"] == {"url": f"s3://{BUCKET}/spack-cache/v{t.software.spack_version}",
                                              "signed": True}
    assert env["concretizer"]["reuse"] is True
    script = r.files["scripts/spack-install.sh"]
    assert location.SECRET_NAME in script and "buildcache push" in script and "--key" in script
    # no key from a mirror's _pgp/ folder is trusted: only the public mirror's, by URL
    assert "buildcache keys" not in script
    # without pctl's bucket there is no account cache
    plain = yaml.safe_load(render(t).files["spack/spack.yaml"])["spack"]
    assert list(plain["mirrors"]) == [f"spack-v{t.software.spack_version}"]


def test_scripts_with_the_cache_pass_shellcheck(tmp_path, shellcheck_bin):
    from pctl import library
    from pctl.render import RenderOptions, ami_software_script, render
    from pctl.validation import validate_file

    t = validate_file(library.path_of("bioinformatics"))[1].template
    r = render(t, RenderOptions(scripts_s3_prefix=f"s3://{BUCKET}/bio/scripts"))
    paths = []
    for name, text in {**{k: v for k, v in r.files.items() if k.endswith(".sh")},
                       "ami.sh": ami_software_script(t, cache_bucket=BUCKET)}.items():
        p = tmp_path / name.replace("/", "_")
        p.write_text(text)
        paths.append(str(p))
    check = subprocess.run([shellcheck_bin, "--severity=style", *paths], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_bad_bucket_or_version_never_reaches_a_script():
    with pytest.raises(ValueError):
        location.cache_url("bad bucket; rm -rf /", "0.23.1")
    with pytest.raises(ValueError):
        location.version_prefix("0.23.1/../../x")


# ---- warm: the bake's builder, always terminated ----------------------------------------------------

def _template():
    from pctl import library
    from pctl.validation import validate_file

    return validate_file(library.path_of("starter"))[1].template


def _play(session, outcome):
    ec2, s3 = session.client("ec2"), session.client("s3")

    def run():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            res = ec2.describe_instances(Filters=[{"Name": "tag:pctl:role", "Values": ["cache-warm-builder"]},
                                                  {"Name": "instance-state-name", "Values": ["pending", "running"]}])
            if res["Reservations"]:
                keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="pctl-bakes/warm").get("Contents", [])]
                prefix = keys[0].rsplit("/", 1)[0]
                s3.put_object(Bucket=BUCKET, Key=f"{prefix}/{outcome}", Body=b"tail of the log\n")
                return
            time.sleep(0.05)

    th = threading.Thread(target=run, daemon=True)
    th.start()
    return th


@pytest.mark.parametrize("outcome", ["done", "failed"])
def test_warm_uses_the_bake_builder_and_always_cleans_up(world, outcome):
    from pctl.cache.warm import warm
    from tests.fixtures.aws import pcluster_version

    th = _play(world, outcome)
    created = []
    kwargs = dict(bucket=BUCKET, pcluster_version=pcluster_version(), timeout_s=20, poll_s=0.05,
                  log=lambda _m: None, on_created=created.append, profile_wait_s=1)
    if outcome == "done":
        result = warm(world, _template(), **kwargs)
        assert result["builder"].startswith("i-")
    else:
        with pytest.raises(PctlError, match="cache builder failed"):
            warm(world, _template(), **kwargs)
    th.join(5)
    ec2 = world.client("ec2")
    states = [i["State"]["Name"] for r in ec2.describe_instances(
        Filters=[{"Name": "tag:pctl:role", "Values": ["cache-warm-builder"]}])["Reservations"] for i in r["Instances"]]
    assert states == ["terminated"]
    assert world.client("iam").list_roles(PathPrefix="/pctl/")["Roles"] == []  # role deleted
    assert not [k for k in keys_of(world.client("s3")) if k.startswith("pctl-bakes/")]  # prefix cleaned
    assert {r.kind for r in created} >= {"instance", "iam_role"}
    assert ec2.describe_images(Owners=["self"])["Images"] == []  # warm makes no image


# ---- origins: what pctl verify says per package ------------------------------------------------------

def test_verify_says_per_package_whether_it_came_from_the_cache():
    from types import SimpleNamespace

    from pctl.cache.origins import annotate_report
    from pctl.verify import VerifyReport

    origins = {"packages": {"a" * 32: {"name": "samtools", "version": "1.19", "origin": "cache"},
                            "b" * 32: {"name": "bcftools", "version": "1.19", "origin": "built"},
                            "c" * 32: {"name": "zlib", "version": "1.3.1", "origin": "cache"},
                            "d" * 32: {"name": "slurm", "version": "23.11", "origin": "external"}}}

    class Node:  # stands in for the SSH session: the file the installer wrote on the head node
        def run(self, cmd, timeout):
            assert "origins.json" in cmd
            return SimpleNamespace(stdout=json.dumps(origins), ok=True)

    template = SimpleNamespace(spack_root="/shared/spack",
                               software=SimpleNamespace(spack_packages=["samtools@1.19", "bcftools@1.19"]))
    report = VerifyReport(target="head")
    report.add("software install", True, "install.done present after 0s")
    report.add("module samtools/1.19", True, "loads")
    report.add("module bcftools/1.19", True, "loads")
    annotate_report(Node(), template, report)
    details = {c.name: c.detail for c in report.checks}
    assert details["module samtools/1.19"] == "loads; from the binary cache"
    assert details["module bcftools/1.19"] == "loads; built on the cluster"
    assert details["software install"].endswith(
        "2 from the binary cache, 1 built on the cluster, 1 the OS's (external)")
    assert all(c.ok for c in report.checks)


def test_status_reads_the_origins_the_installer_put_in_s3(world):
    from pctl.cache.origins import fetch_status, status_key, status_row

    assert status_row(fetch_status(world, "us-east-1", "lab", bucket=BUCKET)).startswith("not recorded yet")
    origins = {"packages": {"a" * 32: {"name": "zlib", "version": "1.3.1", "origin": "cache"},
                            "b" * 32: {"name": "lz4", "version": "1.9.4", "origin": "built"}}}
    world.client("s3").put_object(Bucket=BUCKET, Key=status_key("lab"), Body=json.dumps(origins).encode())
    assert status_key("lab") == "spack-cache/status/lab/origins.json"
    assert status_row(fetch_status(world, "us-east-1", "lab", bucket=BUCKET)) == \
        "1 from the binary cache, 1 built on the cluster (built: lz4)"
