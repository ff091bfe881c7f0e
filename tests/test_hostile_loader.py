"""The template loader against hostile YAML (issue 14): every input ends in a located error or a model,
fast and in little memory; never an internal error, never a hang.

The last two tests are a hypothesis fuzzer (PCTL_FUZZ_EXAMPLES, default 1,200 + 800 = 2,000 templates
per run): mutations of the library templates, YAML tricks and control characters in every field. Every
accepted template is rendered; its scripts must pass `bash -n` and (in one batched call) shellcheck,
its YAML files must parse.
"""

from __future__ import annotations

import copy
import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pctl.validation  # noqa: F401  (import order: validation before the loader)
from pctl.model import loader
from pctl.validation import Level, validate_text
from tests.conftest import REPO

LIBRARY = sorted((REPO / "templates").glob("*.yaml"))


def only_located_errors(text: str) -> list:
    report, _ = validate_text(text, "t.yaml")
    errors = [i for i in report.issues if i.level is Level.ERROR]
    assert errors, "expected a refusal"
    for e in errors:
        assert e.line is not None and e.column is not None, e
    return errors


# ---- the cases the attack found ---------------------------------------------------------------------

def alias_bomb() -> str:
    """The classic "billion laughs": 9 levels of 9 aliases; under 1 kB, 387 million strings expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(f'*{prev}' for _ in range(9))}]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_fails_fast_in_little_memory():
    text = alias_bomb()
    assert len(text) < 1000
    script = (
        "import resource, sys, time\n"
        "import pctl.validation\n"
        "from pctl.validation import validate_text\n"
        "t = time.monotonic(); report, _ = validate_text(sys.stdin.read(), 'bomb.yaml')\n"
        # VmHWM: this process image's own peak (ru_maxrss also counts the forked parent's, a big pytest).
        "hwm = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
        "print(round(time.monotonic() - t, 3), hwm,\n"
        "      report.issues[0].line, report.issues[0].message)\n"
    )
    # A separate process with an address-space cap: if the bomb ever expands, this child dies, not the suite.
    proc = subprocess.run([sys.executable, "-c", script], input=text, capture_output=True, text=True, timeout=30,
                          cwd=REPO, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    seconds, rss_kb, line, message = proc.stdout.split(" ", 3)
    assert float(seconds) < 1.0
    assert int(rss_kb) < 400_000
    assert line == "1" and "anchors" in message


@pytest.mark.parametrize(("text", "line", "words"), [
    ("? [a, b]\n: 1\n", 1, "mapping key"),
    ("cluster: {? {a: 1} : x}\n", 1, "mapping key"),
    ("a: &a [*a]\n", 1, "anchors"),
    ("cluster:\n  name: *nothing\n", 2, "aliases"),
    ("a: " + "[" * 1000 + "]" * 1000 + "\n", 1, "nests deeper"),
    ("".join(" " * i + f"k{i}:\n" for i in range(100)), 32, "nests deeper"),
    ("cluster:\n  name: x\n  region: " + "9" * 4400 + "\n", 3, "4400 digits"),
    ("cluster:\n  created: !!timestamp 2024-13-45\n", 2, "timestamp"),
    ("a: !!int zz\n", 1, "int"),
    ("a: !!float zz\n", 1, "float"),
    ("a: !!binary 'a'\n", 1, "base64"),
    ("a: !!python/object/apply:os.system ['id']\n", 1, "constructor"),
    ("<<: 5\n", 1, "merge"),
    ("a: 1\na: 2\n", 2, "duplicate key"),
    ("a: \x00\n", 1, "control character"),
    ("a: [1, 2\n", 2, "expected"),
])
def test_hostile_yaml_is_a_located_error(text, line, words):
    errors = only_located_errors(text)
    assert errors[0].line == line, errors[0]
    assert words in errors[0].message, errors[0].message


def test_input_size_is_capped(tmp_path):
    big = "description: " + "x" * (loader.MAX_TEMPLATE_BYTES + 10) + "\n"
    [err] = only_located_errors(big)
    assert "bytes" in err.message
    path = tmp_path / "big.yaml"
    path.write_text(big)
    report, loaded = pctl.validation.validate_file(path)
    assert loaded.template is None and "bytes" in report.issues[0].message


def test_too_many_nodes_is_refused():
    text = "tags: [" + ", ".join("x" for _ in range(loader.MAX_NODES + 5)) + "]\n"
    assert "values" in only_located_errors(text)[0].message


@pytest.mark.parametrize("text", [
    "? [a, b]\n: 1\n", "a: &a [*a]\n", "a: " + "[" * 1000 + "]" * 1000, "a: " + "9" * 4400,
    "a: !!timestamp 2020-99-99\n",
])
def test_cli_validate_exits_1_never_2(tmp_path, text):
    path = tmp_path / "t.yaml"
    path.write_text(text)
    proc = subprocess.run([sys.executable, "-m", "pctl", "validate", str(path)], capture_output=True, text=True,
                          timeout=60, cwd=REPO)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "internal error" not in (proc.stdout + proc.stderr).lower()
    assert "t.yaml:1" in proc.stdout + proc.stderr


def test_library_templates_still_load():
    for path in LIBRARY:
        report, loaded = pctl.validation.validate_file(path)
        assert loaded.template is not None, report.issues


# ---- the fuzzer ------------------------------------------------------------------------------------

EXAMPLES = int(os.environ.get("PCTL_FUZZ_EXAMPLES", "2000"))
HANG_S = 5.0

CONTROL = [chr(c) for c in [*range(0, 32), 127, *range(0x80, 0xA0)]] + ["\u2028", "\u2029", "\ufeff", "\u202e"]
NASTY_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["$(id)", "`id`", "'; id; '", '"; id; "', "a\nb", "/shared\n", "x\r", "PCTL_PROFILE_EOF",
                     "*", "&", "!!", "{a: 1}", "[", "- x", "# c", "yes", "0x1F", "1e30", "٣", "0.23.1\n", "~",
                     "../../etc", "-rf", "--x", "null", ".inf", "1_000"]),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=4), st.sampled_from(CONTROL), st.text(max_size=4)),
)
ANY_VALUE = st.one_of(
    NASTY_TEXT,
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.lists(NASTY_TEXT, max_size=3),
    st.dictionaries(NASTY_TEXT, NASTY_TEXT, max_size=2),
)
PERTURB = [*CONTROL, "$", "`", "'", '"', ";", "&", "|", "<", ">", "(", ")", "{", "}", "*", "?", "[", "!", "#", " ",
           "\\", "~", "٣", "é", "\u00a0", "\n", "\n\n", ":", ",", "@", "%", "=", "+", "^", "PCTL_PROFILE_EOF"]
YAML_TRICKS = [
    "&a x", "*a", "? [a, b]\n: 1", "!!timestamp 2020-99-99", "!!binary '%'", "!!python/name:os.system", "!!set {a}",
    "<<: {x: 1}", "\t", "{", "[" * 40, "9" * 60, "'unterminated", '"\\u0000"', "\x00", "\ufeff", "---\n---",
    "%YAML 1.1\n---", "!!str", "|\n  x", ">-\n  y", "- - - -", ": :", "\\", "\u2028", "\x85", "\r\n", "a: b: c",
    "!<tag:yaml.org,2002:int> 12", "!!float .nan", "!local x", "? x", "{a: [b, {c: d}]}",
]


def paths(data, prefix=()):
    """Every (path, value) of a parsed template, mappings and lists included."""
    out = [(prefix, data)]
    if isinstance(data, dict):
        for k, v in data.items():
            out += paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += paths(v, (*prefix, i))
    return out


def set_at(data, path, value, delete=False):
    if not path:
        return value
    obj = data
    for p in path[:-1]:
        obj = obj[p]
    if delete:
        del obj[path[-1]]
    else:
        obj[path[-1]] = value
    return data


LIBRARY_DATA = [yaml.safe_load(p.read_text()) for p in LIBRARY]


def _pool() -> dict[object, list]:
    """Every scalar value the library writes, by the key (or list) it sits under: valid values to swap in."""
    pool: dict[object, list] = {}
    for data in LIBRARY_DATA:
        for path, value in paths(data):
            if path and isinstance(value, (str, int, bool)):
                key = path[-1] if isinstance(path[-1], str) else (path[-2] if len(path) > 1 else None)
                pool.setdefault(key, [])
                if value not in pool[key]:
                    pool[key].append(value)
    return pool


POOL = _pool()


@st.composite
def mutated_templates(draw) -> str:
    data = copy.deepcopy(draw(st.sampled_from(LIBRARY_DATA)))
    for _ in range(draw(st.integers(1, 3))):
        spots = paths(data)
        path, current = draw(st.sampled_from(spots[1:]))
        kind = draw(st.sampled_from(["perturb", "perturb", "swap", "swap", "replace", "delete", "add"]))
        if kind == "swap":  # a value valid somewhere in the library: mostly still valid, so render runs more
            swappable = [(p, v) for p, v in spots if p and isinstance(v, (str, int, bool))]
            path, _ = draw(st.sampled_from(swappable))
            key = path[-1] if isinstance(path[-1], str) else (path[-2] if len(path) > 1 else None)
            data = set_at(data, path, draw(st.sampled_from(POOL.get(key) or ["x"])))
        elif kind == "perturb":  # a valid string one character away: what fullmatch and the filters are for
            strings = [(p, v) for p, v in spots if isinstance(v, str)]
            path, current = draw(st.sampled_from(strings))
            at = draw(st.integers(0, len(current)))
            data = set_at(data, path, current[:at] + draw(st.sampled_from(PERTURB)) + current[at:])
        elif kind == "delete":
            data = set_at(data, path, None, delete=True)
        elif kind == "add":
            target = [p for p, v in spots if isinstance(v, dict)]
            where = draw(st.sampled_from(target))
            obj = data
            for p in where:
                obj = obj[p]
            obj[draw(NASTY_TEXT)] = draw(ANY_VALUE)
        else:
            data = set_at(data, path, draw(ANY_VALUE))
    try:
        return yaml.safe_dump(data, allow_unicode=draw(st.booleans()), sort_keys=False, width=10**6)
    except yaml.YAMLError:
        return yaml.safe_dump(data, allow_unicode=False, sort_keys=False)


@st.composite
def tricked_texts(draw) -> str:
    text = draw(st.sampled_from(LIBRARY)).read_text()
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        trick = draw(st.sampled_from(YAML_TRICKS))
        where = draw(st.sampled_from(["value", "insert", "replace-line", "truncate"]))
        if where == "value" and ":" in line:
            key, _, _ = line.partition(":")
            lines[i] = f"{key}: {trick}\n"
        elif where == "insert":
            col = draw(st.integers(0, len(line)))
            lines[i] = line[:col] + trick + line[col:]
        elif where == "replace-line":
            lines[i] = trick + "\n"
        else:
            lines = lines[: i + 1]
    return "".join(lines)


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang(f"no answer within {HANG_S} s")


class Fuzz:
    """Runs one text through validate -> render -> checks; collects scripts for one shellcheck call."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.scripts: dict[str, str] = {}  # sha -> first template that produced it
        self.counts = {"examples": 0, "accepted": 0}

    def run(self, text: str) -> None:
        from pctl.render import RenderOptions, render

        self.counts["examples"] += 1
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
        start = time.monotonic()
        try:
            report, loaded = validate_text(text, "fuzz.yaml")
            errors = [i for i in report.issues if i.level is Level.ERROR]
            for e in errors:
                assert e.line is not None, f"unlocated error {e} for:\n{text}"
            if errors or loaded.template is None:
                return
            self.counts["accepted"] += 1
            rendered = render(loaded.template, RenderOptions(
                subnet_id="subnet-0123456789abcdef0", key_name="k", ssh_allowed_cidr="192.0.2.0/24",
                scripts_s3_prefix="s3://lab-bucket/pctl/x/scripts"))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        assert time.monotonic() - start < HANG_S
        for name, body in rendered.files.items():
            if name.endswith((".yaml", ".yml")):
                yaml.safe_load(body)
            elif name.endswith(".sh"):
                self._shell(name, body, text)

    def _shell(self, name: str, body: str, text: str) -> None:
        sha = hashlib.sha256(body.encode()).hexdigest()[:16]
        if sha in self.scripts:
            return
        path = self.directory / f"{sha}-{name.rsplit('/', 1)[-1]}"
        path.write_text(body)
        self.scripts[sha] = text
        proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, timeout=HANG_S)
        assert proc.returncode == 0, f"bash -n failed on {name}: {proc.stderr}\ntemplate:\n{text}"

    def shellcheck(self, binary: str) -> None:
        files = sorted(str(p) for p in self.directory.glob("*.sh"))
        for i in range(0, len(files), 200):
            proc = subprocess.run([binary, "--severity=style", *files[i:i + 200]], capture_output=True, text=True,
                                  timeout=600)
            assert proc.returncode == 0, proc.stdout[-4000:]


