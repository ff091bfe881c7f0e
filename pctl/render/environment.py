"""The one Jinja2 environment every pctl renderer uses: strict about undefined names, with filters
that quote values for the language they land in, and a guard on every value printed without one.

Trust nothing (the model is validated before render, but a caller can build one with
``model_construct``): every value is filtered for its context.

- ``sh``: one shell word (``shlex.quote``);
- ``yaml``: one YAML scalar (JSON-quoted and escaped: no value can change the structure);
- ``json``: a JSON value;
- ``comment``: text on a comment line;
- anything printed with none of these (``{{ x }}``, a comment, a YAML key) goes through ``raw_line``,
  added to the template at compile time by ``_GuardRawOutput``.

Every one of them refuses (``UnsafeValue``) a value with a line break or another control character,
and a value that is one of pctl's heredoc delimiters, so no value can end a heredoc body, start a new
command line, or add a YAML key. Macro calls print template text, whose own values are guarded.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import BytecodeCache, Environment, FileSystemBytecodeCache, FileSystemLoader, StrictUndefined
from jinja2.ext import Extension
from jinja2.lexer import Token, TokenStream

from pctl.errors import PctlError

TEMPLATES = Path(__file__).parent / "templates"

# C0 and C1 controls (\n, \r, \x85 among them) and the Unicode line and paragraph separators:
# each can end a line for bash, YAML (1.1 breaks lines at \x85, \u2028, \u2029) or a terminal.
_LINE_BREAKING = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# The delimiters of the heredocs in pctl's scripts (PCTL_PROFILE_EOF, PCTL_SPACK_YAML_EOF, ...).
HEREDOC_DELIMITER = re.compile(r"PCTL_\w*EOF")
QUOTING_FILTERS = frozenset({"sh", "yaml", "json", "comment", "raw_line"})


class UnsafeValue(PctlError):
    """A value that cannot be printed safely where a template puts it (exit 1)."""


class Quoted(str):
    """Text a quoting filter produced: safe where it lands, passed through unchanged."""


def _checked(value: Any, context: str) -> str:
    text = value if isinstance(value, str) else str(value)
    bad = _LINE_BREAKING.search(text)
    if bad:
        raise UnsafeValue(
            f"refusing to render {text[:60]!r} as a {context}: it holds the control character "
            f"U+{ord(bad.group()):04X}",
            "validate the template (`pctl validate`): no template field may hold a line break or a control character",
        )
    # A heredoc ends at a line that is exactly its delimiter. A value has no line break, so it could only
    # make such a line by being the delimiter itself (alone on a template line); inside other text it cannot.
    if HEREDOC_DELIMITER.fullmatch(text.strip(" \t")):
        raise UnsafeValue(f"refusing to render {text[:60]!r} as a {context}: it is a heredoc delimiter of pctl's "
                          "node scripts", "rename the value")
    return text


def to_shell_word(value: Any) -> str:
    """One shell word: ``shlex.quote`` of a one-line value."""
    if isinstance(value, bool) or value is None or not isinstance(value, (str, int, float)):
        raise UnsafeValue(f"refusing to render {value!r} as a shell word: not text or a number",
                          "validate the template (`pctl validate`)")
    return Quoted(shlex.quote(_checked(value, "shell word")))


def to_yaml_scalar(value: Any) -> str:
    """JSON is valid YAML: strings come out double-quoted and escaped, so no value can change structure."""
    if isinstance(value, float) and not math.isfinite(value):
        raise UnsafeValue(f"refusing to render {value!r} as a YAML scalar", "write a finite number")
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise UnsafeValue(f"refusing to render {type(value).__name__} {value!r:.60} as a YAML scalar",
                          "validate the template (`pctl validate`)")
    if isinstance(value, str):
        _checked(value, "YAML scalar")
    return Quoted(json.dumps(value))  # ensure_ascii: \x85, \u2028 and friends come out escaped


def to_json(value: Any) -> str:
    try:
        return Quoted(json.dumps(value, indent=2, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise UnsafeValue(f"refusing to render a value as JSON: {exc}", "validate the template") from exc


def to_comment(value: Any) -> str:
    """Text on a comment line (bash or YAML): one line, no control characters."""
    return Quoted(_checked(value, "comment"))


def raw_line(value: Any) -> Any:
    """The guard on a value printed with no quoting filter: numbers and one-line text only."""
    if isinstance(value, Quoted) or value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return to_yaml_scalar(value)
    if not isinstance(value, str):
        raise UnsafeValue(f"refusing to print {type(value).__name__} {value!r:.60} into a generated file",
                          "validate the template (`pctl validate`)")
    return Quoted(_checked(value, "line of text"))


class _GuardRawOutput(Extension):
    """Compile-time guard: ``{{ expr }}`` becomes ``{{ (expr) | raw_line }}`` unless ``expr`` is a plain
    chain (names, attributes, subscripts, filters) ending in a quoting filter, or a macro call."""

    def filter_stream(self, stream: TokenStream) -> Iterator[Token]:
        macros: set[str] = set()
        block: list[Token] = []
        expr: list[Token] | None = None
        for token in stream:
            if expr is not None:
                if token.type == "variable_end":
                    yield from self._guarded(expr, macros, token)
                    expr = None
                else:
                    expr.append(token)
                continue
            if token.type == "variable_begin":
                yield token
                expr = []
                continue
            if token.type == "block_begin":
                block = []
            elif token.type == "block_end":
                self._note_macros(block, macros)
            else:
                block.append(token)
            yield token

    @staticmethod
    def _note_macros(block: list[Token], macros: set[str]) -> None:
        words = [t.value for t in block if t.type == "name"]
        if not words:
            return
        if words[0] == "macro" and len(words) > 1:
            macros.add(words[1])
        elif words[0] == "import" and "as" in words:
            macros.add(words[words.index("as") + 1])
        elif words[0] == "from" and "import" in words:
            macros.update(w for w in words[words.index("import") + 1:] if w not in ("as", "with", "context"))

    @staticmethod
    def _guarded(expr: list[Token], macros: set[str], end: Token) -> Iterator[Token]:
        if not _trusted(expr, macros):
            lineno = expr[0].lineno if expr else end.lineno
            yield Token(lineno, "lparen", "(")
            yield from expr
            yield Token(lineno, "rparen", ")")
            yield Token(lineno, "pipe", "|")
            yield Token(lineno, "name", "raw_line")
        else:
            yield from expr
        yield end


_CHAIN_TYPES = frozenset({"name", "dot", "pipe", "lparen", "rparen", "lbracket", "rbracket"})
_KEYWORDS = frozenset({"if", "else", "and", "or", "not", "in", "is"})


def _trusted(expr: list[Token], macros: set[str]) -> bool:
    """A postfix chain whose last filter quotes, or a call of a macro (which prints template text)."""
    depth, top = 0, []
    for t in expr:
        if t.type in ("lparen", "lbracket", "lbrace"):
            if depth == 0:
                top.append(t)
            depth += 1
        elif t.type in ("rparen", "rbracket", "rbrace"):
            depth -= 1
            if depth == 0:
                top.append(t)
        elif depth == 0:
            top.append(t)
    if not top or any(t.type not in _CHAIN_TYPES or (t.type == "name" and t.value in _KEYWORDS) for t in top):
        return False
    if _macro_call(top, macros):
        return True
    pipes = [i for i, t in enumerate(top) if t.type == "pipe"]
    if pipes:
        last = pipes[-1]
        tail = top[last + 1:]
        return bool(tail) and tail[0].type == "name" and tail[0].value in QUOTING_FILTERS and \
            [t.type for t in tail[1:]] in ([], ["lparen", "rparen"])
    return _macro_call(top, macros)


_TEXT_FILTERS = frozenset({"trim"})  # filters that only cut a macro's own output


def _macro_call(top: list[Token], macros: set[str]) -> bool:
    """`m.name(...)` or `name(...)` of a macro, optionally followed by `| trim(...)`."""
    if not top or top[0].type != "name" or top[0].value not in macros:
        return False
    i = 1
    while i + 1 < len(top) and top[i].type == "dot" and top[i + 1].type == "name":
        i += 2
    if i + 1 >= len(top) or top[i].type != "lparen" or top[i + 1].type != "rparen":
        return False
    rest = [(t.type, t.value) for t in top[i + 2:]]
    while rest:
        if len(rest) < 2 or rest[0][0] != "pipe" or rest[1][1] not in _TEXT_FILTERS:
            return False
        rest = rest[2:]
        if rest[:2] == [("lparen", "("), ("rparen", ")")]:
            rest = rest[2:]
    return True


def bytecode_cache() -> BytecodeCache | None:
    """Compiled templates cached across runs: compiling them is most of a cold `pctl render`.

    Jinja keys the cache on each template's source checksum, so edits never serve stale code.
    $PCTL_JINJA_CACHE overrides the directory ("" turns the cache off).
    """
    directory = os.environ.get("PCTL_JINJA_CACHE")
    if directory is None:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        directory = os.path.join(base, "pctl", "jinja")
    if not directory:
        return None
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    except OSError:
        return None
    # The guard rewrites templates at compile time: entries are keyed on this module's code too, so code
    # compiled without (or with another version of) the guard is never reused.
    guard = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]
    return FileSystemBytecodeCache(directory, pattern=f"__pctl_{guard}_%s.cache")


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        bytecode_cache=bytecode_cache(),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # YAML, bash and JSON: quoting is done per value by the filters below
        extensions=[_GuardRawOutput],
    )
    env.filters["yaml"] = to_yaml_scalar
    env.filters["sh"] = to_shell_word
    env.filters["json"] = to_json
    env.filters["comment"] = to_comment
    env.filters["raw_line"] = raw_line
    return env


def render_template(name: str, context: dict[str, Any]) -> str:
    return environment().get_template(name).render(**context)
