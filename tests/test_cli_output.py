"""CLI output: rich tables (plain off a terminal, colour only when allowed), one JSON document per
command with a `schema` key, shell completion, and the wording fixes (plurals, field names, $schema).

Nothing is mocked: commands run through `pctl.cli.main` (or a subprocess where the exit code and the
process's own streams matter) against the template library and a temporary $PCTL_HOME.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from pctl.cli.output import document, plural, print_table, table

ANSI = re.compile(r"\x1b\[[0-9;]*m")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("PCTL_HOME", str(tmp_path / "pctl"))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    return tmp_path / "pctl"


def run_main(capsys, *argv: str) -> tuple[int, str, str]:
    from pctl.cli import main

    code = 0
    try:
        main(list(argv))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def json_doc(capsys, kind: str, *argv: str, code: int = 0) -> dict:
    rc, out, err = run_main(capsys, *argv)
    assert rc == code, err
    doc = json.loads(out)  # the whole of stdout is ONE document
    assert isinstance(doc, dict) and doc["schema"] == f"pctl.{kind}/v1", doc
    return doc


# ---- tables ---------------------------------------------------------------------------------------

def test_table_is_plain_aligned_and_keeps_every_word():
    text = table(("NAME", "URL", "PINNED"), [("lab", "https://example.org/t.git", "never fetched"), ("b", None, "x")])
    lines = text.splitlines()
    assert not ANSI.search(text)
    assert lines[0].split() == ["NAME", "URL", "PINNED"]
    assert set(lines[1]) == {"-"}
    assert "never fetched" in lines[2]  # the old table cut it to "never fetche"
    # every column starts at the same offset on every line
    start = lines[0].index("PINNED")
    assert lines[2][start:] == "never fetched" and lines[3][start:] == "x"
    assert all(line == line.rstrip() for line in lines)


def test_footer_row_lines_up_with_its_column():
    text = table(("ITEM", "PER MONTH"), [("head node", "$30.37"), ("queue compute", "$1,496.40")],
                 footer=("TOTAL", "$1,526.77"), right=(1,))
    lines = text.splitlines()
    assert lines[-1].startswith("TOTAL") and lines[-1].endswith("$1,526.77")
    assert set(lines[-2]) == {"-"}
    assert len({len(line) for line in (lines[2], lines[3], lines[-1])}) == 1  # right-aligned: same end column


def test_a_narrow_terminal_wraps_between_words_and_never_drops_a_column():
    from pctl.cli.output import _render, fit_width, make_table

    rows = [("bioinformatics", "High-memory queue, S3 reference data, aligners and variant callers", "highmem")]
    tbl = make_table(("NAME", "DESCRIPTION", "QUEUES"), rows, fancy=True)
    assert fit_width(tbl, 60) == 60
    text = _render(tbl, color=False, width=60)
    assert max(len(line) for line in text.splitlines()) <= 60
    words = " ".join(line[16:].split("highmem")[0] for line in text.splitlines()[2:]).split()
    assert words == rows[0][1].split()  # every word whole, in order
    url = "https://example.org/some/long/path/lab-templates.git"
    tbl = make_table(("NAME", "URL", "PINNED", "UPDATED", "LAST ERROR"), [("lab", url, "never fetched", "-", "")],
                     fancy=True)
    width = fit_width(tbl, 60)
    assert width > 60  # does not fit even wrapped: whole lines rather than a split URL or a lost column
    text = _render(tbl, color=False, width=width)
    assert url in text and "never fetched" in text and "LAST ERROR" in text


def test_markup_in_values_is_printed_as_written(capsys):
    print_table(("A",), [("[bold]not markup[/]",)])
    assert "[bold]not markup[/]" in capsys.readouterr().out


@pytest.mark.parametrize(("env", "coloured"), [({}, False), ({"FORCE_COLOR": "1"}, True),
                                                ({"FORCE_COLOR": "1", "NO_COLOR": "1"}, False)])
def test_colour_only_when_allowed(monkeypatch, env, coloured):
    """Not a terminal -> plain; FORCE_COLOR turns colour on; NO_COLOR always wins."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)

    @click.command()
    def show() -> None:
        print_table(("NAME", "STATE"), [("server", "running")], styles={0: "bold cyan"})

    out = CliRunner().invoke(show, color=True).output
    assert bool(ANSI.search(out)) is coloured
    plain = ANSI.sub("", out).splitlines()
    assert plain[0].split() == ["NAME", "STATE"] and plain[-1].split() == ["server", "running"]


