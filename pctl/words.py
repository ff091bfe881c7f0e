"""Small wording helpers shared by messages everywhere (CLI, flows, reports): counts with plurals."""

from __future__ import annotations


def plural(count: int, word: str, plural_form: str | None = None) -> str:
    """'1 error', '2 errors', '0 warnings'; `plural_form` for irregular words ('1 entry', '2 entries')."""
    return f"{count} {word if count == 1 else (plural_form or word + 's')}"


def counts(errors: int, warnings: int) -> str:
    """'1 error, 2 warnings': the summary a validation message ends with."""
    return f"{plural(errors, 'error')}, {plural(warnings, 'warning')}"
