"""Which environment modules a script has loaded by its end: `module load|add`, `ml`, purge, unload, swap.

A line is cut into shell commands at `&&`, `||`, `;`, `|` and parentheses, so `module load gcc/12 &&
export X=1` and `srun --mpi=pmix ./a.out` are each read for what they are. `ml` counts only as a
whole command word (never inside `html`, `xml` or `mlflow`). Lmod semantics: loading a name again
replaces the earlier version; `purge` forgets everything loaded before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SEPARATORS = re.compile(r"&&|\|\||[;|()`{}]|\$\(")
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")
_VARIABLE = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?")
# A shell redirection word: `>`, `2>`, `&>`, `>>`, `<`, `2>&1`, `>/dev/null`, `2>/dev/null`, `&>>log`...
_REDIRECTION = re.compile(r"(?:\d*|&)(?:>>?|<<?|>&|<&|>\|)(.*)")
# Words that may precede a command on the same line.
_PREFIX_WORDS = frozenset({"then", "do", "else", "time", "command", "builtin", "exec", "eval", "!", "if",
                           "while", "until", "elif"})
_LOAD = frozenset({"load", "add", "try-load", "try-add", "load-any"})
_UNLOAD = frozenset({"unload", "rm", "remove", "del", "delete"})
_SWAP = frozenset({"swap", "switch", "sw"})
_PURGE = frozenset({"purge"})
# `ml WORD`: these words are module subcommands, not module names.
_ML_SUBCOMMANDS = _LOAD | _UNLOAD | _SWAP | _PURGE | frozenset(
    {"avail", "av", "list", "spider", "show", "display", "help", "whatis", "use", "unuse", "save", "s",
     "savelist", "sl", "restore", "r", "reset", "keyword", "key", "describe", "mt", "is-loaded", "is-avail",
     "refresh", "update", "tablelist", "gr", "getdefault", "setdefault", "disable", "overview", "ov",
     "record", "sh-to-mod", "config", "initadd", "initrm", "clear"})


def short_name(module: str) -> str:
    """Lmod's "short name": everything before the version component, lowercased."""
    low = module.lower()
    head, sep, tail = low.rpartition("/")
    return head if sep and tail[:1].isdigit() else low


@dataclass
class ModuleState:
    by_name: dict[str, str] = field(default_factory=dict)  # short name -> module, in load order
    notes: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def loaded(self) -> list[str]:
        return list(self.by_name.values())

    def load(self, module: str) -> None:
        key = short_name(module)
        self.by_name.pop(key, None)  # a reload moves to the end, as in Lmod
        self.by_name[key] = module

    def unload(self, module: str) -> None:
        self.by_name.pop(short_name(module), None)

    def purge(self) -> None:
        self.by_name.clear()


def _expand(word: str, state: ModuleState) -> str | None:
    """Resolve $VAR/${VAR} from plain assignments seen earlier; None when one is unknown."""
    if "$" not in word:
        return word
    missing = False

    def sub(m: re.Match) -> str:
        nonlocal missing
        if m.group(1) in state.variables:
            return state.variables[m.group(1)]
        missing = True
        return ""

    out = _VARIABLE.sub(sub, word)
    return None if missing or "$" in out else out


def _names(args: list[str], state: ModuleState) -> list[str]:
    names = []
    for arg in args:
        if arg.startswith("-"):
            continue  # --force, -q, --ignore-cache...
        name = _expand(arg.strip("\"'"), state)
        if name is None:
            state.notes.append(f"module name {arg!r} uses a shell variable that is not set in the script: skipped")
        elif name:
            names.append(name)
    return names


def _module_command(args: list[str], state: ModuleState) -> None:
    while args and args[0].startswith("-"):
        args = args[1:]  # module --ignore-cache load x
    if not args:
        return
    sub, rest = args[0], args[1:]
    if sub in _LOAD:
        names = _names(rest, state)
        if sub == "load-any":
            names = names[:1]
        for name in names:
            state.load(name)
    elif sub in _UNLOAD:
        for name in _names(rest, state):
            state.unload(name)
    elif sub in _PURGE:
        state.purge()
    elif sub in _SWAP:
        names = _names(rest, state)
        if len(names) == 2:
            state.unload(names[0])
            state.load(names[1])
        elif len(names) == 1:
            state.load(names[0])
    elif sub in ("restore", "r"):
        state.notes.append("`module restore` loads a saved collection that is not in the script: not captured")


def _ml_command(args: list[str], state: ModuleState) -> None:
    if not args:
        return  # bare `ml` lists modules
    options = [a for a in args if a.startswith("--") or (a.startswith("-") and len(a) == 2)]
    words = [a for a in args if a not in options]
    if not words:
        return
    if words[0] in _ML_SUBCOMMANDS:
        _module_command(words, state)
        return
    for word in words:
        if word.startswith("-"):
            for name in _names([word[1:]], state):  # `ml -gcc` unloads gcc
                state.unload(name)
        else:
            for name in _names([word], state):
                state.load(name)


def _assignment(words: list[str], state: ModuleState) -> None:
    for word in words:
        if _ASSIGNMENT.match(word):
            name, _, value = word.partition("=")
            value = value.strip("\"'")
            if "$" not in value and "`" not in value:
                state.variables[name] = value


def read_assignment(line: str, state: ModuleState) -> None:
    """Record `NAME=value` / `export NAME=value` (plain values only) for later `module load $NAME`."""
    words = line.split()
    if words and words[0] in ("export", "declare", "local", "readonly"):
        words = words[1:]
    _assignment(words[:1], state)


def read_line(line: str, state: ModuleState) -> None:
    """Apply one (already comment-free, continuation-joined) shell line to `state`."""
    for segment in _SEPARATORS.split(line):
        words = segment.split()
        if not words:
            continue
        if words[0] in ("export", "declare", "local", "readonly") or _ASSIGNMENT.match(words[0]):
            _assignment(words, state)
        i = 0
        while i < len(words) and (words[i] in _PREFIX_WORDS or _ASSIGNMENT.match(words[i])):
            i += 1
        if i >= len(words):
            continue
        command = words[i]
        if command == "module" or command.endswith("/module"):
            _module_command(_strip_comment(words[i + 1:]), state)
        elif command == "ml":
            _ml_command(_strip_comment(words[i + 1:]), state)


def _strip_comment(words: list[str]) -> list[str]:
    """The command's words without a trailing comment and without redirections (and their targets):
    `module load gcc/11.2.0 > /dev/null 2>&1` loads gcc/11.2.0 only."""
    out: list[str] = []
    skip_target = False
    for word in words:
        if word.startswith("#") or word == "&":
            break
        if skip_target:
            skip_target = False
            continue
        m = _REDIRECTION.fullmatch(word)
        if m:
            skip_target = not m.group(1)  # `>` alone: the next word is the target
            continue
        out.append(word)
    return out