def test_cost_total_is_the_footer_of_the_table(capsys):
    rc, out, _ = run_main(capsys, "cost", "starter")
    assert rc == 0
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("ITEM"))
    total = next(line for line in lines if line.startswith("TOTAL"))
    rows = [line for line in lines[header + 2:lines.index(total) - 1]]
    assert rows and all(len(r) == len(total) for r in rows), (rows, total)  # amounts end in one column
    assert re.fullmatch(r"TOTAL per month +\$[\d,]+\.\d\d", total)


# ---- wording ----------------------------------------------------------------------------------------

def test_plural():
    assert [plural(n, "error") for n in (0, 1, 2)] == ["0 errors", "1 error", "2 errors"]
    assert plural(1, "entry", "entries") == "1 entry" and plural(3, "entry", "entries") == "3 entries"


def test_validate_says_1_error_and_names_a_real_field_or_the_file(tmp_path, capsys):
    from pctl import library

    bad = tmp_path / "bad.yaml"
    bad.write_text(library.path_of("minimal").read_text().replace("region: us-east-1", "region: us-easst-1"))
    rc, out, err = run_main(capsys, "validate", str(bad))
    assert rc == 1
    assert f"{bad}: invalid (1 error, 0 warnings)" in out
    assert "cluster.region" in err and "<template>" not in err

    broken = tmp_path / "broken.yaml"
    broken.write_text("cluster: [unclosed\n")
    rc, out, err = run_main(capsys, "validate", str(broken))
    assert rc == 1 and "<template>" not in out + err
    assert re.search(rf"^{re.escape(str(broken))}:\d+:\d+: error: \S", err, re.M), err  # file:line:col, no pseudo-field


# ---- JSON documents -----------------------------------------------------------------------------------

def test_document_shape():
    assert document("list", clusters=[]) == {"schema": "pctl.list/v1", "clusters": []}


def test_validate_json(tmp_path, capsys):
    doc = json_doc(capsys, "validate", "validate", "minimal", "--json")
    assert doc["valid"] is True and doc["errors"] == 0 and doc["issues"] == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: {name: x}\n")
    doc = json_doc(capsys, "validate", "validate", str(bad), "--json", code=1)
    assert doc["valid"] is False and doc["errors"] >= 1 and all("field" in i and "line" in i for i in doc["issues"])


def test_templates_list_json(capsys):
    from pctl import library

    doc = json_doc(capsys, "templates", "templates", "list", "--json")
    names = [t["name"] for t in doc["templates"]]
    assert names == library.names()
    first = doc["templates"][0]
    assert set(first) >= {"name", "path", "valid", "description", "queues", "tags", "platform"}
    assert all(t["valid"] for t in doc["templates"]) and all(t["queues"] for t in doc["templates"])


def test_templates_list_table_has_every_template(capsys):
    from pctl import library

    rc, out, _ = run_main(capsys, "templates", "list")
    assert rc == 0 and out.splitlines()[0].split() == ["NAME", "DESCRIPTION", "QUEUES"]
    assert [line.split()[0] for line in out.splitlines()[2:]] == library.names()


def test_cost_json(capsys):
    doc = json_doc(capsys, "cost", "cost", "minimal", "--json")
    assert doc["monthly_total_usd"] > 0 and doc["lines"] and doc["region"] == "us-east-1"
    assert doc["template"].endswith("minimal.yaml")


