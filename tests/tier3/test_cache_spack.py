"""Tier 3: the account's Spack binary cache with the real Spack and pctl's real rendered installer.

Three "clusters", each with a fresh shared volume (a fresh Spack root), run pctl's rendered
`spack-install.sh` against one cache, an S3 bucket on the moto server (127.0.0.1, TLS; Spack's S3
mirror goes there through S3_ENDPOINT_URL, the signing key comes from moto's Secrets Manager):
- A installs a template (`spack install --fake`) and pushes what it built, signed with pctl's key;
- B, the same template: zero source builds, every package from the cache;
- C adds one package (lz4): only lz4 is built.
Then the key: a cache entry re-signed with another key, and one with no signature, are refused.

Where this runs: on this machine as root, not inside `scripts/nodes`. The nodes' Spack python has no
boto3 (Spack needs it for s3:// mirrors) and adding it would change H1's root filesystem; the installer
is the same rendered script. What is not real: `--fake` installs (the tier-3 knob; Spack pushes,
signs, verifies and extracts their prefixes exactly like real ones) and S3/Secrets Manager (moto).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.tier3, pytest.mark.slow, pytest.mark.timeout(2400)]

TEMPLATE = """\
cluster: {{name: {name}, region: us-east-1, os: ubuntu2204}}
compute:
  head_node: t3.medium
  queues:
    - {{name: compute, instance_types: [c6a.2xlarge], max_count: 2}}
software:
  spack_packages: {packages}
users:
  - {{name: alice, uid: 2001, gid: 2001}}
"""
BUCKET = "pctl-123456789012-us-east-1"
# Our own copy of the vendored Spack as a git repository (scripts/nodes may rebuild its cache under us).
SPACK_CACHE = Path(os.environ.get("PCTL_CACHE_TEST_DIR", "/var/cache/pctl/cache-test"))
NEW_PACKAGE = "lz4"  # C's one new package: not in A's tree, and its only dependency (gmake) is


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "the rendered installer runs as root"
    for tool in ("git", "gpg", "gcc", "g++", "make", "curl"):
        if not shutil.which(tool):
            return f"needs {tool}"
    if not Path("/usr/share/lmod/lmod/init/bash").exists():
        return "needs Debian's lmod (the installer's module check)"
    try:
        import boto3  # noqa: F401
        import clingo  # noqa: F401
    except ImportError as exc:
        return f"SPACK_PYTHON needs {exc.name} (pip install -e .[dev])"
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from nodes_lib import spack_source
    finally:
        sys.path.pop(0)
    if spack_source.tarball() is None:
        return "no vendored Spack tree (../shared/vendor/spack-*.tar.gz) and no network to clone upstream Spack"
    return None


def spack_repo() -> tuple[Path, str]:
    sys.path.insert(0, str(REPO / "scripts"))
    try:
        from nodes_lib import spack_source
    finally:
        sys.path.pop(0)
    found = spack_source.bare_repo(SPACK_CACHE)
    assert found is not None
    return found


@dataclass
class Install:
    root: Path
    seconds: float
    returncode: int
    output: str

    @property
    def origins(self) -> dict[str, dict]:
        return json.loads((self.root / ".pctl" / "origins.json").read_text())["packages"]

    def names(self, origin: str) -> set[str]:
        return {p["name"] for p in self.origins.values() if p["origin"] == origin}


def render_installer(packages: list[str], root: Path, name: str) -> tuple[str, str]:
    """(spack-install.sh, spack.yaml) rendered by pctl for this template, Spack root `root`."""
    from pctl.render.context import node_context
    from pctl.render.environment import render_template
    from pctl.validation import validate_text

    report, loaded = validate_text(TEMPLATE.format(name=name, packages=json.dumps(packages)), name)
    assert loaded.template is not None, report
    ctx = node_context(loaded.template, spack_root=str(root), cache_bucket=BUCKET)
    return render_template("scripts/spack-install.sh.j2", ctx), render_template("spack/spack.yaml.j2", ctx)


def run_install(packages: list[str], root: Path, env: dict[str, str], name: str = "cachetest") -> Install:
    """One cluster's software install: pctl's rendered installer in a fresh Spack root."""
    script, spack_yaml = render_installer(packages, root, name)
    env_dir = root / ".pctl" / "env"
    env_dir.mkdir(parents=True)
    (env_dir / "spack.yaml").write_text(spack_yaml)
    path = root.parent / f"{root.name}-install.sh"
    path.write_text(script)
    started = time.monotonic()
    proc = subprocess.run(["bash", str(path)], env=env, capture_output=True, text=True, timeout=1800)
    return Install(root, time.monotonic() - started, proc.returncode, proc.stdout + proc.stderr)


def node_env(endpoint: str, home: Path) -> dict[str, str]:
    """What a node has: the knobs (/etc/pctl/node.env on a node) and the AWS endpoint of this test."""
    repo, tag = spack_repo()
    keep = {k: v for k, v in os.environ.items() if k.startswith("AWS_") or k in ("PATH", "LANG")}
    return {**keep, "HOME": str(home), "PCTL_SPACK_GIT": f"file://{repo}", "PCTL_SPACK_REF": tag,
            "SPACK_PYTHON": sys.executable, "PCTL_SPACK_OFFLINE": "1", "PCTL_SPACK_INSTALL_ARGS": "--fake",
            "PCTL_CACHE_ENDPOINT_URL": endpoint, "AWS_ENDPOINT_URL": endpoint}


def prepare_account(endpoint: str):
    """The bucket and pctl's signing key in Secrets Manager (what `pctl create` makes in an account)."""
    import boto3

    from pctl.cache.keys import ensure_signing_key

    session = boto3.Session(region_name="us-east-1")
    s3 = session.client("s3", endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET)
    key, _arn = ensure_signing_key(session)
    return s3, key


