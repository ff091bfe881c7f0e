"""`pctl capture script`: directives of each scheduler, module lines, JSON shape, aggregation, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from pctl.capture import units
from pctl.capture.build import build_template, queue_name, render_yaml
from pctl.capture.mapping import map_module
from pctl.capture.report import render_report
from pctl.capture.script import capture_paths, read_script
from pctl.cli import cli
from pctl.validation import validate_text
from pctl.validation.rules import QUEUE_NAME_MAX, QUEUE_NAME_RE, spack_spec_problem

SCRIPTS = Path(__file__).parent / "data" / "scripts"


def resources(text: str) -> dict:
    return read_script(text).resources.to_dict()


def modules(body: str) -> list[str]:
    return read_script("#!/bin/bash\n" + body).modules


# ---- walltime formats ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("text", "minutes"),
    [("30", 30), ("30:30", 31), ("2:00:00", 120), ("1-0", 1440), ("1-12", 2160), ("1-12:30", 2190),
     ("1-12:30:01", 2191), ("UNLIMITED", None), ("infinite", None), ("abc", None)],
)
def test_every_slurm_time_format(text, minutes):
    assert units.slurm_minutes(text) == minutes


@pytest.mark.parametrize(("text", "minutes"), [("48:00:00", 2880), ("3600", 60), ("01:30", 2), ("1:00:00:00", 1440)])
def test_pbs_sge_clock(text, minutes):
    assert units.clock_minutes(text) == minutes


# ---- directives, table-driven per scheduler ---------------------------------------------------------

DIRECTIVES = [
    # Slurm: long/short, --opt=val and --opt val, every resource
    ("slurm", "#SBATCH -N 2\n#SBATCH -n 64\n#SBATCH -t 1:00:00\n#SBATCH -p Batch",
     {"nodes": 2, "cpus": 64, "cpus_per_node": 32, "walltime_minutes": 60, "queue": "Batch"}),
    ("slurm", "#SBATCH --nodes 3 --ntasks-per-node=4 --cpus-per-task 2\n#SBATCH --mem=16000",
     {"nodes": 3, "cpus": 24, "cpus_per_node": 8, "memory_gb": 15.62}),
    ("slurm", "#SBATCH -n4\n#SBATCH -c 2\n#SBATCH --mem-per-cpu=2G\n#SBATCH --time=2-00",
     {"nodes": 1, "cpus": 8, "memory_gb": 16.0, "walltime_minutes": 2880}),
    ("slurm", "#SBATCH --gres=gpu:2\n#SBATCH --partition=gpu", {"gpus": 2, "queue": "gpu"}),
    ("slurm", "#SBATCH --gres=gpu:a100:4 -N 2", {"gpus": 4, "gpu_type": "a100", "nodes": 2}),
    ("slurm", "#SBATCH --gpus=8\n#SBATCH --nodes=2", {"gpus": 4}),
    ("slurm", "#SBATCH -G v100:2", {"gpus": 2, "gpu_type": "v100"}),
    ("slurm", '#SBATCH --job-name="a b" --time=15  # a comment\n#SBATCH --exclusive', {"walltime_minutes": 15}),
    ("slurm", "#SBATCH -p short,long", {"queue": "short"}),
    # PBS / Torque
    ("pbs", "#PBS -l nodes=2:ppn=16\n#PBS -l walltime=12:00:00\n#PBS -q batch",
     {"nodes": 2, "cpus_per_node": 16, "cpus": 32, "walltime_minutes": 720, "queue": "batch"}),
    ("pbs", "#PBS -l select=4:ncpus=32:mem=128gb:ngpus=2\n#PBS -l walltime=01:00:00",
     {"nodes": 4, "cpus_per_node": 32, "memory_gb": 128.0, "gpus": 2}),
    ("pbs", "#PBS -l nodes=1:ppn=8,walltime=02:00:00,mem=32gb\n#PBS -q long@server1",
     {"cpus_per_node": 8, "walltime_minutes": 120, "memory_gb": 32.0, "queue": "long"}),
    ("pbs", "#PBS -l nodes=2:ppn=4,mem=64gb", {"memory_gb": 32.0}),  # -l mem is for the whole job
    # SGE
    ("sge", "#$ -pe smp 8\n#$ -l h_rt=04:00:00,h_vmem=4G\n#$ -q all.q",
     {"nodes": 1, "cpus": 8, "memory_gb": 32.0, "walltime_minutes": 240, "queue": "all.q"}),
    ("sge", "#$ -cwd\n#$ -pe mpi 128\n#$ -l h_rt=3600", {"nodes": 2, "cpus": 128, "walltime_minutes": 60}),
    ("sge", "#$ -l gpu=2\n#$ -q gpu.q@node01", {"gpus": 2, "queue": "gpu.q"}),
    # LSF
    ("lsf", '#BSUB -n 16\n#BSUB -W 2:30\n#BSUB -q normal\n#BSUB -R "rusage[mem=4096]"',
     {"cpus": 16, "walltime_minutes": 150, "queue": "normal", "memory_gb": 64.0}),
    ("lsf", '#BSUB -n 64\n#BSUB -R "span[ptile=16]"\n#BSUB -W 45', {"nodes": 4, "cpus_per_node": 16, "walltime_minutes": 45}),
    ("lsf", '#BSUB -gpu "num=2:mode=exclusive_process"\n#BSUB -x', {"gpus": 2}),
    ("lsf", '#BSUB -R "rusage[mem=8GB] span[hosts=1]"\n#BSUB -n 4', {"nodes": 1, "memory_gb": 32.0}),
]


@pytest.mark.parametrize(("scheduler", "text", "expected"), DIRECTIVES)
def test_directives(scheduler, text, expected):
    script = read_script("#!/bin/bash\n" + text + "\necho run\n")
    assert script.scheduler == scheduler
    got = script.resources.to_dict()
    assert {k: got[k] for k in expected} == expected


def test_directives_after_the_first_command_are_ignored_like_slurm_does():
    script = read_script("#!/bin/bash\n#SBATCH -n 2\nhostname\n#SBATCH -n 99\n")
    assert script.resources.cpus == 2
    assert any("after the first command" in a for a in script.assumptions)


def test_disabled_directive_and_no_scheduler():
    script = read_script("#!/bin/bash\n# SBATCH -n 99\n##SBATCH -n 98\nmodule load gcc\n")
    assert script.scheduler == "none" and script.resources.cpus == 1


# ---- module lines ------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("body", "loaded"),
    [
        ("module load a b c", ["a", "b", "c"]),
        ("module add gcc/12", ["gcc/12"]),
        ("ml gcc openmpi", ["gcc", "openmpi"]),
        ("module load gcc\nmodule purge\nmodule load hdf5", ["hdf5"]),
        ("ml gcc\nml purge\nml samtools", ["samtools"]),
        ("ml gcc openmpi\nml -gcc", ["openmpi"]),
        ("ml av\nml avail gcc\nml spider hdf5\nml", []),
        ("module load gcc/11\nmodule load gcc/12", ["gcc/12"]),
        ("module load openmpi\nsrun --mpi=pmix ./a.out", ["openmpi"]),
        ("module load gcc/12 && export X=1", ["gcc/12"]),
        ("export X=1; module load gcc/12", ["gcc/12"]),
        ("echo html xml yaml\nmlflow run .\nhtml2text x\npython -m ml train", []),
        ("module load gcc # the compiler\n", ["gcc"]),
        ("module unload gcc\nmodule load gcc/12 openmpi\nmodule unload gcc", ["openmpi"]),
        ("module swap gcc/11 gcc/12", ["gcc/12"]),
        ("module load gcc/11\nmodule switch gcc gcc/12", ["gcc/12"]),
        ("module --ignore-cache load hdf5", ["hdf5"]),
        ("if true; then module load cuda; fi", ["cuda"]),
        ("module load \\\n  gcc \\\n  openmpi", ["gcc", "openmpi"]),
        ("VER=12.2.0\nmodule load gcc/$VER", ["gcc/12.2.0"]),
        ("module load gcc/${UNSET}", []),
        ('echo "module load fake"', []),
        ("ml unload gcc\nml load gcc/13", ["gcc/13"]),
    ],
)
def test_module_lines(body, loaded):
    assert modules(body) == loaded


def test_unresolved_variable_is_noted():
    script = read_script("module load app/$V\n")
    assert any("shell variable" in a for a in script.assumptions)


# ---- JSON and aggregation -----------------------------------------------------------------------

def test_json_shape():
    script = read_script(
        "#SBATCH -n 2\nmodule load foss/2022a matlab/R2023a my-code/1.0 StdEnv/2023\n", "job.sh").to_dict()
    assert set(script) == {"path", "scheduler", "resources", "modules", "unmapped"}
    assert set(script["resources"]) >= {"nodes", "cpus", "cpus_per_node", "memory_gb", "gpus", "walltime_minutes", "queue"}
    for row in script["modules"]:
        assert set(row) == {"module", "spack", "confidence"}
    foss = [r["spack"] for r in script["modules"] if r["module"] == "foss/2022a"]
    assert foss == ["gcc@11.3.0", "openmpi@4.1.4", "openblas@0.3.20", "fftw@3.3.10", "netlib-scalapack@2.2.0"]
    assert script["unmapped"] == ["matlab/R2023a", "my-code/1.0"]


def test_directory_aggregates_into_one_valid_template():
    capture = capture_paths([SCRIPTS])
    assert len(capture.scripts) == 6
    skipped = {Path(p).name for p, _ in capture.skipped}
    assert skipped == {"README.md", "helper.sh"}
    assert {s.scheduler for s in capture.scripts} == {"slurm", "pbs", "sge", "lsf"}
    build = build_template(capture, name="lab")
    text = render_yaml(build)
    report, loaded = validate_text(text, "captured.yaml")
    assert report.ok(strict=True), report.render()
    t = loaded.template
    names = [q.name for q in t.compute.queues]
    assert len(names) == len(set(names))
    assert all(QUEUE_NAME_RE.match(n) and len(n) <= QUEUE_NAME_MAX for n in names)
    assert "long-queue" in names and "gpu-a100" in names
    gpu = next(q for q in t.compute.queues if q.name == "gpu-a100")
    assert gpu.instance_types == ["p4d.24xlarge"]  # a100 asked for
    lammps_queue = next(q for q in t.compute.queues if q.name == "long-queue")
    assert lammps_queue.max_count >= 4  # the widest job there has 4 nodes
    specs = t.software.spack_packages
    assert all(spack_spec_problem(s) is None for s in specs)
    assert "gromacs@2023.1 +cuda +mpi ^cuda@11.7.0" in specs
    assert "lammps@20230802" in specs and "blast-plus@2.14.0" in specs
    assert not any(s.startswith(("matlab", "comsol", "python")) for s in specs)  # python3 was unloaded by `ml -python3`
    assert len({s.split("@")[0].split()[0] for s in specs}) == len(specs)  # one spec per package
    assert yaml.safe_load(text) == build.template


def test_highest_version_wins_when_scripts_disagree(tmp_path):
    (tmp_path / "a.sh").write_text("#SBATCH -n 1\nmodule load gcc/11.3.0\n")
    (tmp_path / "b.sh").write_text("#SBATCH -n 1\nmodule load gcc/12.2.0\n")
    (tmp_path / "c.sh").write_text("#SBATCH -n 1\nmodule load gcc/9.5.0\n")
    build = build_template(capture_paths([tmp_path]))
    assert build.packages == ["gcc@12.2.0"]
    assert any("gcc: versions 9.5.0, 11.3.0, 12.2.0" in a for a in build.assumptions)


@pytest.mark.parametrize(("raw", "expected"), [("GPU_A100", "gpu-a100"), ("1batch", "q-1batch"), (None, "compute"),
                                               ("a-very-long-partition-name-for-things", "a-very-long-partition-nam")])
def test_queue_names_are_pcluster_legal(raw, expected):
    assert queue_name(raw, set()) == expected


def test_queue_names_stay_unique_after_cleaning(tmp_path):
    (tmp_path / "a.sh").write_text("#SBATCH -p Short\n")
    (tmp_path / "b.sh").write_text("#SBATCH -p short_\n")
    names = [q["name"] for q in build_template(capture_paths([tmp_path])).template["compute"]["queues"]]
    assert names == ["short", "short-2"]


def test_report_lists_mappings_unmapped_and_assumptions():
    build = build_template(capture_paths([SCRIPTS]), name="lab")
    md = render_report(build, "lab")
    assert "| `GROMACS/2023.1-foss-2022a-CUDA-11.7.0` | `gromacs@2023.1 +cuda +mpi ^cuda@11.7.0` | 1.00 |" in md
    assert "`matlab/R2023a`" in md.split("## Unmapped")[1].split("## Assumptions")[0]
    assert "`comsol/6.1`" in md.split("## Unmapped")[1]
    assert "LSF rusage[mem] read as MB per slot" in md
    assert "README.md: not a script" in md


def test_empty_directory_is_a_clear_error(tmp_path):
    from pctl.errors import PctlError

    with pytest.raises(PctlError, match="no batch scripts"):
        build_template(capture_paths([tmp_path]))


# ---- issue 10: more real scripts -------------------------------------------------------------------------

@pytest.mark.parametrize(("line", "modules"), [
    ("module load gcc/11.2.0 openmpi/4.1.1 > /dev/null 2>&1", ["gcc/11.2.0", "openmpi/4.1.1"]),
    ("module try-load x 2>/dev/null", ["x"]),
    ("ml gcc/12 &>/dev/null", ["gcc/12"]),
    ("module load hdf5 >>load.log 2>&1 &", ["hdf5"]),
    ("module load a 1>&2 b", ["a", "b"]),
    ("module load fftw < /dev/null", ["fftw"]),
])
def test_redirections_after_module_load_are_not_module_names(line, modules):
    assert read_script(line).modules == modules


def test_torque_procs_and_pmem_are_read_and_the_rest_is_said():
    script = read_script("#!/bin/bash\n#PBS -l procs=48,pmem=4gb,walltime=12:00:00\n"
                         "#PBS -l naccesspolicy=singlejob,gres=matlab\n#PBS -l vmem=200gb\n")
    r = script.resources
    assert (r.cpus, r.cpus_per_node, r.memory_gb, r.walltime_minutes) == (48, 48, 192.0, 720)
    said = " | ".join(script.assumptions)
    assert "procs=48" in said
    assert "naccesspolicy=singlejob" in said and "gres=matlab not understood" in said and "vmem=200gb" in said


@pytest.mark.parametrize(("module", "spec"), [
    # Spack's module generators: name/version/compiler[/mpi]/hash, and the flat tcl form
    ("gromacs/2023.1/gcc-12.2.0/openmpi-4.1.5/x7yq2ab", "gromacs@2023.1 +mpi"),
    ("hdf5/1.14.1/gcc/12.2.0/openmpi/4.1.5", "hdf5@1.14.1 +mpi"),
    ("fftw/3.3.10/gcc-12.2.0/abcdefg", "fftw@3.3.10"),
    ("netcdf-c/4.9.2-gcc-12.2.0-openmpi-4.1.5-x7yq2ab", "netcdf-c@4.9.2 +mpi"),
    ("gromacs-2023.1-gcc-12.2.0-x7yq2ab", "gromacs@2023.1"),
    ("gromacs/2023.1-oneapi-2023.1.0-intel-oneapi-mpi-2021.9.0-x7yq2ab", "gromacs@2023.1 +mpi"),
    # EasyBuild: name/version-toolchain
    ("GROMACS/2023.1-foss-2022a", "gromacs@2023.1 +mpi"),
    ("HDF5/1.12.2-gompi-2022a", "hdf5@1.12.2 +mpi"),
])
def test_spack_and_easybuild_module_names_map_to_the_package_not_the_compiler_or_mpi(module, spec):
    m = map_module(module)
    assert m is not None and m.spack == spec, (module, m)


def test_walltime_prints_as_hours_and_minutes():
    from pctl.capture.report import walltime

    assert [walltime(m) for m in (720, 5, 2925, None)] == ["12h 00m", "0h 05m", "2d 00h 45m", "-"]


def test_report_shows_walltime_in_hours_and_minutes(tmp_path):
    job = tmp_path / "job.sh"
    job.write_text("#!/bin/bash\n#SBATCH --time=12:00:00\n#SBATCH -n 2\n")
    md = render_report(build_template(capture_paths([job])))
    assert "12h 00m" in md and "12:00" not in md


def test_a_queue_leaves_memory_headroom(tmp_path):
    """A job asking for 128 GB does not get a node with 128 GiB: Slurm schedules 95% of it."""
    from pctl.instance_types import info

    job = tmp_path / "job.sh"
    job.write_text("#!/bin/bash\n#SBATCH --mem=128G\n#SBATCH -c 16\n")
    build = build_template(capture_paths([job]))
    (q,) = build.template["compute"]["queues"]
    facts = info(q["instance_types"][0])
    assert facts["memory_gib"] > 128 and facts["memory_gib"] * 0.95 >= 128 and facts["vcpus"] >= 16
    assert any("memory headroom" in a for a in build.assumptions)


def test_captured_types_are_offered_in_the_templates_region(tmp_path):
    from pctl.instance_types import offered_in

    job = tmp_path / "job.sh"
    job.write_text("#!/bin/bash\n#SBATCH -N 4 --ntasks-per-node=96\n#SBATCH --mem=300G\n")
    for region in ("us-east-1", "eu-west-1", "ap-southeast-2"):
        build = build_template(capture_paths([job]), region=region)
        assert offered_in(build.template["compute"]["queues"][0]["instance_types"][0], region)
        render_yaml(build)  # validates (types known and offered)


# ---- CLI -------------------------------------------------------------------------------------------------

def test_cli_writes_a_template_that_pctl_validate_accepts(tmp_path):
    out, report = tmp_path / "t.yaml", tmp_path / "r.md"
    runner = CliRunner()
    result = runner.invoke(cli, ["capture", "script", str(SCRIPTS), "-o", str(out), "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "captured 6 scripts" in result.stderr and "matlab/R2023a" in result.stderr
    assert "# Migration report" in report.read_text()
    result = runner.invoke(cli, ["validate", str(out)])
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(out.read_text())["cluster"]["name"] == "scripts"


def test_cli_json(tmp_path):
    result = CliRunner().invoke(cli, ["capture", "script", str(SCRIPTS / "slurm" / "rnaseq.sh"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"schema", "scripts", "template"} and data["schema"] == "pctl.capture-script/v1"
    (script,) = data["scripts"]
    assert script["scheduler"] == "slurm" and script["resources"]["memory_gb"] == 64.0
    assert [m["module"] for m in script["modules"]] == ["STAR/2.7.10b-GCC-11.3.0", "SAMtools/1.16.1-GCC-11.3.0",
                                                        "salmon", "matlab/R2023a"]
    assert script["unmapped"] == ["matlab/R2023a"]
    assert data["template"]["compute"]["queues"][0]["name"] == "bio"


def test_cli_prints_yaml_without_output_and_errors_cleanly_on_missing_path(tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["capture", "script", str(SCRIPTS / "sge" / "blast.sh")])
    assert result.exit_code == 0 and yaml.safe_load(result.stdout)["compute"]["queues"][0]["name"] == "all-q"
    result = runner.invoke(cli, ["capture", "script", str(tmp_path / "nope.sh")])
    assert result.exit_code != 0 and "no such file" in str(result.exception)


def test_cli_names_what_it_left_unmapped_on_stderr_when_the_template_goes_to_stdout(tmp_path):
    """Issue 10: unmapped modules are always named; stdout stays a template that parses."""
    script = tmp_path / "job.sh"
    script.write_text("#!/bin/bash\n#SBATCH -n 4\nmodule load gcc/12.2.0 matlab/R2023a mysterytool/1.0\n")
    result = CliRunner().invoke(cli, ["capture", "script", str(script)])
    assert result.exit_code == 0, result.output
    assert "matlab/R2023a" in result.stderr and "mysterytool/1.0" in result.stderr
    assert "unmapped (2" in result.stderr
    template = yaml.safe_load(result.stdout)
    assert "mysterytool" not in result.stdout.split("spack_packages")[-1]
    assert template["software"]["spack_packages"] == ["gcc@12.2.0"]


def test_cli_remote_requires_user_at_host():
    result = CliRunner().invoke(cli, ["capture", "remote", "justahost", "-o", "t.yaml"])
    assert result.exit_code != 0 and "USER@HOST" in str(result.exception)


# ---- robustness ----------------------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_LINE = st.one_of(
    st.text(max_size=40),
    st.builds(lambda p, t: f"{p} {t}", st.sampled_from(["#SBATCH", "#PBS", "#$", "#BSUB", "module load", "ml"]),
              st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=30)),
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_LINE, max_size=12))
def test_any_text_reads_without_error_and_yields_only_legal_specs(lines):
    script = read_script("\n".join(lines))
    for mapping in script.mappings:
        for spec in mapping.all_specs if mapping else ():
            assert spack_spec_problem(spec) is None
    assert script.resources.nodes >= 1 and script.resources.cpus_per_node >= 1