def test_render_json(tmp_path, capsys):
    doc = json_doc(capsys, "render", "render", "minimal", "-o", str(tmp_path / "out"), "--json")
    assert doc["valid"] is True and doc["placeholders"]
    assert any(p.endswith("cluster-config.yaml") for p in doc["written"])
    assert all(Path(p).exists() for p in doc["written"])


def test_render_text_counts_placeholders_properly(tmp_path, capsys):
    rc, out, _ = run_main(capsys, "render", "minimal", "-o", str(tmp_path / "out"))
    assert rc == 0 and re.search(r"^\d+ placeholders? left in ", out, re.M) and "placeholder(s)" not in out


def test_list_and_config_and_registry_json_on_an_empty_home(capsys, _home):
    doc = json_doc(capsys, "list", "list", "--json")
    assert doc["clusters"] == [] and doc["state_dir"]
    doc = json_doc(capsys, "config", "config", "show", "--json")
    assert doc["path"] == str(_home / "config.yaml") and "sources" in doc
    doc = json_doc(capsys, "registry-list", "registry", "list", "--json")
    assert doc["sources"] == []


def test_registry_list_does_not_cut_words(capsys):
    rc, _, _ = run_main(capsys, "registry", "add", "lab", "https://example.org/lab-templates.git")
    assert rc == 0
    rc, out, _ = run_main(capsys, "registry", "list")
    assert rc == 0
    row = out.splitlines()[2]
    assert "https://example.org/lab-templates.git" in row and "never fetched" in row
    doc = json_doc(capsys, "registry-list", "registry", "list", "--json")
    assert doc["sources"] == [{"name": "lab", "url": "https://example.org/lab-templates.git", "commit": None,
                               "updated_at": None, "last_error": None}]


def test_status_json_from_state(capsys, _home):
    from pctl import state

    st = state.ClusterState(name="alpha", region="us-east-1", status=state.Status.ACTIVE)
    state.save(st)
    doc = json_doc(capsys, "status", "status", "alpha", "--no-refresh", "--json")
    assert doc["name"] == "alpha" and doc["state"]["status"] == "active" and doc["next_step"]
    assert doc["pcluster"] is None and isinstance(doc["warnings"], list)
    doc = json_doc(capsys, "list", "list", "--json")
    assert [c["name"] for c in doc["clusters"]] == ["alpha"]


def test_server_status_json(capsys):
    doc = json_doc(capsys, "server-status", "server", "status", "--json")
    assert set(doc) >= {"api_url", "ui_url", "healthy", "work_pool", "processes"}


def test_capture_script_json(tmp_path, capsys):
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#SBATCH --partition=bio\n#SBATCH --mem=64G\n#SBATCH --cpus-per-task=8\n"
                      "module load samtools/1.16\nsamtools sort in.bam\n")
    doc = json_doc(capsys, "capture-script", "capture", "script", str(script), "--json")
    assert doc["scripts"][0]["scheduler"] == "slurm" and doc["template"]["compute"]["queues"]


def test_every_data_command_has_json():
    """Each command that prints data takes --json (the document shapes are in docs/cli.md)."""
    from pctl.cli import cli

    ctx = click.Context(cli)
    wanted = ["validate", "render", "cost", "list", "status", "create", "delete", "verify",
              "templates list", "registry list", "registry search", "registry show", "registry update",
              "registry pull", "ami list", "capture script", "capture remote", "server status", "server up",
              "server down", "config show", "blocks show", "pcluster check", "container build"]
    missing = []
    for path in wanted:
        cmd: click.Command | None = cli
        for part in path.split():
            cmd = cmd.get_command(ctx, part) if isinstance(cmd, click.Group) else None
        assert cmd is not None, path
        if "--json" not in {o for p in cmd.params for o in p.opts}:
            missing.append(path)
    assert missing == []
    docs = (ROOT / "docs" / "cli.md").read_text()
    assert all(f"`{path}`" in docs for path in wanted)


# ---- templates show ------------------------------------------------------------------------------------

