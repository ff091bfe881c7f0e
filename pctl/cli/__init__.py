"""The `pctl` command line.

Each command lives in pctl/cli/commands/<name>.py and exports `cli` (a click command or group).
Commands load lazily: `pctl validate` imports only what validation needs (no prefect, no boto3).
"""

from __future__ import annotations

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


def main(argv: list[str] | None = None) -> None:
    """Entry point. Expected failures exit 1 with a message; nothing prints a traceback unless PCTL_DEBUG=1."""
    from pctl.errors import PctlError

    try:
        cli.main(args=argv, prog_name="pctl", standalone_mode=False)
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
        click.echo(f"pctl: internal error: {type(exc).__name__}: {exc}", err=True)
        click.echo("  hint: re-run with PCTL_DEBUG=1 for the traceback and report it", err=True)
        sys.exit(2)
