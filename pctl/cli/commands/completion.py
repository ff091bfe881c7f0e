"""`pctl completion bash|zsh|fish`: the shell completion script; plus the completer of TEMPLATE arguments.

Install (once):
  bash: `pctl completion bash > ~/.local/share/bash-completion/completions/pctl`
  zsh:  `pctl completion zsh > "${fpath[1]}/_pctl"`
  fish: `pctl completion fish > ~/.config/fish/completions/pctl.fish`
The script asks pctl itself (click's `_PCTL_COMPLETE` protocol) for candidates, so it stays right as
commands change. TEMPLATE arguments complete library template names and `*.yaml`/`*.yml` paths.
"""

from __future__ import annotations

import os

import click

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_PCTL_COMPLETE"
_TEMPLATE_SUFFIXES = (".yaml", ".yml")


def template_candidates(incomplete: str) -> list[str]:
    """Library template names starting with `incomplete`, then directories and template files
    (`*.yaml`, `*.yml`) whose path starts with it. Directories end with '/'. Never raises."""
    out: list[str] = []
    if "/" not in incomplete:
        try:
            from pctl import library

            out += [n for n in library.names() if n.startswith(incomplete)]
        except Exception:  # no library (a broken PCTL_TEMPLATES_DIR): paths still complete
            pass
    head, prefix = os.path.split(incomplete)
    directory = os.path.expanduser(head) if head else "."
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if not entry.name.startswith(prefix) or (entry.name.startswith(".") and not prefix.startswith(".")):
            continue
        shown = os.path.join(head, entry.name) if head else entry.name
        try:
            if entry.is_dir():
                out.append(shown + "/")
            elif entry.name.endswith(_TEMPLATE_SUFFIXES):
                out.append(shown)
        except OSError:
            continue
    return out


def complete_template(ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
    """click `shell_complete` callback for TEMPLATE arguments (see `template_candidates`)."""
    from click.shell_completion import CompletionItem

    return [CompletionItem(c) for c in template_candidates(incomplete)]


def template_argument(name: str = "template", **kwargs):  # noqa: ANN201 - a click decorator
    """`@template_argument()`: a TEMPLATE argument (path or library name) that shell-completes both."""
    return click.argument(name, shell_complete=complete_template, **kwargs)


def completion_script(shell: str, prog_name: str = "pctl") -> str:
    """The completion script for `shell` (one of SHELLS), from click's shell completion classes."""
    from click.shell_completion import get_completion_class

    from pctl.cli import cli as root

    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover - click.Choice refuses other shells first
        raise click.BadParameter(f"unsupported shell {shell!r}")
    return cls(root, {}, prog_name, COMPLETE_VAR).source()


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
def cli(shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    bash: pctl completion bash > ~/.local/share/bash-completion/completions/pctl
    zsh:  pctl completion zsh > "${fpath[1]}/_pctl"   (or: eval "$(pctl completion zsh)" in ~/.zshrc)
    fish: pctl completion fish > ~/.config/fish/completions/pctl.fish
    """
    click.echo(completion_script(shell), nl=False)
