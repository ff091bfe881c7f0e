"""Load template YAML into the model, keeping the line and column of every key.

PyYAML's composer gives each node a start mark; we walk the node tree once to map every field path
to its position, so every error (pydantic's or a validator's) can name the line the user must edit.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path as FsPath
from typing import Any

from pydantic import BaseModel, ValidationError

from pctl.model import yaml_reader
from pctl.model.base import field_for_key, spellings
from pctl.model.template import Template
from pctl.validation import os_image
from pctl.validation.issues import Issue, Level, Path

Marks = dict[Path, tuple[int, int]]

# The hostile-input caps live in the reader; re-exported here for callers and tests.
MAX_TEMPLATE_BYTES, MAX_DEPTH, MAX_NODES, MAX_INT_DIGITS = (
    yaml_reader.MAX_TEMPLATE_BYTES, yaml_reader.MAX_DEPTH, yaml_reader.MAX_NODES, yaml_reader.MAX_INT_DIGITS)
read_yaml = yaml_reader.read_yaml


class TemplateError(Exception):
    """A template could not be loaded; carries the issues that say why."""

    def __init__(self, issues: list[Issue], source: str = "") -> None:
        self.issues = issues
        self.source = source
        super().__init__("\n".join(i.render(source) for i in issues))


@dataclass
class Loaded:
    """A parsed template: the raw data, the position of every key, and the model (if it built)."""

    source: str
    text: str
    data: Any
    marks: Marks = field(default_factory=dict)
    template: Template | None = None
    issues: list[Issue] = field(default_factory=list)

    def locate(self, path: Path) -> tuple[int | None, int | None]:
        """The position of `path`, or of its nearest ancestor that the YAML has."""
        p = _as_written(tuple(path), self.marks)
        while p:
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return (1, 1) if self.text.strip() else (None, None)

    def place(self, issue: Issue) -> Issue:
        return issue if issue.line else issue.located(*self.locate(issue.path))


def parse_yaml(text: str, source: str = "") -> Loaded:
    """Parse YAML text; every failure becomes one located Issue instead of an exception.

    The reader (pctl.model.yaml_reader) refuses aliases, anchors, non-scalar keys, deep nesting, huge
    numbers and text over MAX_TEMPLATE_BYTES, so no input can hang or exhaust memory.
    """
    read = read_yaml(text)
    loaded = Loaded(source=source, text="" if read.oversize else text, data=read.data)
    loaded.marks.update(read.marks)
    loaded.issues.extend(read.issues)
    return loaded


# ---- pydantic errors -> Issues -----------------------------------------------------------------

@cache
def _alias_groups() -> dict[str, tuple[str, ...]]:
    """Every key -> all spellings of its field, across the template's models (for locating issues)."""
    from pctl.model.template import all_models

    out: dict[str, tuple[str, ...]] = {}
    for model in all_models().values():
        for keys in spellings(model).values():
            for key in keys:
                out[key] = keys
    return out


def _as_written(path: Path, marks: Marks) -> Path:
    """`path` (field names) with each key replaced by the spelling the YAML used (mount_point -> mount_dir)."""
    if path in marks:
        return path
    groups = _alias_groups()
    out: list[str | int] = []
    for part in path:
        chosen = part
        if isinstance(part, str):
            for key in groups.get(part, ()):
                if (*out, key) in marks:
                    chosen = key
                    break
        out.append(chosen)
    return tuple(out)


def _model_at(path: Path) -> type[BaseModel] | None:
    """The pydantic model class that owns the mapping at `path` (to suggest field names)."""
    model: Any = Template
    for part in path:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        name = field_for_key(model, str(part)) if fields else None
        if name is None:
            return None
        model = _inner_model(fields[name].annotation)
        if model is None:
            return None
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found:
            return found
    return None


def _enum_choices(path: Path) -> list[str]:
    """Allowed values for an enum/Literal field, for hints."""
    parent = _model_at(path[:-1]) if path and isinstance(path[-1], str) else None
    name = field_for_key(parent, str(path[-1])) if parent is not None else None
    if parent is None or name is None:
        return []
    return [str(c) for c in _choices(parent.model_fields[name].annotation)]


def _choices(annotation: Any) -> list[Any]:
    import enum
    import typing

    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return [m.value for m in annotation]
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    out: list[Any] = []
    for arg in typing.get_args(annotation):
        out.extend(_choices(arg))
    return out


