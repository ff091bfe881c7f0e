"""The module -> Spack mapping database and the instance-type suggestion."""

from __future__ import annotations

import pytest
import yaml

from pctl.capture.instances import suggest_instance_type
from pctl.capture.mapping import DATABASE, ModuleMapping, database, map_module
from pctl.instance_types import types
from pctl.validation.rules import spack_spec_problem


def test_database_has_at_least_80_packages_and_every_name_is_a_legal_spec():
    raw = yaml.safe_load(DATABASE.read_text())
    assert len(raw["packages"]) >= 80
    for name in raw["packages"]:
        assert spack_spec_problem(name) is None, name
    for tc in raw["toolchains"].values():
        for specs in [*tc["generations"].values(), tc["unversioned"]]:
            for spec in specs:
                assert spack_spec_problem(spec) is None, spec


def test_aliases_do_not_collide_with_commercial_names():
    db = database()
    assert not set(db.names) & set(db.commercial)


@pytest.mark.parametrize(
    ("module", "spack", "confidence"),
    [
        ("GCC/11.3.0", "gcc@11.3.0", 1.0),
        ("gcc/12", "gcc@12", 1.0),
        ("OpenMPI/4.1.4-GCC-11.3.0", "openmpi@4.1.4", 1.0),
        ("hdf5/1.12.2-gompi-2022a", "hdf5@1.12.2 +mpi", 1.0),
        ("GROMACS/2023.1-foss-2022a-CUDA-11.7.0", "gromacs@2023.1 +cuda +mpi ^cuda@11.7.0", 1.0),
        ("Python/3.10.4-GCCcore-11.3.0", "python@3.10.4", 1.0),
        ("bio/SAMtools/1.16.1-GCC-11.3.0", "samtools@1.16.1", 1.0),
        ("R/4.2.1-foss-2022a", "r@4.2.1", 1.0),
        ("netCDF-Fortran/4.6.0-gompi-2022a", "netcdf-fortran@4.6.0", 1.0),
        ("netcdf/4.9.2", "netcdf-c@4.9.2", 0.95),
        ("lammps/2Aug2023", "lammps@20230802", 1.0),
        ("cuDNN/8.4.1.50-CUDA-11.7.0", "cudnn@8.4.1.50", 1.0),  # no +cuda variant: no ^cuda either
    ],
)
def test_easybuild_and_plain_names(module, spack, confidence):
    m = map_module(module)
    assert m is not None and m.spack == spack and m.confidence == confidence
    assert spack_spec_problem(m.spack) is None


@pytest.mark.parametrize(
    ("module", "package"),
    [
        ("intel/2021.4", "intel-oneapi-compilers@2021.4"),
        ("intel-mpi/2021.6", "intel-oneapi-mpi@2021.6"),
        ("impi", "intel-oneapi-mpi"),
        ("mkl/2023.1", "intel-oneapi-mkl@2023.1"),
        ("imkl", "intel-oneapi-mkl"),
        ("python3/3.11", "python@3.11"),
        ("BLAST+/2.13.0-gompi-2022a", "blast-plus@2.13.0"),
        ("java/17", "openjdk@17"),
        ("SciPy-bundle/2022.05-foss-2022a", "py-scipy"),  # a bundle's version is not scipy's
    ],
)
def test_aliases_score_095(module, package):
    m = map_module(module)
    assert (m.spack, m.confidence) == (package, 0.95)
    assert "alias" in m.note


def test_r_and_openmpi_are_exact_whatever_the_case():
    assert map_module("R").spack == "r" and map_module("R").confidence == 1.0
    assert map_module("OpenMPI").spack == "openmpi"


def test_old_intel_versions_are_dropped_not_passed_to_oneapi():
    m = map_module("intel/19.1")
    assert m.spack == "intel-oneapi-compilers" and "predates" in m.note


