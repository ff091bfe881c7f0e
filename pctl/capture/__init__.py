"""Capture an existing HPC workload into a pctl template.

`pctl capture script`: batch scripts (Slurm, PBS/Torque, SGE, LSF) -> resources per job, modules ->
Spack specs (pctl/data/spack_mapping.yaml), then ONE template plus a markdown migration report.
`pctl capture remote`: the same from a live cluster over SSH (pctl.capture.remote).

Modules: units (walltime/memory strings), schedulers (directives -> resources), modules (module
lines), mapping (module names -> Spack), script (files -> ScriptCapture), instances (needs -> EC2
type), build (template dict + YAML), report (markdown).
"""

from __future__ import annotations

__all__ = ["capture_scripts"]


def capture_scripts(paths, name: str = "captured", region: str = "us-east-1"):
    """Capture scripts/directories -> (Build, template YAML, report markdown)."""
    from pctl.capture.build import build_template, render_yaml
    from pctl.capture.report import render_report
    from pctl.capture.script import capture_paths

    build = build_template(capture_paths(paths), name=name, region=region)
    return build, render_yaml(build), render_report(build, title=name)