@pytest.fixture(scope="module")
def account(moto_server, tmp_path_factory):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from tests.fixtures.moto_server import reset_moto

    reset_moto(moto_server)
    saved = {k: os.environ.get(k) for k in ("AWS_ENDPOINT_URL",)}
    os.environ["AWS_ENDPOINT_URL"] = moto_server
    base = tmp_path_factory.mktemp("cache")
    try:
        s3, key = prepare_account(moto_server)
        yield {"s3": s3, "key": key, "env": node_env(moto_server, base / "home"), "base": base}
    finally:
        for gpg_home in base.glob("*/spack/opt/spack/gpg"):  # Spack's gpg starts an agent per root
            subprocess.run(["gpgconf", "--homedir", str(gpg_home), "--kill", "gpg-agent"], capture_output=True,
                           check=False, timeout=30)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@pytest.fixture(scope="module")
def installs(account):
    """A, B and C in order (module scope: each costs a concretization)."""
    out = {}
    for label, packages in (("A", ["zlib"]), ("B", ["zlib"]), ("C", ["zlib", NEW_PACKAGE])):
        inst = run_install(packages, account["base"] / label / "spack", account["env"])
        assert inst.returncode == 0, f"install {label} failed:\n{inst.output[-6000:]}"
        out[label] = inst
    # The figures of this run, for docs/cache.md (benchmarks/bench_cache.py gives medians).
    figures = {k: {"built": len(v.names("built")), "cache": len(v.names("cache")), "seconds": round(v.seconds)}
               for k, v in out.items()}
    (SPACK_CACHE / "last-run.json").write_text(json.dumps(figures, indent=1))
    return out


def test_a_builds_and_pushes_signed(installs, account):
    a = installs["A"]
    assert {"zlib", "lmod"} <= a.names("built"), a.origins
    assert not a.names("cache")
    keys = [o["Key"] for o in account["s3"].list_objects_v2(Bucket=BUCKET, Prefix="spack-cache/")["Contents"]]
    sigs = [k for k in keys if k.endswith(".spec.json.sig")]
    built = [h for h, p in a.origins.items() if p["origin"] == "built"]
    for h in built:  # every spec built here is in the cache, signed
        assert [k for k in sigs if k.endswith(f"-{h}.spec.json.sig")], h
    assert len(sigs) == len(built) + len(installs["C"].names("built"))  # nothing else was pushed
    assert all(k.startswith(("spack-cache/v0.23.1/build_cache/", "spack-cache/status/")) for k in keys), keys
    assert "spack-cache/v0.23.1/build_cache/index.json" in keys
    body = account["s3"].get_object(Bucket=BUCKET, Key=sigs[0])["Body"].read().decode()
    assert body.startswith("-----BEGIN PGP SIGNED MESSAGE-----")
    assert "pushing" in a.output or "pushing" in (a.root / ".pctl" / "install.log").read_text()