def _hint_for(err: dict, path: Path, data: Any) -> str | None:
    kind = err["type"]
    if kind == "extra_forbidden" and path:
        model = _model_at(path[:-1])
        if model is not None:
            name = field_for_key(model, str(path[-1]))
            if name is not None:  # a second spelling of a field already given
                return f"`{path[-1]}` is another spelling of `{name}`: write it once"
            known = [k for f in model.model_fields for k in spellings(model).get(f, (f,))]
            close = difflib.get_close_matches(str(path[-1]), known, n=1, cutoff=0.6)
            if close:
                return f"did you mean `{close[0]}`?"
            return "known fields here: " + ", ".join(known)
    if kind == "missing" and path:
        return f"add `{path[-1]}:` here"
    if kind in ("enum", "literal_error") and path:
        choices = _enum_choices(path)
        value = err.get("input")
        if choices and isinstance(value, str):
            close = difflib.get_close_matches(value.lower(), [str(c) for c in choices], n=1, cutoff=0.5)
            if close:
                return f"did you mean `{close[0]}`? (one of: {', '.join(map(str, choices))})"
        if choices:
            return "one of: " + ", ".join(map(str, choices))
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "write a whole number without quotes"
    if kind in ("bool_type", "bool_parsing"):
        return "write true or false, without quotes"
    if kind in ("string_type",):
        return "write this value as text (quote it if YAML reads it as a number or boolean)"
    if kind in ("list_type",):
        return "write a YAML list: one `- item` per line, or [a, b]"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "write a mapping of `key: value` lines here"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal"):
        return "change the number to satisfy the bound"
    if kind == "too_short":
        return "give at least one entry"
    if kind == "too_long":
        return "remove entries: this list has a limit (see docs/template.md)"
    if kind == "bool_or_s3":
        return "true keeps the cache in pctl's bucket, false turns it off, s3://my-lab-spack-cache names your bucket"
    if kind in ("float_type", "float_parsing"):
        return "write a number without quotes"
    return "see docs/template.md (or `pctl schema`) for what this field takes"


def _friendly(err: dict) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    msg = err["msg"]
    return msg[0].lower() + msg[1:] if msg else kind


def pydantic_issues(exc: ValidationError, data: Any) -> list[Issue]:
    issues = []
    for err in exc.errors(include_url=False):
        path: Path = tuple(err["loc"])
        issues.append(_refused_os(err, path, data)
                      or Issue(Level.ERROR, path, _friendly(err), _hint_for(err, path, data), code=err["type"]))
    return issues


def _refused_os(err: dict, path: Path, data: Any) -> Issue | None:
    """rocky8/rocky9 are not in the enum: say why (no official image) and which OS to use instead."""
    if path != os_image.PATH or err["type"] != "literal_error":
        return None
    cluster = data.get("cluster") if isinstance(data, dict) else None
    return os_image.refusal(err.get("input"), cluster.get("platform") if isinstance(cluster, dict) else None)


# What a YAML document that is not a mapping reads as, in words (a list, a string, a number, ...).
_WHAT_YAML_READ: dict[type, str] = {list: "a list", str: "plain text", int: "a number",
                                    float: "a number", bool: "a true/false value"}


def load_text(text: str, source: str = "") -> Loaded:
    """Parse and build the model; structural problems are collected, never raised."""
    loaded = parse_yaml(text, source)
    if loaded.issues:
        return loaded
    if not isinstance(loaded.data, dict):
        what = _WHAT_YAML_READ.get(type(loaded.data), "a single value") if loaded.data is not None else "empty"
        loaded.issues.append(
            Issue(Level.ERROR, (), f"a template must be a YAML mapping of `key: value` lines, this one is {what}",
                  hint="start from `pctl templates show starter`", code="not_mapping", line=1, column=1)
        )
        return loaded
    try:
        loaded.template = Template.model_validate(loaded.data)
    except ValidationError as exc:
        loaded.issues.extend(loaded.place(i) for i in pydantic_issues(exc, loaded.data))
    return loaded


def load_file(path: str | FsPath) -> Loaded:
    p = FsPath(path)
    try:
        with p.open("rb") as f:  # read at most one byte past the cap: a huge file is never loaded whole
            raw = f.read(MAX_TEMPLATE_BYTES + 1)
        if len(raw) > MAX_TEMPLATE_BYTES:
            loaded = Loaded(source=str(p), text="", data=None)
            loaded.issues.append(yaml_reader.too_large(max(len(raw), _size(p))))
            return loaded
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        loaded = Loaded(source=str(p), text="", data=None)
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        loaded.issues.append(Issue(
            Level.ERROR, (), f"this is not a UTF-8 text file (byte 0x{raw[exc.start]:02x} cannot be read as text)",
            hint="is this the template? A template is YAML text: save it as UTF-8 (plain text) in your editor",
            code="not_text", line=line, column=column))
        return loaded
    except OSError as exc:
        loaded = Loaded(source=str(p), text="", data=None)
        reason = exc.strerror or str(exc)
        loaded.issues.append(Issue(Level.ERROR, (), f"cannot read template: {reason}",
                                   hint="check the path (`pctl templates list` shows the library)", code="io"))
        return loaded
    return load_text(text, str(p))


def _size(p: FsPath) -> int:
    try:
        return p.stat().st_size
    except OSError:
        return 0


def load_template(path: str | FsPath) -> Template:
    """Load a template or raise TemplateError with located issues (for programmatic callers)."""
    loaded = load_file(path)
    if loaded.template is None:
        raise TemplateError(loaded.issues, loaded.source)
    return loaded.template
