"""Render trusts nothing (issue 14): hostile models built through the Python API, never through YAML.

`Template.model_construct` skips every check, so these models hold values validation would refuse.
render() must refuse them (it re-validates); and even with that re-validation switched off (the
second half of this file), the quoting filters and the compile-time guard of pctl.render.environment
refuse line breaks, control characters and heredoc delimiters, and quote the rest so nothing runs.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

import pytest
import yaml

import pctl.validation  # noqa: F401  (import order: validation before the loader)
from pctl.errors import ConfigError, PctlError
from pctl.model.template import Compute, Queue, Software, Template, User
from pctl.render import environment as env
from pctl.render import renderer
from pctl.render.environment import UnsafeValue

BASE = {
    "cluster": {"name": "demo", "region": "us-east-1", "os": "alinux2023"},
    "compute": {"head_node": "t3.medium", "queues": [{"name": "compute", "instance_types": ["c6i.2xlarge"],
                                                      "max_count": 8}]},
}


def valid() -> Template:
    return Template.model_validate(copy.deepcopy(BASE))


def hostile(**changes) -> Template:
    """A validated template with fields then overwritten, as a Python caller could (no validation)."""
    t = valid()
    for dotted, value in changes.items():
        obj = t
        *parents, last = dotted.split("__")
        for p in parents:
            obj = obj[int(p)] if p.isdigit() else getattr(obj, p)
        object.__setattr__(obj, last, value)
    return t


# ---- 1: render re-validates ------------------------------------------------------------------------

INJECTIONS = {
    "cluster__name": "demo\nHeadNode: {InstanceType: p5.48xlarge}",
    "software__spack_version": "0.23.1\nid > /tmp/pwned",
    "software__spack_root": "/shared/spack\nPCTL_INSTALLER_EOF\ntouch /tmp/pwned",
    "cluster__region": "us-east-1\nImds: {ImdsSupport: v1.0}",
}


@pytest.mark.parametrize("field", sorted(INJECTIONS))
def test_render_refuses_an_unvalidated_hostile_model(field):
    # ConfigError from re-validation, or UnsafeValue from the filters where the model has no rule yet
    with pytest.raises(PctlError, match="refusing to render"):
        renderer.render(hostile(**{field: INJECTIONS[field]}))


def test_render_refuses_a_model_construct_with_wrong_types():
    t = Template.model_construct(
        cluster=valid().cluster,
        compute=Compute.model_construct(head_node=["t3.medium"], queues=[Queue.model_construct(name=7)]),
        software=Software.model_construct(spack_version=None),
    )
    with pytest.raises(ConfigError, match="refusing to render"):
        renderer.render(t)
    with pytest.raises(ConfigError, match="refusing to render"):
        renderer.ami_software_script(t)


def test_render_refuses_what_is_not_a_template():
    with pytest.raises(ConfigError, match="needs a pctl Template"):
        renderer.render({"cluster": {"name": "x"}})  # type: ignore[arg-type]


# ---- 2: with re-validation switched off, the filters still hold -----------------------------------

@pytest.fixture
def unchecked(monkeypatch):
    """render() without its model check: only the quoting filters and the guard stand in the way."""
    monkeypatch.setattr(renderer, "checked", lambda t: t)
    return renderer


LINE_PAYLOADS = [
    "x\nid > /tmp/pwned",
    "x\rid",
    "x\x85evil: 1",  # NEL: a YAML 1.1 line break
    "x\u2028evil: 1",
    "x\x1b]0;title\x07",  # a terminal escape
    "x\nPCTL_INSTALLER_EOF\nid",
]

FIELDS = ["cluster__name", "software__spack_version", "software__spack_root", "users", "s3", "spec"]


def with_value(field: str, value: str) -> Template:
    if field == "users":
        return hostile(users=[User.model_construct(name=value, uid=2001, gid=2001, shell="/bin/bash",
                                                   groups=[value])])
    if field == "s3":
        from pctl.model.template import Data, S3Mount

        return hostile(data=Data.model_construct(s3_mounts=[S3Mount.model_construct(
            bucket=value, mount_point=f"/data/{value}", read_only=True, prefix=value)], efs=[], fsx_lustre=[]))
    if field == "spec":
        return hostile(software__spack_packages=[value])
    if field == "software__spack_version":
        return hostile(**{field: "0.23." + value})
    if field == "software__spack_root":
        return hostile(**{field: "/shared/" + value})
    return hostile(**{field: value})


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("payload", LINE_PAYLOADS, ids=lambda p: repr(p)[:20])
def test_line_breaks_controls_and_heredoc_delimiters_are_refused_in_every_context(unchecked, field, payload):
    with pytest.raises(UnsafeValue):
        unchecked.render(with_value(field, payload))


@pytest.mark.parametrize("delimiter", ["PCTL_INSTALLER_EOF", " PCTL_PROFILE_EOF", "PCTL_SPACK_YAML_EOF"])
def test_a_value_that_is_a_heredoc_delimiter_is_refused(delimiter):
    for refuse in (env.to_shell_word, env.raw_line, env.to_comment):
        with pytest.raises(UnsafeValue, match="heredoc delimiter"):
            refuse(delimiter)


def test_delimiter_words_inside_values_cannot_end_a_heredoc(unchecked, tmp_path):
    """Every heredoc body of head-node.sh is exactly the file it embeds, whatever the values hold."""
    value = "zlib@PCTL_INSTALLER_EOF1.3"
    r = unchecked.render(hostile(software__spack_packages=[value, "x-PCTL_SPACK_YAML_EOF@1"]))
    head = r.files["scripts/head-node.sh"]
    bodies = dict(re.findall(r"<<'(PCTL_\w+_EOF)'\n(.*?)\n\1\n", head, re.S))
    assert bodies["PCTL_INSTALLER_EOF"] + "\n" == r.files["scripts/spack-install.sh"]
    assert bodies["PCTL_SPACK_YAML_EOF"] + "\n" == r.files["spack/spack.yaml"]
    assert value in yaml.safe_load(r.files["spack/spack.yaml"])["spack"]["specs"]
    path = tmp_path / "head.sh"
    path.write_text(head)
    subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)


def test_the_ami_script_is_guarded_too(unchecked):
    with pytest.raises(UnsafeValue):
        unchecked.ami_software_script(hostile(software__spack_packages=["zlib\nPCTL_SPACK_YAML_EOF\nid"]))


SHELL_PAYLOADS = ["$(touch {m})", "`touch {m}`", "'; touch {m}; '", '"; touch {m}; "', "a b;touch {m}&", "${{IFS}}x"]


def _run_words(words: str, cwd: Path) -> list[str]:
    """What bash makes of `words` as the arguments of one command (nothing else is run)."""
    out = subprocess.run(["bash", "-c", f"printf '%s\\0' {words}"], capture_output=True, cwd=cwd, timeout=10)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode().split("\0")[:-1]


@pytest.mark.parametrize("payload", SHELL_PAYLOADS)
def test_shell_payloads_stay_one_quoted_word_and_nothing_runs(unchecked, payload, tmp_path, shellcheck_bin):
    marker = tmp_path / "pwned"
    value = payload.format(m=marker)
    t = hostile(users=[User.model_construct(name=value, uid=2001, gid=2001, shell="/bin/bash", groups=[])],
                software__spack_packages=[value])
    r = unchecked.render(t)
    scripts = {k: v for k, v in r.files.items() if k.endswith(".sh")}
    for name, text in scripts.items():
        path = tmp_path / name.replace("/", "_")
        path.write_text(text)
        subprocess.run(["bash", "-n", str(path)], check=True, timeout=30)
        delimiter, quoted = None, True
        for line in text.splitlines():
            stripped = line.strip()
            if delimiter:  # a quoted heredoc body is data; each such body is checked as its own file
                assert quoted or value not in line, f"an unquoted heredoc would expand the value: {line}"
                delimiter = None if stripped == delimiter else delimiter
                continue
            opener = re.search(r"<<-?\s*(['\"]?)(\w+)\1", line)
            if opener:
                quoted, delimiter = bool(opener.group(1)), opener.group(2)
            if value not in line and value.replace("'", "'\"'\"'") not in line:
                continue
            if stripped.startswith("#"):
                continue
            command, _, words = stripped.partition(" ")
            # every line that carries the value is a call of one of the script's own functions or usermod:
            # evaluating only its words shows the value arrives as exactly one argument, unexpanded
            assert command in ("ensure_user", "ensure_group", "usermod"), line
            assert value in _run_words(words, tmp_path), line
    env_file = yaml.safe_load(r.files["spack/spack.yaml"])["spack"]
    assert env_file["specs"][0] == value
    assert not marker.exists()
    check = subprocess.run([shellcheck_bin, "--severity=error", *(str(tmp_path / n.replace("/", "_")) for n in scripts)],
                           capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stdout


def test_cluster_name_cannot_add_top_level_keys(unchecked):
    """A name that is one line but YAML-ish stays a string; it cannot become a key."""
    r = unchecked.render(hostile(cluster__name="demo: {HeadNode: 1} # x"))
    cfg = yaml.safe_load(r.config_text)
    assert set(cfg) == {"Region", "Image", "Imds", "Tags", "HeadNode", "Scheduling", "SharedStorage"}
    assert {"Key": "pctl:cluster", "Value": "demo: {HeadNode: 1} # x"} in cfg["Tags"]


# ---- the guard itself ------------------------------------------------------------------------------

def _compiled(source: str) -> str:
    e = env.environment()
    return e.from_string(source).render(x="a\nb", q="a b", n=3, m={"k": "v\n"})


@pytest.mark.parametrize("source", [
    "{{ x }}", "# {{ x }}", "{{ 'p' ~ x }}", "{{ x | upper }}", "{{ x | sh ~ 'y' }}", "{{ x if n else q | sh }}",
    "{{ x | replace('a', 'b') }}", "{{ m.k }}", "{{ m['k'] }}", "{{ x | yaml }}x{{ x | sh }}",
])
def test_guard_catches_every_unquoted_print(source):
    """Any print that is not a plain chain ending in a quoting filter gets the one-line guard."""
    if source == "{{ x | yaml }}x{{ x | sh }}":
        with pytest.raises(UnsafeValue):  # the yaml filter escapes; sh refuses line breaks
            _compiled(source)
        return
    with pytest.raises(UnsafeValue):
        _compiled(source)


def test_guard_lets_macros_and_quoted_values_through():
    src = "{% macro two() %}a\nb{% endmacro %}{{ two() }}|{{ two() | trim }}|{{ q | sh }}|{{ n }}|{{ q }}"
    assert env.environment().from_string(src).render(q="a b", n=3) == "a\nb|a\nb|'a b'|3|a b"


def test_yaml_and_json_filters():
    assert env.to_yaml_scalar("é: x") == '"\\u00e9: x"'  # ASCII only: nothing for YAML 1.1 to read as a break
    assert env.to_yaml_scalar(True) == "true" and env.to_yaml_scalar(None) == "null"
    for bad in ("a\u2028b", float("nan"), {"a": 1}, b"x"):
        with pytest.raises(UnsafeValue):
            env.to_yaml_scalar(bad)
    with pytest.raises(UnsafeValue):
        env.to_json({"a": float("inf")})
    with pytest.raises(UnsafeValue):
        env.to_shell_word(None)
