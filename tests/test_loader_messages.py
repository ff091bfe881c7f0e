"""What the loader says about a file that is not a template (H10's fresh-user notes, item 13): every
refusal names what is wrong in words a researcher uses and gives a hint that fits *that* refusal (not
the YAML syntax error's "check indentation and quoting").
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import pctl.validation  # noqa: F401  (import order: validation before the loader)
from pctl.model import loader
from tests.conftest import REPO

SYNTAX_HINT = "check indentation and quoting on that line"


def _one_error(path) -> object:
    loaded = loader.load_file(path)
    assert loaded.template is None and len(loaded.issues) == 1, loaded.issues
    return loaded.issues[0]


def test_a_binary_file_is_not_utf8_text_with_a_hint_about_the_file_not_the_path(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(b"cluster:\n  name: x\n  \x97\xff\x00junk")
    issue = _one_error(path)
    assert "not a UTF-8 text file" in issue.message and "0x97" in issue.message
    assert "codec" not in issue.message  # Python's words, not the user's
    assert (issue.line, issue.column) == (3, 3)
    assert "UTF-8" in issue.hint and "check the path" not in issue.hint


def test_a_latin1_template_is_located_at_its_first_non_utf8_byte(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("cluster:\n  name: caf\u00e9\n".encode("latin-1"))
    issue = _one_error(path)
    assert (issue.line, issue.column) == (2, 12) and "0xe9" in issue.message


def test_a_missing_file_still_says_check_the_path(tmp_path):
    issue = _one_error(tmp_path / "nope.yaml")
    assert issue.message.startswith("cannot read template") and "check the path" in issue.hint


@pytest.mark.parametrize(("text", "line", "message", "hint"), [
    ("q: &q {a: 1}\nb: *q\n", 1, "YAML anchors (&q) are not allowed", "billion laughs"),
    ("cluster:\n  name: *nothing\n", 2, "YAML aliases (*nothing) are not allowed", "write the value out in full"),
    ("cluster:\n  <<: {name: x}\n", 2, "YAML merge keys (<<) are not allowed", "write each key"),
    ("? [a, b]\n: 1\n", 1, "a mapping key must be a plain name", "plain name followed by a colon"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", 1, "the template nests deeper", "is this the right file"),
])
def test_a_refusal_has_its_own_hint(text, line, message, hint):
    loaded = loader.load_text(text, "t.yaml")
    issue = loaded.issues[0]
    assert issue.line == line
    assert issue.message.startswith(message), issue.message  # no "YAML: YAML anchors" stutter
    assert hint in issue.hint and issue.hint != SYNTAX_HINT


def test_a_syntax_error_keeps_the_indentation_hint():
    issue = loader.load_text("a: [1, 2\n", "t.yaml").issues[0]
    assert issue.message.startswith("YAML syntax error") and issue.hint == SYNTAX_HINT


@pytest.mark.parametrize(("text", "what"), [
    ("- a\n- b\n", "this one is a list"),
    ("hello\n", "this one is plain text"),
    ("42\n", "this one is a number"),
    ("", "this one is empty"),
])
def test_a_template_that_is_not_a_mapping_says_what_it_is_in_words(text, what):
    issue = loader.load_text(text, "t.yaml").issues[0]
    assert issue.message.endswith(what) and "mapping" in issue.message


def test_the_cli_says_it_for_a_binary_file(tmp_path):
    path = tmp_path / "bin.yaml"
    path.write_bytes(bytes(range(128, 256)) * 3)
    env = {**os.environ, "PCTL_HOME": str(tmp_path / "home")}
    proc = subprocess.run([sys.executable, "-m", "pctl", "validate", str(path)], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=60)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1 and "Traceback" not in out
    assert "bin.yaml:1:1: error: this is not a UTF-8 text file" in out and "check the path" not in out
