"""The AMI registry: publish, search and pull over a local bare git repository (file://), images under moto.

git runs for real (as tests/test_registry.py); the images come from pctl's bake under moto (a thread plays
the builder's user data, tests/test_aws_ami.py). Nothing else is stood in for.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from pctl import ami_registry
from pctl.ami_registry.store import cache_dir
from pctl.aws.ami import template_sha256
from pctl.aws.ami_copy import copy_image
from pctl.aws.bucket import ensure_bucket
from pctl.errors import PctlError
from pctl.registry.index import RegistryError
from tests.test_aws_ami import BUCKET, VERSION, make_template, play_instance, run_bake


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args], cwd=cwd,
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def source(tmp_path, monkeypatch):
    from pctl.config import set_registry

    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    bare = tmp_path / "amis.git"
    _git("init", "--quiet", "--bare", "--initial-branch=main", str(bare), cwd=tmp_path)
    set_registry("lab", bare.as_uri())
    return bare


@pytest.fixture
def image(aws):
    ensure_bucket(aws, BUCKET, "us-east-1", tls_only=False)
    thread = play_instance(aws, "done")
    image_id, _ = run_bake(aws)
    thread.join(5)
    return image_id


def test_publish_search_pull_round_trip(aws, source, image, tmp_path):
    copy = copy_image(aws, image, "eu-west-1", poll_s=0.01, timeout_s=10, log=lambda _m: None)
    entry = ami_registry.entry_for_image(aws, image, description="MPI stack")
    template = make_template()
    assert entry.images == {"eu-west-1": copy.image_id, "us-east-1": image}
    assert entry.pcluster_version == VERSION and entry.os == "alinux2023" and entry.arch == "x86_64"
    assert entry.packages == sorted(template.software.spack_packages)
    assert entry.spack_version == template.software.spack_version and entry.spack_target
    assert entry.template_sha256 == template_sha256(template) and entry.owner_account.isdigit()

    done = ami_registry.publish("lab", entry)
    assert done.pushed, done.message
    # The bare repository holds the entry and an index whose sha256 matches it.
    clone = tmp_path / "check"
    _git("clone", "--quiet", source.as_uri(), str(clone), cwd=tmp_path)
    index = json.loads((clone / "amis.json").read_text())
    assert [i["name"] for i in index] == [entry.name] and index[0]["fingerprint"] == entry.fingerprint
    assert json.loads((clone / index[0]["path"]).read_text())["images"]["us-east-1"] == image
    assert "AMI demo-alinux2023-x86_64" in _git("log", "--format=%s", cwd=clone)

    [found] = ami_registry.search("openmpi")
    assert found.qualified == f"lab/{entry.name}"
    assert ami_registry.search(entry.fingerprint[:10])[0].entry == entry
    assert ami_registry.search("", os="ubuntu2204") == [] and ami_registry.search("", arch="arm64") == []
    assert ami_registry.search("", pcluster_version="3.0.0") == []

    pulled = ami_registry.pull(entry.name, "eu-west-1", aws, VERSION)
    assert pulled.image_id == copy.image_id
    assert ami_registry.pull(f"lab/{entry.name}", "us-east-1", aws, VERSION).image_id == image
    with pytest.raises(PctlError, match="no image in ap-south-1") as err:
        ami_registry.pull(entry.name, "ap-south-1", aws, VERSION)
    assert "eu-west-1" in str(err.value)

    # create's offer: by fingerprint, in the region, launchable.
    offered = ami_registry.offer(aws, entry.fingerprint, VERSION)
    assert offered is not None and offered.image_id == image and offered.accepted  # the publisher's own
    assert ami_registry.offer(aws, entry.fingerprint, "3.0.0") is None
    assert ami_registry.offer(aws, "0" * 64, VERSION) is None


def test_pull_refuses_another_pcluster_version_naming_both(aws, source, image):
    entry = ami_registry.entry_for_image(aws, image).model_copy(update={"pcluster_version": "3.9.0"})
    assert ami_registry.publish("lab", entry).pushed
    with pytest.raises(RegistryError) as err:
        ami_registry.pull(entry.name, "us-east-1", aws, VERSION)
    assert "3.9.0" in str(err.value) and VERSION in str(err.value)


def test_pull_refuses_an_image_the_account_cannot_launch(aws, source, image):
    entry = ami_registry.entry_for_image(aws, image).model_copy(
        update={"images": {"us-east-1": "ami-0123456789abcdef0"}})  # someone else's private image
    assert ami_registry.publish("lab", entry).pushed
    with pytest.raises(PctlError, match="cannot launch ami-0123456789abcdef0") as err:
        ami_registry.pull(entry.name, "us-east-1", aws, VERSION)
    assert entry.owner_account in err.value.hint
    assert ami_registry.offer(aws, entry.fingerprint, VERSION) is None


def test_a_tampered_entry_is_refused(aws, source, image, tmp_path):
    entry = ami_registry.entry_for_image(aws, image)
    ami_registry.publish("lab", entry)
    work = tmp_path / "tamper"
    _git("clone", "--quiet", source.as_uri(), str(work), cwd=tmp_path)
    path = work / entry.path()
    path.write_text(path.read_text().replace(image, "ami-0badbadbadbadbad0"))
    _git("commit", "--quiet", "-am", "swap the image", cwd=work)
    _git("push", "--quiet", "origin", "main", cwd=work)
    ami_registry.update()
    with pytest.raises(RegistryError, match="does not match the sha256"):
        ami_registry.search("")
    assert ami_registry.offer(aws, entry.fingerprint, VERSION) is None  # create never uses it


def test_publish_refuses_an_image_pctl_did_not_bake(aws, source):
    official = aws.client("ec2").describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    with pytest.raises(PctlError, match="not an image of this account"):
        ami_registry.entry_for_image(aws, official)


def test_a_refused_push_keeps_the_commit_and_says_how(aws, tmp_path, monkeypatch, image):
    """A non-bare repository with its branch checked out refuses pushes: the commit stays in a kept clone."""
    from pctl.config import set_registry

    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "home"))
    repo = tmp_path / "work"
    _git("init", "--quiet", "--initial-branch=main", str(repo), cwd=tmp_path)
    _git("commit", "--quiet", "--allow-empty", "-m", "start", cwd=repo)
    set_registry("local", repo.as_uri())
    done = ami_registry.publish("local", ami_registry.entry_for_image(aws, image))
    assert not done.pushed and "push it yourself" in done.message
    assert done.workdir is not None and (done.workdir / "amis.json").exists()


def test_cli_publish_search_pull(aws, source, image, monkeypatch):
    from pctl.cli import cli

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    runner = CliRunner()
    out = runner.invoke(cli, ["ami", "publish", image, "--registry", "lab", "--name", "mpi-stack"])
    assert out.exit_code == 0, out.output
    out = runner.invoke(cli, ["ami", "search", "hdf5", "--json"])
    assert out.exit_code == 0, out.output
    doc = json.loads(out.output)
    assert doc["schema"] == "pctl.ami-search/v1" and [m["entry"] for m in doc["matches"]] == ["lab/mpi-stack"]
    out = runner.invoke(cli, ["ami", "search", "--offline", "--arch", "x86_64"])
    assert "lab/mpi-stack" in out.output
    out = runner.invoke(cli, ["ami", "pull", "mpi-stack", "--region", "us-east-1"])
    assert out.exit_code == 0 and image in out.output
    assert cache_dir("lab").is_dir()



def test_the_bake_step_uses_a_registry_image_instead_of_baking(aws, source, image, monkeypatch):
    """Another account's shared image: its tags are invisible here, so only the registry knows its fingerprint."""
    from tasks.ami import _existing

    monkeypatch.delenv("PCTL_AMI_REGIONS", raising=False)
    from pctl.ami_registry.images import _accepted_path
    from pctl.lifecycle import progress

    entry = ami_registry.entry_for_image(aws, image, name="shared-stack")
    assert ami_registry.publish("lab", entry).pushed
    aws.client("ec2").delete_tags(Resources=[image], Tags=[{"Key": "pctl:fingerprint"}])
    _accepted_path().unlink()  # as on another machine: nobody here chose this image yet
    lines: list[str] = []
    with progress.listening(lines.append):
        assert _existing(aws, entry.fingerprint, VERSION) is None  # only suggested: the caller would bake
    assert any("pctl ami pull lab/shared-stack --region us-east-1" in line for line in lines)
    ami_registry.pull("shared-stack", "us-east-1", aws, VERSION)  # accepts it
    found = _existing(aws, entry.fingerprint, VERSION)
    assert found is not None
    assert (found["image_id"], found["how"], found["created"]) == (image, "registry lab/shared-stack",
                                                                   False)
    assert _existing(aws, "1" * 64, VERSION) is None  # no image anywhere: the caller bakes


@pytest.mark.parametrize("name", ["Bad Name", "ok\n", "../escape", "-dash"])
def test_a_bad_entry_name_is_refused(aws, image, name):
    with pytest.raises(PctlError, match="not a usable entry name"):
        ami_registry.entry_for_image(aws, image, name=name)


def test_a_deleted_copy_is_not_published(aws, source, image):
    from pctl.aws.ami import delete_image

    copy = copy_image(aws, image, "eu-west-1", poll_s=0.01, timeout_s=10, log=lambda _m: None)
    delete_image(aws.__class__(region_name="eu-west-1"), copy.image_id)
    assert ami_registry.entry_for_image(aws, image).images == {"us-east-1": image}
