"""Load template YAML into the model, keeping the line and column of every key.

PyYAML's composer gives each node a start mark; we walk the node tree once to map every field path
to its position, so every error (pydantic's or a validator's) can name the line the user must edit.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from pctl.model.template import Template
from pctl.validation.issues import Issue, Level, Path

Marks = dict[Path, tuple[int, int]]


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
        p = tuple(path)
        while p:
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return (1, 1) if self.text.strip() else (None, None)

    def place(self, issue: Issue) -> Issue:
        return issue if issue.line else issue.located(*self.locate(issue.path))


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: YAML silently keeps the last one, which hides typos."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _walk(node: yaml.Node, path: Path, marks: Marks) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            child = (*path, key)
            marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _walk(value_node, child, marks)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*path, index)
            marks[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _walk(item, child, marks)


def parse_yaml(text: str, source: str = "") -> Loaded:
    """Parse YAML text; syntax errors become one located Issue instead of an exception."""
    loaded = Loaded(source=source, text=text, data=None)
    try:
        node = yaml.compose(text, Loader=_UniqueKeyLoader)
        loaded.data = yaml.load(text, Loader=_UniqueKeyLoader) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or str(exc)
        loaded.issues.append(
            Issue(Level.ERROR, (), f"YAML syntax error: {problem}", hint="check indentation and quoting on that line",
                  code="yaml", line=line, column=col)
        )
        return loaded
    except yaml.reader.ReaderError as exc:  # control characters: no mark, but a character position
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        loaded.issues.append(
            Issue(Level.ERROR, (), f"YAML cannot contain the control character U+{char:04X}",
                  hint="delete it (it often comes from copy-paste)", code="yaml", line=line, column=column)
        )
        return loaded
    except yaml.YAMLError as exc:  # other unmarked errors (rare)
        loaded.issues.append(Issue(Level.ERROR, (), f"YAML error: {exc}", code="yaml", line=1, column=1))
        return loaded
    if node is not None:
        _walk(node, (), loaded.marks)
    return loaded


# ---- pydantic errors -> Issues -----------------------------------------------------------------

def _model_at(path: Path) -> type[BaseModel] | None:
    """The pydantic model class that owns the mapping at `path` (to suggest field names)."""
    model: Any = Template
    for part in path:
        if isinstance(part, int):
            continue
        fields = getattr(model, "model_fields", None)
        if not fields or part not in fields:
            return None
        model = _inner_model(fields[part].annotation)
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
    if parent is None or path[-1] not in parent.model_fields:
        return []
    return [str(c) for c in _choices(parent.model_fields[path[-1]].annotation)]


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
            known = list(model.model_fields)
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
    return None


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
        issues.append(Issue(Level.ERROR, path, _friendly(err), _hint_for(err, path, data), code=err["type"]))
    return issues


def load_text(text: str, source: str = "") -> Loaded:
    """Parse and build the model; structural problems are collected, never raised."""
    loaded = parse_yaml(text, source)
    if loaded.issues:
        return loaded
    if not isinstance(loaded.data, dict):
        what = "empty" if loaded.data is None else type(loaded.data).__name__
        loaded.issues.append(
            Issue(Level.ERROR, (), f"a template must be a YAML mapping, this one is {what}",
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
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        loaded = Loaded(source=str(p), text="", data=None)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        loaded.issues.append(Issue(Level.ERROR, (), f"cannot read template: {reason}",
                                   hint="check the path (`pctl templates list` shows the library)", code="io"))
        return loaded
    return load_text(text, str(p))


def load_template(path: str | FsPath) -> Template:
    """Load a template or raise TemplateError with located issues (for programmatic callers)."""
    loaded = load_file(path)
    if loaded.template is None:
        raise TemplateError(loaded.issues, loaded.source)
    return loaded.template
