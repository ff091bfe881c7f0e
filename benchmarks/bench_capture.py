"""Capture throughput: 10,000 varied batch scripts in a temp dir -> one template + report.

    python benchmarks/bench_capture.py [--scripts 10000] [--runs 5] [--profile]

Prints the median wall time of several runs and scripts per second. Target: <= 5 s for 10,000.
Each run starts with cold per-process caches (mapping look-ups), so it measures what a CLI run pays.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pctl.capture.build import build_template, render_yaml  # noqa: E402
from pctl.capture.mapping import map_module  # noqa: E402
from pctl.capture.report import render_report  # noqa: E402
from pctl.capture.script import capture_paths  # noqa: E402

MODULES = [
    "GCC/11.3.0", "gcc/12.2.0", "foss/2022a", "OpenMPI/4.1.4-GCC-11.3.0", "intel/2022a", "impi/2021.6",
    "GROMACS/2023.1-foss-2022a-CUDA-11.7.0", "lammps/2Aug2023", "cuda/12.1", "python3/3.11", "R/4.3.1",
    "SAMtools/1.16.1-GCC-11.3.0", "bwa/0.7.17", "STAR/2.7.10b", "salmon/1.10.1", "gatk/4.4.0.0", "hdf5/1.14",
    "netcdf-fortran/4.6.0", "matlab/R2023a", "ansys/2023R1", "my-lab-tool/2.0", "blast+/2.14.0", "java/17",
    "cp2k/2023.1", "quantum-espresso/7.2", "namd/3.0", "openblas/0.3.23", "fftw/3.3.10", "StdEnv/2023",
]
PARTITIONS = ["short", "long", "GPU_A100", "bigmem", "debug", "Batch.Queue"]


def slurm(rng: random.Random) -> str:
    gpu = rng.random() < 0.2
    lines = ["#!/bin/bash", "#SBATCH --job-name=job", f"#SBATCH -N {rng.randint(1, 8)}",
             f"#SBATCH --ntasks-per-node={rng.choice([1, 4, 16, 32])}", f"#SBATCH -c {rng.choice([1, 2, 4])}",
             f"#SBATCH --mem={rng.choice([4, 16, 64, 180])}G", f"#SBATCH -t {rng.choice(['30', '2:00:00', '1-12:00'])}",
             f"#SBATCH -p {rng.choice(PARTITIONS)}"]
    if gpu:
        lines.append(f"#SBATCH --gres=gpu:a100:{rng.choice([1, 2, 4])}")
    return "\n".join(lines)


def pbs(rng: random.Random) -> str:
    return "\n".join(["#!/bin/bash", f"#PBS -l nodes={rng.randint(1, 4)}:ppn={rng.choice([8, 16, 32])}",
                      f"#PBS -l walltime={rng.randint(1, 48)}:00:00,mem={rng.choice([8, 64])}gb",
                      f"#PBS -q {rng.choice(PARTITIONS)}"])


def sge(rng: random.Random) -> str:
    return "\n".join(["#!/bin/bash", "#$ -cwd", f"#$ -pe smp {rng.choice([1, 4, 8, 16])}",
                      f"#$ -l h_rt=0{rng.randint(1, 9)}:00:00,h_vmem={rng.choice([2, 4, 8])}G", "#$ -q all.q"])


def lsf(rng: random.Random) -> str:
    return "\n".join(["#!/bin/bash", f"#BSUB -n {rng.choice([1, 8, 32])}", f"#BSUB -W {rng.randint(1, 24)}:00",
                      f"#BSUB -q {rng.choice(PARTITIONS)}", '#BSUB -R "rusage[mem=2048] span[ptile=8]"'])


def body(rng: random.Random) -> str:
    lines = ["module purge"] if rng.random() < 0.5 else []
    lines.append("module load " + " ".join(rng.sample(MODULES, rng.randint(1, 4))))
    if rng.random() < 0.5:
        lines.append("ml " + rng.choice(MODULES))
    lines += ["export OMP_NUM_THREADS=$SLURM_CPUS_PER_TASK", "cd $WORKDIR && echo start",
              "srun --mpi=pmix ./a.out input.dat > output.log", "echo done"]
    return "\n".join(lines) + "\n"


def generate(root: Path, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    kinds = [slurm, slurm, slurm, pbs, sge, lsf]
    for i in range(count):
        sub = root / f"group{i % 50:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"job{i:05d}.sh").write_text(rng.choice(kinds)(rng) + "\n" + body(rng))


def run_once(root: Path) -> tuple[float, int]:
    map_module.cache_clear()
    start = time.perf_counter()
    build = build_template(capture_paths([root]), name="bench")
    render_yaml(build)
    render_report(build)
    return time.perf_counter() - start, len(build.capture.scripts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scripts", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile one run and print the top functions")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pctl-bench-capture-") as tmp:
        root = Path(tmp)
        generate(root, args.scripts)
        if args.profile:
            import cProfile
            import pstats

            cProfile.runctx("run_once(root)", globals(), {"root": root, "run_once": run_once}, "/tmp/capture.prof")
            pstats.Stats("/tmp/capture.prof").sort_stats("cumulative").print_stats(25)
            return
        times = []
        for _ in range(args.runs):
            seconds, n = run_once(root)
            times.append(seconds)
        median = statistics.median(times)
        print(f"scripts: {n}  runs: {args.runs}  median: {median:.2f} s  "
              f"(min {min(times):.2f}, max {max(times):.2f})  {n / median:,.0f} scripts/s  "
              f"target <= 5 s: {'met' if median <= 5 else 'MISSED'}")


if __name__ == "__main__":
    main()