def test_templates_show_points_schema_at_something_real(tmp_path, capsys):
    from pctl.model.template import SCHEMA_URL

    rc, out, _ = run_main(capsys, "templates", "show", "bioinformatics")
    assert rc == 0
    assert out.splitlines()[0] == f"# yaml-language-server: $schema={SCHEMA_URL}"
    assert "../docs/" not in out

    target = tmp_path / "mine" / "genomics.yaml"
    rc, out, _ = run_main(capsys, "templates", "show", "bioinformatics", "-o", str(target))
    assert rc == 0
    first = target.read_text().splitlines()[0]
    assert first == "# yaml-language-server: $schema=./template.schema.json"
    schema = json.loads((target.parent / "template.schema.json").read_text())
    assert schema["title"] and "cluster" in schema["properties"]
    rc, _, err = run_main(capsys, "templates", "show", "minimal", "-o", str(target))
    assert rc == 1 and "exists" in err  # never overwrites without --force
    rc, _, _ = run_main(capsys, "validate", str(target))
    assert rc == 0


# ---- completion ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o nosort -F _pctl_completion pctl"),
                                               ("zsh", "#compdef pctl"), ("fish", "complete --no-files --command pctl")])
def test_completion_scripts(capsys, shell, marker):
    rc, out, _ = run_main(capsys, "completion", shell)
    assert rc == 0 and marker in out and "_PCTL_COMPLETE" in out


def test_completion_rejects_other_shells(capsys):
    rc, _, err = run_main(capsys, "completion", "tcsh")
    assert rc == 2 and "tcsh" in err


def test_template_completion_offers_library_names_and_yaml_paths(tmp_path, monkeypatch):
    from pctl.cli.commands.completion import template_candidates

    assert "bioinformatics" in template_candidates("bio")
    assert all(c.startswith("m") for c in template_candidates("m")) and "minimal" in template_candidates("m")
    (tmp_path / "sub").mkdir()
    (tmp_path / "mylab.yaml").write_text("x: 1\n")
    (tmp_path / "notes.txt").write_text("x\n")
    monkeypatch.chdir(tmp_path)
    assert template_candidates("my") == ["mylab.yaml"]
    assert "sub/" in template_candidates("s") and "notes.txt" not in template_candidates("n")
    assert template_candidates(f"{tmp_path}/my") == [f"{tmp_path}/mylab.yaml"]


