"""The model's base class and the strict scalar types every section uses.

Values are never coerced: `uid: "2001"` (a string) and `max_count: 1.0e+30` (a float) are refused where
an integer is meant, and `read_only: "yes"` where a boolean is. Two spellings of one field (pctl's short
word and ParallelCluster's) are one field with `alias(...)`; the JSON Schema lists both.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

# No coercion: YAML already gives ints and booleans their type; a quoted "2001" is a mistake.
StrictInt = Annotated[int, Field(strict=True)]
StrictBool = Annotated[bool, Field(strict=True)]


class Strict(BaseModel):
    """Base: unknown keys are errors (they are usually typos), values are not coerced from str."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


def alias(name: str, *others: str, **field: Any) -> Any:
    """A Field that also accepts `others` as its key (the JSON Schema shows every spelling)."""
    return Field(validation_alias=AliasChoices(name, *others), **field)


def spellings(model: type[BaseModel]) -> dict[str, tuple[str, ...]]:
    """Field name -> every key that sets it (the name first), for the fields of `model` that have aliases."""
    out: dict[str, tuple[str, ...]] = {}
    for name, info in model.model_fields.items():
        choices = info.validation_alias
        if isinstance(choices, AliasChoices):
            keys = tuple(str(c) for c in choices.choices if isinstance(c, str))
            out[name] = (name, *(k for k in keys if k != name))
    return out


def field_for_key(model: type[BaseModel], key: str) -> str | None:
    """The field of `model` that the YAML key `key` sets (its name or one of its aliases), or None."""
    if key in model.model_fields:
        return key
    for name, keys in spellings(model).items():
        if key in keys:
            return name
    return None
