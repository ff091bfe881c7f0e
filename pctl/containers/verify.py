"""`pctl verify` for containers: the head node pulled exactly the image the cluster pins, and each
package's module puts its container command on PATH. Checks are (name, ok, detail) tuples; verify
turns them into its report rows."""

from __future__ import annotations

import shlex
from typing import Any

from pctl.containers.modules import node_context
from pctl.containers.pin import NOT_PINNED, pinned
from pctl.model.template import Template


def container_checks(ssh: Any, t: Template) -> list[tuple[str, bool, str]]:
    """Run over `ssh` (an SshClient: `run(cmd) -> Result(exit_code, stdout, stderr)`)."""
    ctx = node_context(t, t.software_mount, "x86_64", "rpm")
    checks: list[tuple[str, bool, str]] = []
    for e in ctx["entries"]:
        source = ssh.run(f"cat {shlex.quote(ctx['dir'] + '/' + e['name'] + '.source')}", timeout=30)
        pulled = source.stdout.strip() if source.exit_code == 0 else ""
        ok = pulled == e["image"]
        detail = (f"pulled {pulled}" if ok else f"the node has {pulled or 'nothing'}, the cluster pins {e['image']}")
        if ok and not pinned(e["image"]):
            detail += f" ({NOT_PINNED})"
        checks.append((f"container {e['name']}: image", ok, detail))
        for m in e["modules"]:
            cmd = f"module load {shlex.quote(m['module'])} && command -v {shlex.quote(m['command'])}"
            r = ssh.run(cmd, timeout=60)
            checks.append((f"container {e['name']}: module {m['module']}", r.exit_code == 0,
                           r.stdout.strip() or r.stderr.strip()[:200]))
    return checks
