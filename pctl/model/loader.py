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

import yaml
from pydantic import BaseModel, ValidationError

from pctl.model.base import field_for_key, spellings
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
        p = _as_written(tuple(path), self.marks)
        while p:
            if p in self.marks:
                return self.marks[p]
            p = p[:-1]
        return (1, 1) if self.text.strip() else (None, None)

    def place(self, issue: Issue) -> Issue:
        return issue if issue.line else issue.located(*self.locate(issue.path))


# ---- caps: a template is 20-50 lines; anything far past these is a mistake or an attack -------------

MAX_TEMPLATE_BYTES = 256 * 1024  # the library's largest template is ~1.4 kB
MAX_DEPTH = 32  # the model nests 5 levels deep
MAX_NODES = 20_000
MAX_INT_DIGITS = 30  # far past any count, size or id; Python refuses to parse > 4300 digits anyway


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses what a template never needs and an attacker loves.

    - duplicate keys (YAML silently keeps the last one, which hides typos);
    - anchors and aliases (`&a` / `*a`): an 811-byte "billion laughs" expands to gigabytes, and a
      recursive alias makes a self-containing list;
    - a mapping key that is not a plain scalar (`? [a, b]`);
    - nesting deeper than MAX_DEPTH or more than MAX_NODES nodes;
    - integers longer than MAX_INT_DIGITS digits; values a tag cannot construct (a bad `!!timestamp`).

    Every refusal is a MarkedYAMLError, so it reaches the user with its line and column.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:  # type: ignore[override]
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, f"YAML aliases (*{event.anchor}) are not allowed in a template: write the value out",
                event.start_mark)
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(
                None, None, f"YAML anchors (&{event.anchor}) are not allowed in a template: write the value out",
                event.start_mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise yaml.composer.ComposerError(
                None, None, f"the template has more than {MAX_NODES} values", event.start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"the template nests deeper than {MAX_DEPTH} levels", event.start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> yaml.Node:  # type: ignore[override]
        node = super().compose_mapping_node(anchor)
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.composer.ComposerError(
                    None, None, "a mapping key must be a plain name, not a list or a mapping",
                    key_node.start_mark)
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:  # type: ignore[override]
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, OverflowError, ArithmeticError) as exc:
            # e.g. `!!timestamp 2024-13-45`, `!!int abc`, `!!binary` that is not base64
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.tag.rsplit(':', 1)[-1]} value: {reason[:120]}",
                node.start_mark) from None


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    digits = sum(c.isdigit() for c in str(node.value))
    if digits > MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"a number with {digits} digits is far too large for any template field",
            node.start_mark)
    return yaml.SafeLoader.construct_yaml_int(loader, node)


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be a plain name", key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first at line {seen[key].start_mark.line + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_UniqueKeyLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _walk(node: yaml.Node, path: Path, marks: Marks) -> None:
    # Iterative: depth is capped by the loader, but a walk must never be the thing that recurses too far.
    stack: list[tuple[yaml.Node, Path]] = [(node, path)]
    while stack:
        current, where = stack.pop()
        if isinstance(current, yaml.MappingNode):
            for key_node, value_node in current.value:
                child = (*where, key_node.value)
                marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
                stack.append((value_node, child))
        elif isinstance(current, yaml.SequenceNode):
            for index, item in enumerate(current.value):
                child = (*where, index)
                marks[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
                stack.append((item, child))


def _too_large(size: int, source: str) -> Issue:
    return Issue(Level.ERROR, (), f"the template is {size} bytes; pctl reads templates up to {MAX_TEMPLATE_BYTES} bytes",
                 hint="a template is a few dozen lines: is this the right file?", code="too_large", line=1, column=1)


def parse_yaml(text: str, source: str = "") -> Loaded:
    """Parse YAML text; every failure becomes one located Issue instead of an exception.

    Refuses (see _UniqueKeyLoader) aliases, anchors, non-scalar keys, deep nesting, huge numbers and
    text over MAX_TEMPLATE_BYTES, so no input can hang or exhaust memory.
    """
    loaded = Loaded(source=source, text=text, data=None)
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:
        loaded.text = ""
        loaded.issues.append(_too_large(size, source))
        return loaded
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                loaded.data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or str(exc)
        kind = "YAML" if isinstance(exc, (yaml.composer.ComposerError, yaml.constructor.ConstructorError)) \
            else "YAML syntax error"
        loaded.issues.append(
            Issue(Level.ERROR, (), f"{kind}: {problem}", hint="check indentation and quoting on that line",
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
    except (yaml.YAMLError, RecursionError, MemoryError, ValueError, TypeError) as exc:  # unmarked (rare)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        loaded.issues.append(Issue(Level.ERROR, (), f"YAML error: {reason[:200]}", code="yaml", line=1, column=1))
        return loaded
    if node is not None:
        _walk(node, (), loaded.marks)
    return loaded


# ---- pydantic errors -> Issues -----------------------------------------------------------------

@cache
def _alias_groups() -> dict[str, tuple[str, ...]]:
    """Every key -> all spellings of its field, across the template's models (for locating issues)."""
    from pctl.model.template import _models

    models: dict[str, type[BaseModel]] = {}
    _models(Template, models)
    out: dict[str, tuple[str, ...]] = {}
    for model in models.values():
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
        with p.open("rb") as f:  # read at most one byte past the cap: a huge file is never loaded whole
            raw = f.read(MAX_TEMPLATE_BYTES + 1)
        if len(raw) > MAX_TEMPLATE_BYTES:
            loaded = Loaded(source=str(p), text="", data=None)
            loaded.issues.append(_too_large(max(len(raw), _size(p)), str(p)))
            return loaded
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        loaded = Loaded(source=str(p), text="", data=None)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
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