def test_b_installs_binaries_only(installs):
    a, b = installs["A"], installs["B"]
    assert b.names("built") == set(), f"B built from source: {b.names('built')}"
    assert b.names("cache") == a.names("built")
    assert "pushing" not in b.output


def test_c_builds_only_the_new_package(installs):
    c = installs["C"]
    assert c.names("built") == {NEW_PACKAGE}, c.origins
    assert c.names("cache") == installs["A"].names("built")



def test_status_finds_the_origins_in_s3(installs, account):
    from pctl.cache.origins import parse, status_key

    body = account["s3"].get_object(Bucket=BUCKET, Key=status_key("cachetest"))["Body"].read().decode()
    assert parse(body) == installs["C"].origins  # the last install (C) wrote it


def test_cache_list_groups_by_os_target_compiler_and_spack(installs, account):
    from pctl.cache.index import list_entries, summary

    rows = summary(list_entries(account["s3"], BUCKET))
    assert len(rows) == 1
    row = rows[0]
    assert (row["os"], row["target"], row["spack_version"]) == ("debian12", "x86_64_v3", "0.23.1")
    assert row["compiler"].startswith("gcc@")
    assert row["count"] == len(installs["A"].names("built")) + 1  # + lz4 from C


def _reinstall_zlib(root: Path, env: dict[str, str]) -> tuple[int, str, bool]:
    """In B's root: uninstall zlib (and what needs it), install the concretized environment again.

    Returns (exit status, output, whether zlib is installed afterwards)."""
    spack = [str(root / "bin" / "spack"), "-e", str(root / ".pctl" / "env")]
    envs = {**env, "SPACK_DISABLE_LOCAL_CONFIG": "1", "S3_ENDPOINT_URL": env["PCTL_CACHE_ENDPOINT_URL"]}
    # (a refused zlib from the case before is not installed at all: nothing to uninstall then)
    subprocess.run([*spack, "uninstall", "-y", "--dependents", "zlib"], env=envs, capture_output=True, text=True,
                   check=False, timeout=300)
    proc = subprocess.run([*spack, "install", "--fake"], env=envs, capture_output=True, text=True, timeout=900)
    found = subprocess.run([*spack, "find", "zlib"], env=envs, capture_output=True, text=True, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr, found.returncode == 0


def _zlib_sig_key(s3) -> str:
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="spack-cache/")["Contents"]]
    (key,) = [k for k in keys if "-zlib-" in k and k.endswith(".spec.json.sig")]
    return key


@pytest.mark.parametrize("tamper", ["wrong-key", "unsigned"])
def test_wrongly_signed_or_unsigned_entry_is_refused(installs, account, tamper, tmp_path):
    s3 = account["s3"]
    key = _zlib_sig_key(s3)
    original = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    text = original.decode()
    spec_json = text[text.index("{"):text.rindex("}") + 1]
    try:
        if tamper == "wrong-key":
            from pctl.cache.keys import generate_key

            other = generate_key("someone else <x@example.invalid>")
            home = tmp_path / "gnupg"
            home.mkdir(mode=0o700)
            gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
            subprocess.run([*gpg, "--import"], input=other.private, text=True, check=True, capture_output=True)
            signed = subprocess.run([*gpg, "--clearsign", "-u", other.fingerprint], input=spec_json, text=True,
                                    check=True, capture_output=True).stdout
            s3.put_object(Bucket=BUCKET, Key=key, Body=signed.encode())
        else:
            s3.delete_object(Bucket=BUCKET, Key=key)
            s3.put_object(Bucket=BUCKET, Key=key[: -len(".sig")], Body=spec_json.encode())
        rc, out, zlib_installed = _reinstall_zlib(installs["B"].root, account["env"])
        # Refused: Spack stops (it does not fall back to a source build for a bad signature) and zlib is
        # not installed; the message names the signature.
        assert rc != 0 and not zlib_installed, out[-3000:]
        assert ("unable to verify" in out) if tamper == "wrong-key" else ("--no-check-signature" in out), out[-3000:]
    finally:
        s3.put_object(Bucket=BUCKET, Key=key, Body=original)
        if tamper == "unsigned":
            s3.delete_object(Bucket=BUCKET, Key=key[: -len(".sig")])
        if (tmp_path / "gnupg").exists():  # the agent gpg started for that home would outlive the test
            from pctl.cache.keys import stop_agent

            stop_agent(tmp_path / "gnupg")
