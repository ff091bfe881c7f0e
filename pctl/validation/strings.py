"""Every string of the template, whatever its field: no control characters, no line breaks.

Field validators use `re.fullmatch` (a trailing newline never passes a pattern); this check is the net under
them, for free-text fields (description) and any field added later: a value with a newline can turn a
comment of a generated script into a command, or add keys to the generated YAML.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

from pctl.model.template import Template
from pctl.validation.base import Validator
from pctl.validation.issues import Issue, Path


def strings(value: Any, path: Path = ()) -> Iterator[tuple[Path, str]]:
    """(field path, text) for every string in a model: field values, list items, mapping keys and values."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from strings(getattr(value, name), (*path, name))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(key, (*path, key))
            yield from strings(item, (*path, key))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from strings(item, (*path, i))


def bad_character(text: str) -> str | None:
    """The first control, line-break or format character of `text` (as U+XXXX), or None."""
    for ch in text:
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"):
            return f"U+{ord(ch):04X}"
    return None


class ControlCharacterValidator(Validator):
    def check(self, t: Template) -> Iterator[Issue]:
        for path, text in strings(t):
            bad = bad_character(text)
            if bad:
                what = "a line break" if bad in ("U+000A", "U+000D", "U+2028", "U+2029", "U+0085") else f"the control character {bad}"
                yield self.issue(path, f"this value contains {what}",
                                 "write it on one line, without invisible characters (check the quotes)")
