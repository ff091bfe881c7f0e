"""The `pctl` command line.

Each command lives in pctl/cli/commands/<name>.py and exports `cli` (a click command or group).
Commands load lazily: `pctl validate` imports only what validation needs (no prefect, no boto3).
"""

from __future__ import annotations

import contextlib
import os
import sys
from importlib import import_module

import click

from pctl import __version__
from pctl.cli import commands as _commands


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        import pkgutil  # only for --help listings: running one command imports just its module

        names = [m.name.replace("_", "-") for m in pkgutil.iter_modules(_commands.__path__) if not m.name.startswith("_")]
        return sorted(names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = cmd_name.replace("-", "_")
        if not module_name.isidentifier() or module_name.startswith("_"):
            return None
        try:
            module = import_module(f"pctl.cli.commands.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"pctl.cli.commands.{module_name}":
                raise  # a command whose own imports are broken: a bug, not an unknown command
            return None
        return module.cli


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pctl")
def cli() -> None:
    """pctl: a cluster template in, a working AWS ParallelCluster out.

    Start with `pctl templates list`, then `pctl validate` and `pctl create --dry-run`.
    """


def main(argv: list[str] | None = None, *, command: click.Command | None = None, prog_name: str = "pctl") -> None:
    """Entry point. Expected failures: one message (and its hint), exit 1 (130 after Ctrl-C). Anything else
    is a bug: one line, exit 2; PCTL_DEBUG=1 shows the traceback."""
    from pctl.errors import PctlError
    from pctl.lifecycle import interrupt

    ours = interrupt.install_handler()  # a Ctrl-C that a finalizer swallows still stops the long waits
    try:
        (command or cli).main(args=argv, prog_name=prog_name, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except PctlError as exc:
        click.echo(f"pctl: error: {exc}", err=True)
        if exc.hint:
            click.echo(f"  hint: {exc.hint}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except Exception as exc:  # last resort: a bug, but the user still gets one readable line
        if os.environ.get("PCTL_DEBUG"):
            raise
        first = (str(exc).strip().splitlines() or [""])[0][:300]
        click.echo(f"pctl: internal error: {type(exc).__name__}: {first} "
                   "(re-run with PCTL_DEBUG=1 for the traceback, and report it)", err=True)
        sys.exit(2)
    finally:
        # The command is over and the process is about to exit (`pctl`, `python -m flows.NAME`; not a caller
        # that passes argv in-process): a Ctrl-C now would land in the interpreter's exit handlers (Prefect's
        # temporary server stopping) and print "Exception ignored in atexit callback" with a traceback.
        # They finish in a moment; let them.
        import signal

        if argv is None or command is not None:
            with contextlib.suppress(ValueError):  # not the main thread
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        elif ours:  # called in-process (tests, scripts): give the caller its handler back
            signal.signal(signal.SIGINT, signal.default_int_handler)
        interrupt.handled()


def run_command(name: str, prog_name: str) -> None:
    """`python -m flows.NAME ARGS`: the same command as `pctl NAME ARGS`, with its own usage line."""
    command = cli.get_command(click.Context(cli), name)
    if command is None:  # pragma: no cover - flows name existing commands
        raise SystemExit(f"no command {name}")
    main(sys.argv[1:], command=command, prog_name=prog_name)