def test_shell_asks_pctl_and_gets_library_names(capsys):
    """The protocol the generated scripts use: `_PCTL_COMPLETE=bash_complete` with COMP_WORDS/COMP_CWORD."""
    env = {**os.environ, "_PCTL_COMPLETE": "bash_complete", "COMP_WORDS": "pctl validate bio", "COMP_CWORD": "2"}
    proc = subprocess.run([sys.executable, "-m", "pctl"], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "plain,bioinformatics" in proc.stdout.splitlines()
    env.update(COMP_WORDS="pctl cost templates/mi", COMP_CWORD="2")
    proc = subprocess.run([sys.executable, "-m", "pctl"], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert "plain,templates/minimal.yaml" in proc.stdout.splitlines()
    env.update(COMP_WORDS="pctl comp", COMP_CWORD="1")
    proc = subprocess.run([sys.executable, "-m", "pctl"], env=env, capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    assert "plain,completion" in proc.stdout.splitlines()


# ---- one message on Ctrl-C ---------------------------------------------------------------------------------

def test_ctrl_c_prints_one_message(capsys, monkeypatch):
    from pctl import library

    def interrupted() -> list[str]:
        raise KeyboardInterrupt

    monkeypatch.setattr(library, "names", interrupted)
    rc, out, err = run_main(capsys, "templates", "list")
    assert rc == 130 and out == ""
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    assert "Traceback" not in err


# ---- validate stays light -------------------------------------------------------------------------------------

VALIDATE_AND_LIST_MODULES = (
    "import sys\nfrom pctl.cli import main\n"
    "try:\n    main(['validate', 'minimal'])\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code\n"
    "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'prefect', 'boto3', 'jinja2')"
    " or m == 'importlib.metadata'))"
)


def test_validate_imports_no_rich_and_no_plugin_discovery():
    """validate loads neither rich nor importlib.metadata (pydantic's plugin discovery: see light_pydantic)."""
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    proc = subprocess.run([sys.executable, "-c", VALIDATE_AND_LIST_MODULES], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env=env)
    assert proc.stdout.strip().splitlines()[-1] == "[]", proc.stdout + proc.stderr


def test_plugins_stay_on_when_the_user_says_so():
    """PYDANTIC_DISABLE_PLUGINS set to anything else (even empty) is respected: pydantic's real loader runs."""
    env = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": ""}
    proc = subprocess.run([sys.executable, "-c", VALIDATE_AND_LIST_MODULES], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, env=env)
    assert proc.stdout.strip().splitlines()[-1] == "['importlib.metadata']", proc.stdout + proc.stderr


def test_the_stand_in_loader_hands_over_to_the_real_one(monkeypatch):
    from pctl.cli.commands import _NoPluginLoader

    stand_in = _NoPluginLoader("pydantic.plugin._loader")
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "__all__")
    assert stand_in.get_plugins() == ()
    with pytest.raises(AttributeError):
        stand_in.__path__  # noqa: B018 - the import system's probe must not load anything
    monkeypatch.setitem(sys.modules, "pydantic.plugin._loader", stand_in)
    monkeypatch.setenv("PYDANTIC_DISABLE_PLUGINS", "")
    assert list(stand_in.get_plugins()) == []  # the real loader ran (no plugin is installed here)
    assert sys.modules["pydantic.plugin._loader"] is not stand_in
    assert stand_in.PYDANTIC_ENTRY_POINT_GROUP == "pydantic"


# ---- progress ----------------------------------------------------------------------------------------------

def test_progress_off_a_terminal_is_one_plain_line_per_change(capsys):
    from pctl.cli.output import progress

    ticks = iter([0.0, 2.5, 4.0])
    with progress(live=False) as p:
        p._clock, p._start = (lambda: next(ticks)), 0.0
        p("creating the stack", done=1, total=23)
        p("creating the stack", done=1, total=23)  # the same line again: not repeated
        p("creating the stack", done=5, total=23)
        p.update("stack complete")
    err = capsys.readouterr().err.splitlines()
    assert err == ["[   0.0s] creating the stack (1/23)", "[   2.5s] creating the stack (5/23)",
                   "[   4.0s] stack complete"]


def test_outcome_cells_are_coloured_only_where_colour_is_on(monkeypatch):
    from pctl.cli.output import outcome

    @click.command()
    def show() -> None:
        print_table(("CHECK", "RESULT"), [("module zlib", outcome(True)), ("module fftw", outcome(False))])

    plain = CliRunner().invoke(show, color=True).output
    assert not ANSI.search(plain) and plain.splitlines()[-1].split() == ["module", "fftw", "FAIL"]
    monkeypatch.setenv("FORCE_COLOR", "1")
    coloured = CliRunner().invoke(show, color=True).output
    assert "\x1b[1;31mFAIL" in coloured and "\x1b[32mok" in coloured


def test_the_bash_script_completes_in_bash(tmp_path):
    """Source the generated script in a real bash and call its completion function as bash would."""
    import shutil

    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    launcher = tmp_path / "pctl"  # the script runs `pctl`: this one runs the code under test
    launcher.write_text(f"#!/bin/sh\nexec {sys.executable} -m pctl \"$@\"\n")
    launcher.chmod(0o755)
    script = ('source <(pctl completion bash); COMP_WORDS=(pctl validate bio); COMP_CWORD=2; '
              '_pctl_completion pctl; printf "%s\\n" "${COMPREPLY[@]}"')
    env = {**os.environ, "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    proc = subprocess.run([bash, "-c", script], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert proc.stdout.splitlines() == ["bioinformatics"], proc.stderr
