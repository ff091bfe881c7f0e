"""CLI output shared by every command: tables, JSON documents, live progress, colour, plurals.

Tables and progress go through `rich`, imported only when something is printed with it, so
`pctl validate` (which prints no table) never pays for the import.

Colour: only when the stream is a terminal and `NO_COLOR` is unset or empty (https://no-color.org).
`FORCE_COLOR` (non-empty) turns it on for a non-terminal. Output that is not a terminal is plain text:
no escape codes, no wrapping, ASCII rules, lines without trailing blanks, so it greps and diffs.

`--json`: every command that prints data prints ONE JSON object (`document(kind, ...)`) whose
`schema` key names its shape and version, e.g. ``{"schema": "pctl.list/v1", "clusters": [...]}``.
A shape only grows (new keys) within a version; removing or changing a key bumps the version.
The shapes are listed in docs/cli.md.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # rich is imported lazily (see the module docstring)
    from rich.console import Console
    from rich.table import Table

JSON_SCHEMA_VERSION = 1
PLAIN_WIDTH = 10_000  # no wrapping when the output is not a terminal


# ---- colour and consoles ------------------------------------------------------------------------

def color_enabled(stream: IO[str] | None = None) -> bool:
    """True when `stream` (default stdout) should get colour: a terminal, and NO_COLOR unset or empty."""
    if os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR"):
        return True
    return _is_terminal(stream if stream is not None else sys.stdout)


def _stream(err: bool) -> IO[str]:
    return click.get_text_stream("stderr" if err else "stdout")


def console(err: bool = False, *, color: bool | None = None, width: int | None = None) -> Console:
    """A rich Console for stdout (or stderr) that follows the colour rules above.

    A new Console per call: click's test runner swaps the streams between invocations.
    """
    from rich.console import Console

    stream = _stream(err)
    color = color_enabled(stream) if color is None else color
    terminal = _is_terminal(stream)
    if width is None:
        width = _terminal_width() if terminal else PLAIN_WIDTH
    return Console(file=stream, width=width, force_terminal=color, no_color=not color,
                   color_system="standard" if color else None, highlight=False, emoji=False,
                   soft_wrap=not terminal, legacy_windows=False, safe_box=True)


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or odd stream (test runners): not a terminal
        return False


def _terminal_width() -> int:
    import shutil

    return max(40, shutil.get_terminal_size((100, 24)).columns)


# ---- tables ---------------------------------------------------------------------------------------

def _box(fancy: bool):  # noqa: ANN202 - rich.box.Box, imported lazily
    from rich import box

    # A rule under the header and above a footer, nothing else (ASCII unless the output is a terminal).
    rule = "\u2500" if fancy else "-"
    return box.Box(f"    \n    \n {rule}{rule} \n    \n    \n {rule}{rule} \n    \n    \n", ascii=not fancy)


def make_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *,
               footer: Sequence[object] | None = None, right: Sequence[int] = (),
               styles: dict[int, str] | None = None, fancy: bool = False, title: str | None = None) -> Table:
    """A rich Table: `headers`, `rows` (None prints as empty), an optional `footer` row (e.g. a TOTAL)
    set off by a rule, columns listed in `right` right-aligned (numbers), `styles` per column index
    (used only with colour). Cells wrap at word boundaries when the terminal is narrow; never cut.
    """
    from rich.table import Table

    styles = styles or {}
    table = Table(box=_box(fancy), show_edge=False, pad_edge=False, show_footer=footer is not None,
                  header_style="bold" if fancy else "", footer_style="bold" if fancy else "",
                  title=title, title_justify="left", padding=(0, 1, 0, 0))
    cells = [[_cell(c, fancy) for c in row] for row in rows]
    for i, header in enumerate(headers):
        # A column is never narrower than its longest word: a narrow terminal wraps cells between words
        # and never splits a URL, an id or a path (the terminal wraps an over-long line instead).
        longest = max((len(word) for row in cells if i < len(row) for word in row[i].plain.split()), default=0)
        table.add_column(str(header), justify="right" if i in right else "left", overflow="fold",
                         style=styles.get(i, "") if fancy else "", min_width=max(longest, len(str(header))),
                         footer="" if footer is None else _cell(footer[i] if i < len(footer) else ""))
    for row in cells:
        table.add_row(*row)
    return table


class Styled:
    """A table cell with its own style, e.g. `Styled("FAIL", "bold red")`: styled only where colour is on."""

    __slots__ = ("style", "value")

    def __init__(self, value: object, style: str) -> None:
        self.value, self.style = value, style

    def __str__(self) -> str:
        return "" if self.value is None else str(self.value)


def outcome(ok: bool, yes: str = "ok", no: str = "FAIL") -> Styled:
    """A pass/fail cell: `yes` in green, `no` in bold red (plain text off a terminal)."""
    return Styled(yes, "green") if ok else Styled(no, "bold red")


def _cell(value: object, fancy: bool = False):  # noqa: ANN202 - rich.text.Text
    from rich.text import Text

    # Text, not markup: values such as "[default]" or "alice@host" are printed as written.
    style = value.style if fancy and isinstance(value, Styled) else ""
    return Text("" if value is None else str(value), style=style)


def _render(renderable: object, *, color: bool, width: int) -> str:
    from rich.console import Console

    con = Console(width=width, force_terminal=color, no_color=not color, color_system="standard" if color else None,
                  highlight=False, emoji=False, legacy_windows=False, safe_box=True, record=False)
    with con.capture() as cap:
        con.print(renderable)
    return "\n".join(line.rstrip() for line in cap.get().splitlines())


def fit_width(tbl: Table, terminal_width: int) -> int:
    """The width to render `tbl` at on a terminal `terminal_width` columns wide: that width when the
    table fits with its cells wrapped between words, else unlimited (whole lines, which the terminal
    wraps): rich would otherwise drop whole columns."""
    from rich.console import Console

    needed = Console(width=PLAIN_WIDTH, legacy_windows=False).measure(tbl).minimum
    return terminal_width if needed <= terminal_width else PLAIN_WIDTH


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *,
          footer: Sequence[object] | None = None, right: Sequence[int] = ()) -> str:
    """The table as plain text (no colour, no wrapping): for logs, reports and strings.

    `headers` and each row are sequences of the same length; see `make_table` for `footer`/`right`.
    """
    return _render(make_table(headers, rows, footer=footer, right=right), color=False, width=PLAIN_WIDTH)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, err: bool = False,
                footer: Sequence[object] | None = None, right: Sequence[int] = (),
                styles: dict[int, str] | None = None, title: str | None = None) -> None:
    """Print a table to stdout (or stderr): coloured and fitted to the width in a terminal, plain otherwise."""
    stream = _stream(err)
    color, terminal = color_enabled(stream), _is_terminal(stream)
    tbl = make_table(headers, rows, footer=footer, right=right, styles=styles, fancy=color or terminal, title=title)
    text = _render(tbl, color=color, width=fit_width(tbl, _terminal_width()) if terminal else PLAIN_WIDTH)
    click.echo(text, err=err, color=color)


def styled(text: str, style: str, *, err: bool = False) -> str:
    """`text` in `style` (a rich style such as "bold red") when the stream gets colour, else as is."""
    if not color_enabled(_stream(err)):
        return text
    from rich.text import Text

    return _render(Text(text, style=style), color=True, width=PLAIN_WIDTH)


# ---- JSON documents -------------------------------------------------------------------------------

def document(kind: str, **payload: Any) -> dict[str, Any]:
    """One `--json` document: ``{"schema": "pctl.<kind>/v1", **payload}`` (see the module docstring)."""
    return {"schema": f"pctl.{kind}/v{JSON_SCHEMA_VERSION}", **payload}


def echo_json(data: object) -> None:
    """Print `data` as indented JSON on stdout (values JSON does not know print as str)."""
    click.echo(json.dumps(data, indent=2, default=str))


def emit_json(kind: str, **payload: Any) -> None:
    """Print `document(kind, **payload)`: the one JSON document a command prints under --json."""
    echo_json(document(kind, **payload))


def json_option(help: str = "Print one JSON document (its `schema` key names the shape) instead of text."):  # noqa: A002, ANN201
    """The `--json` flag every data-printing command takes (parameter name: as_json)."""
    return click.option("--json", "as_json", is_flag=True, help=help)


# ---- words ----------------------------------------------------------------------------------------

from pctl.words import counts, plural  # noqa: E402  - re-exported for commands

__all__ = ["color_enabled", "console", "counts", "document", "echo_json", "emit_json", "json_option", "make_table",
           "outcome", "plural", "print_table", "progress", "ProgressLines", "Styled", "styled", "table"]


# ---- progress -------------------------------------------------------------------------------------

class ProgressLines:
    """Progress of a long wait: `update(message, done=None, total=None)`.

    In a terminal (stderr) a live line shows the spinner, `done/total`, the message and the elapsed
    time, and each new message is also kept above it; elsewhere each new message is one plain line
    ``[  12.3s] message (5/23)``, printed once (repeats of the same line are dropped).
    Use it as a context manager (`with progress() as p:`).
    """

    def __init__(self, *, live: bool | None = None, err: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._err = err
        self._clock = clock
        self._start = clock()
        self._last: str | None = None
        stream = _stream(err)
        self._live_wanted = _is_terminal(stream) if live is None else live
        self._live = None
        self._status = None

    def __enter__(self) -> ProgressLines:
        if self._live_wanted:
            from rich.live import Live

            self._console = console(self._err)
            self._live = Live(self._line("starting", None, None), console=self._console, transient=True,
                              refresh_per_second=4)
            self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None

    def elapsed(self) -> float:
        return self._clock() - self._start

    def _line(self, message: str, done: int | None, total: int | None):  # noqa: ANN202 - rich renderable
        from rich.spinner import Spinner

        count = f" ({done}/{total})" if done is not None and total else ""
        return Spinner("dots", text=f"{message}{count}  [{self.elapsed():.0f}s]", style="cyan")

    def text(self, message: str, done: int | None = None, total: int | None = None) -> str:
        count = f" ({done}/{total})" if done is not None and total else ""
        return f"[{self.elapsed():6.1f}s] {message}{count}"

    def update(self, message: str, done: int | None = None, total: int | None = None) -> None:
        key = f"{message}|{done}|{total}"
        if key == self._last:
            return
        self._last = key
        if self._live is not None:
            self._console.print(self.text(message, done, total), highlight=False, markup=False)
            self._live.update(self._line(message, done, total))
        else:
            click.echo(self.text(message, done, total), err=self._err)

    __call__ = update


@contextlib.contextmanager
def progress(*, live: bool | None = None, err: bool = True) -> Iterator[ProgressLines]:
    """`with progress() as p: p("creating the stack", done=3, total=23)`: see ProgressLines."""
    with ProgressLines(live=live, err=err) as lines:
        yield lines


def emit_record(kind: str, record: object, **extra: Any) -> None:
    """Print a dataclass or a dict as the one JSON document `kind` (its fields at the top level, plus `extra`)."""
    import dataclasses

    data = dataclasses.asdict(record) if dataclasses.is_dataclass(record) else dict(record)  # type: ignore[arg-type]
    emit_json(kind, **{**data, **extra})


_JSON_META = "pctl.as_json"


def json_flag(help: str = "Print one JSON document (its `schema` key names the shape) instead of text."):  # noqa: A002, ANN201
    """`--json` for a command whose signature should not change: read it with `wants_json()`."""

    def remember(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
        ctx.meta[_JSON_META] = bool(value)
        return value

    return click.option("--json", "_as_json", is_flag=True, expose_value=False, callback=remember, help=help)


def wants_json() -> bool:
    """True when the running command was given `--json` through `json_flag`."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get(_JSON_META))
