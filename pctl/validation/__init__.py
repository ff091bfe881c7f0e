"""Template validation: structure (pydantic) plus one validator class per semantic check."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pctl.validation.issues import Issue, Level, Report

if TYPE_CHECKING:  # the loader imports pctl.validation.issues: import it lazily to avoid a cycle
    from pctl.model.loader import Loaded

__all__ = ["Issue", "Level", "Report", "validate_file", "validate_text", "validate_loaded"]


def validate_loaded(loaded: Loaded) -> Report:
    from pctl.validation.base import offline_validators

    report = Report(source=loaded.source, issues=list(loaded.issues))
    if loaded.template is not None:
        for validator in offline_validators():
            report.issues.extend(loaded.place(i) for i in validator.check(loaded.template))
    # A line break or control character is the one thing wrong with such a value: the field's own rule
    # refusing the same value says nothing more (one error per cause).
    broken = {i.path for i in report.issues if i.code == "ControlCharacter"}
    report.issues = [i for i in report.issues if i.code == "ControlCharacter" or i.path not in broken]
    report.issues.sort(key=lambda i: (i.line or 0, i.column or 0, i.level != Level.ERROR))
    return report


def validate_text(text: str, source: str = "<text>") -> tuple[Report, Loaded]:
    from pctl.model.loader import load_text

    loaded = load_text(text, source)
    return validate_loaded(loaded), loaded


def validate_file(path: str | Path) -> tuple[Report, Loaded]:
    from pctl.model.loader import load_file

    loaded = load_file(path)
    return validate_loaded(loaded), loaded
