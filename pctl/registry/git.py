"""Git as a subprocess: the real `git`, never a prompt, always a timeout.

Why a subprocess and not a library: `git` handles every URL scheme, credential helper and proxy the
user already configured, and it is on every machine that can reach a template repository. Prompts are
off (GIT_TERMINAL_PROMPT=0, ssh BatchMode), so a private URL without credentials fails fast instead of
hanging `pctl registry update` on a password question nobody sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from pctl.errors import PctlError
from pctl.registry.index import printable

DEFAULT_TIMEOUT = 60.0  # seconds; a fetch of a small template repo takes well under one


class GitError(PctlError):
    pass


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="true",  # answer any credential question with nothing
        SSH_ASKPASS="true",
        GIT_SSH_COMMAND=env.get("GIT_SSH_COMMAND", "ssh -o BatchMode=yes -o ConnectTimeout=15"),
        LC_ALL="C",  # stable error text
    )
    # A clone must not pick up hooks or templates from the user's global git config.
    env.setdefault("GIT_CONFIG_NOSYSTEM", "1")
    return env


def check_url(url: str) -> str:
    """Refuse what git could read as an option (`-u...`, `--upload-pack=...`) or an unauthenticated transport.

    Callers also pass `--` before the URL; this check makes the refusal say why.
    """
    if not url or url.startswith("-"):
        raise GitError(f"refusing the registry URL {url!r}: it starts with '-' (git would read it as an option)",
                       "give a git URL: https://..., ssh://..., git@host:path or file:///path")
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise GitError(f"refusing the registry URL {url!r}: it holds a control character", "retype the URL")
    lowered = url.lower()
    if lowered.startswith(("http://", "git://")):
        raise GitError(f"refusing the registry URL {url!r}: {lowered.split(':')[0]}:// is unauthenticated "
                       "(anyone on the path could swap the templates)", "use https:// or ssh://")
    return url


def git(*args: str, cwd: Path | None = None, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Run `git ARGS`; return stdout. Failure or timeout -> GitError with git's own last words."""
    exe = shutil.which("git")
    if exe is None:
        raise GitError("git is not installed", "install git (e.g. `apt-get install git`), then retry")
    cmd = [exe, "-c", "core.hooksPath=/dev/null", "-c", "advice.detachedHead=false", *args]
    try:
        done = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"`git {args[0]}` timed out after {timeout:.0f} s",
                       "check the network or the URL; pctl kept the last good copy") from exc
    if done.returncode != 0:
        lines = [ln for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()]
        detail = printable(lines[-1]) if lines else f"exit code {done.returncode}"  # remote text: no escapes
        raise GitError(f"`git {args[0]}` failed: {detail}")
    return done.stdout


def show_bytes(repo: Path, commit: str, path: str, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """The bytes of `path` at `commit` (binary-safe, so the sha256 is of exactly what was committed)."""
    exe = shutil.which("git") or "git"
    try:
        done = subprocess.run([exe, "show", f"{commit}:{path}"], cwd=repo, env=_env(), capture_output=True,
                              timeout=timeout, stdin=subprocess.DEVNULL, check=False)
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"reading {path} from the cache timed out") from exc
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"{path} is not in the pinned commit {commit[:12]}: {detail[-1] if detail else ''}".rstrip(": "))
    return done.stdout