def fuzz_settings(examples: int) -> settings:
    return settings(max_examples=examples, deadline=None, database=None, print_blob=True,
                    suppress_health_check=list(HealthCheck))


def _fuzz(strategy, examples: int, tmp_path: Path, shellcheck_bin: str) -> Fuzz:
    fuzz = Fuzz(tmp_path)

    @fuzz_settings(examples)
    @given(strategy)
    def one(text: str) -> None:
        fuzz.run(text)

    one()
    fuzz.shellcheck(shellcheck_bin)
    print(f"fuzz: {fuzz.counts['examples']} templates, {fuzz.counts['accepted']} accepted and rendered, "
          f"{len(fuzz.scripts)} distinct scripts shellchecked")
    return fuzz


def test_fuzz_mutated_library_templates(tmp_path, shellcheck_bin):
    fuzz = _fuzz(mutated_templates(), EXAMPLES * 6 // 10, tmp_path, shellcheck_bin)
    assert fuzz.counts["examples"] >= EXAMPLES * 6 // 10
    assert fuzz.counts["accepted"] > 0  # the fuzzer reaches render, not only the loader


def test_fuzz_yaml_tricks(tmp_path, shellcheck_bin):
    fuzz = _fuzz(tricked_texts(), EXAMPLES - EXAMPLES * 6 // 10, tmp_path, shellcheck_bin)
    assert fuzz.counts["examples"] >= EXAMPLES - EXAMPLES * 6 // 10