def test_foss_toolchain_expands_to_its_generation():
    m = map_module("foss/2022a")
    assert m.kind == "toolchain"
    assert m.all_specs == ("gcc@11.3.0", "openmpi@4.1.4", "openblas@0.3.20", "fftw@3.3.10", "netlib-scalapack@2.2.0")
    assert "toolchain" in m.note and "gcc@11.3.0" in m.note
    assert map_module("foss/2023b").all_specs[0] == "gcc@13.2.0"


def test_unknown_toolchain_generation_keeps_packages_with_lower_confidence():
    m = map_module("foss/2031a")
    assert m.all_specs == ("gcc", "openmpi", "openblas", "fftw", "netlib-scalapack")
    assert m.confidence < 0.95


def test_intel_toolchain_generation_maps_to_oneapi():
    assert map_module("intel/2022a").all_specs == (
        "intel-oneapi-compilers@2022.1.0", "intel-oneapi-mpi@2021.6.0", "intel-oneapi-mkl@2022.1.0")


@pytest.mark.parametrize(
    "module",
    ["matlab", "MATLAB/R2023a", "apps/matlab", "ansys/2023R1", "ansys2023", "abaqus/2022", "comsol/6.1",
     "gaussian/g16", "Gaussian", "g16", "fluent", "stata/18", "mathematica/13.3", "matlb", "star-ccm+/18.02"],
)
def test_commercial_software_is_never_guessed(module):
    m = map_module(module)
    assert isinstance(m, ModuleMapping)
    assert m.spack is None and m.all_specs == () and m.kind == "commercial"
    assert "commercial" in m.note


def test_unknown_software_is_none():
    assert map_module("my-lab-code/1.0") is None
    assert map_module("zz") is None
    assert map_module("") is None


def test_fuzzy_match_is_below_alias_confidence():
    m = map_module("gromcas/2023")
    assert m.spack == "gromacs@2023"
    assert 0 < m.confidence < 0.8 and "fuzzy" in m.note


def test_version_glued_to_the_name():
    assert (map_module("openmpi4").spack, map_module("openmpi4").confidence) == ("openmpi@4", 0.85)
    assert map_module("gcc-12.2.0").spack == "gcc@12.2.0"


def test_site_modules_need_nothing():
    m = map_module("StdEnv/2023")
    assert m.kind == "site" and m.spack is None


# ---- instance types ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("cpus", "memory", "gpus"),
    [(1, 2, 0), (4, 8, 0), (16, 64, 0), (32, 200, 0), (8, 32, 1), (16, 64, 4)],
)
def test_suggestion_fits_and_is_the_cheapest_that_fits(cpus, memory, gpus):
    name, confidence, reason = suggest_instance_type(cpus, memory, gpus)
    facts = types()[name]
    # memory: Slurm schedules 95% of a node's (capture leaves that headroom)
    assert facts["vcpus"] >= cpus and facts["memory_gib"] * 0.95 >= memory and facts["gpus"] >= gpus
    assert (facts["gpus"] > 0) == (gpus > 0) and facts["arch"] == "x86_64"
    cheaper = [n for n, f in types().items() if f["price_usd_hour"] < facts["price_usd_hour"] and f["arch"] == "x86_64"
               and f["vcpus"] >= cpus and f["memory_gib"] * 0.95 >= memory and f["gpus"] >= gpus
               and (f["gpus"] > 0) == (gpus > 0)
               and not n.startswith(("t", "hpc"))]
    assert cheaper == []
    assert 0.6 <= confidence <= 0.95 and name in reason


def test_suggestion_honours_arch_and_gpu_model():
    assert types()[suggest_instance_type(4, 8, arch="arm64")[0]]["arch"] == "arm64"
    assert suggest_instance_type(8, 64, 2, gpu_model="a100")[0].startswith("p4d")


def test_gpu_need_without_a_gpu_type_of_that_arch_is_flagged_not_raised():
    name, confidence, reason = suggest_instance_type(4, 8, 1, arch="arm64")
    assert types()[name]["arch"] == "arm64" and confidence <= 0.1 and "NOT provided" in reason


def test_too_big_for_any_type_gets_low_confidence():
    name, confidence, reason = suggest_instance_type(1000, 10)
    assert confidence < 0.5 and "more nodes" in reason and name in types()
