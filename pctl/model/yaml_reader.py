"""The safe YAML reader for templates (issue 14): caps and refusals against hostile input, and the
line/column of every key.

PyYAML's composer gives each node a start mark; the node tree is walked once to map every field path to
its position. `_UniqueKeyLoader` refuses duplicate keys, anchors and aliases (an 811-byte alias bomb
expands to gigabytes), non-scalar keys, deep nesting, too many nodes and huge integers; every refusal and
every constructor failure is a located Issue. Input is capped at MAX_TEMPLATE_BYTES.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from pctl.validation.issues import Issue, Level, Path

Marks = dict[Path, tuple[int, int]]


@dataclass
class Read:
    """What the reader made of a text: the data, the position of every key, the refusals."""

    data: Any = None
    marks: Marks = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    oversize: bool = False


# ---- caps: a template is 20-50 lines; anything far past these is a mistake or an attack -------------

MAX_TEMPLATE_BYTES = 256 * 1024  # the library's largest template is ~1.4 kB
MAX_DEPTH = 32  # the model nests 5 levels deep
MAX_NODES = 20_000
MAX_INT_DIGITS = 30  # far past any count, size or id; Python refuses to parse > 4300 digits anyway


_WRITE_OUT_HINT = ("write the value out in full wherever it is used; pctl refuses YAML's shortcuts because a few "
                   "hundred bytes of aliases can expand to gigabytes (the 'billion laughs' attack)")


_WRONG_FILE_HINT = "a template is a few dozen lines: is this the right file?"


class _Refusal(yaml.composer.ComposerError):
    """Something the reader refuses on purpose (not a syntax slip), with the hint that fits it."""

    def __init__(self, problem: str, mark: Any, hint: str) -> None:
        super().__init__(None, None, problem, mark)
        self.hint = hint


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
            raise _Refusal(f"YAML aliases (*{event.anchor}) are not allowed in a template",
                           event.start_mark, _WRITE_OUT_HINT)
        if getattr(event, "anchor", None) is not None:
            raise _Refusal(f"YAML anchors (&{event.anchor}) are not allowed in a template",
                           event.start_mark, _WRITE_OUT_HINT)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise _Refusal(f"the template has more than {MAX_NODES} values", event.start_mark, _WRONG_FILE_HINT)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _Refusal(f"the template nests deeper than {MAX_DEPTH} levels", event.start_mark,
                               _WRONG_FILE_HINT)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> yaml.Node:  # type: ignore[override]
        node = super().compose_mapping_node(anchor)
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise _Refusal("YAML merge keys (<<) are not allowed in a template", key_node.start_mark,
                               "write each key of the merged mapping out here instead")
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Refusal("a mapping key must be a plain name, not a list or a mapping", key_node.start_mark,
                               "write the key as a plain name followed by a colon (`name: value`)")
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:  # type: ignore[override]
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except Exception as exc:  # any constructor failure (ValueError, AttributeError, ...) is a located error
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


def too_large(size: int) -> Issue:
    return Issue(Level.ERROR, (), f"the template is {size} bytes; pctl reads templates up to {MAX_TEMPLATE_BYTES} bytes",
                 hint=_WRONG_FILE_HINT, code="too_large", line=1, column=1)


def read_yaml(text: str) -> Read:
    """Parse YAML text; every failure becomes one located Issue in ``Read.issues``, never an exception."""
    read = Read()
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEMPLATE_BYTES:
        read.oversize = True
        read.issues.append(too_large(size))
        return read
    try:
        loader = _UniqueKeyLoader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                read.data = loader.construct_document(node)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        problem = exc.problem or str(exc)
        if isinstance(exc, _Refusal):
            message, hint = problem, exc.hint
        else:
            kind = "YAML" if isinstance(exc, (yaml.composer.ComposerError, yaml.constructor.ConstructorError)) \
                else "YAML syntax error"
            message, hint = f"{kind}: {problem}", "check indentation and quoting on that line"
        read.issues.append(Issue(Level.ERROR, (), message, hint=hint, code="yaml", line=line, column=col))
        return read
    except yaml.reader.ReaderError as exc:  # control characters: no mark, but a character position
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        char = exc.character if isinstance(exc.character, int) else ord(exc.character)
        read.issues.append(
            Issue(Level.ERROR, (), f"YAML cannot contain the control character U+{char:04X}",
                  hint="delete it (it often comes from copy-paste)", code="yaml", line=line, column=column)
        )
        return read
    except (yaml.YAMLError, RecursionError, MemoryError, ValueError, TypeError) as exc:  # unmarked (rare)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        read.issues.append(Issue(Level.ERROR, (), f"YAML error: {reason[:200]}", code="yaml", line=1, column=1))
        return read
    if node is not None:
        _walk(node, (), read.marks)
    return read
