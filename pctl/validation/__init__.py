"""Template validation: structure (pydantic) plus one validator class per semantic check."""

from __future__ import annotations

from pathlib import Path

from pctl.model.loader import Loaded, load_file, load_text
from pctl.validation.base import offline_validators
from pctl.validation.issues import Issue, Level, Report

__all__ = ["Issue", "Level", "Report", "validate_file", "validate_text", "validate_loaded"]


def validate_loaded(loaded: Loaded) -> Report:
    report = Report(source=loaded.source, issues=list(loaded.issues))
    if loaded.template is not None:
        for validator in offline_validators():
            report.issues.extend(loaded.place(i) for i in validator.check(loaded.template))
    report.issues.sort(key=lambda i: (i.line or 0, i.column or 0, i.level != Level.ERROR))
    return report


def validate_text(text: str, source: str = "<text>") -> tuple[Report, Loaded]:
    loaded = load_text(text, source)
    return validate_loaded(loaded), loaded


def validate_file(path: str | Path) -> tuple[Report, Loaded]:
    loaded = load_file(path)
    return validate_loaded(loaded), loaded
