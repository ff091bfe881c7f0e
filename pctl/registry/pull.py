"""Fetch a registry template: sha256 against the index first, then validation and hook flags.

Order matters: nothing is written unless the bytes match the index's sha256, and (without --force)
unless the template validates and carries nothing that looks like a script hook.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pctl.registry.hooks import HookFlag, script_hooks
from pctl.registry.index import RegistryError, sha256_hex
from pctl.registry.store import Found, resolve
from pctl.validation.issues import Report


def fetch_checked(found: Found) -> str:
    data = found.read_bytes()
    actual = sha256_hex(data)
    if actual != found.entry.sha256:
        raise RegistryError(
            f"{found.label()}: {found.entry.path} does not match its index entry "
            f"(sha256 {actual[:16]}..., index says {found.entry.sha256[:16]}...); nothing was written",
            "the file changed after the index was generated, or was tampered with: ask the publisher to "
            "regenerate index.json (`pctl registry index DIR`) and run `pctl registry update`",
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RegistryError(f"{found.label()}: {found.entry.path} is not UTF-8 text") from exc


def fetch_template(ref: str) -> tuple[str, str]:
    """'name' or 'source/name' -> (template text, label). The sha256 is checked; nothing is written."""
    found = resolve(ref)
    return fetch_checked(found), found.label()


@dataclass
class PullResult:
    found: Found
    text: str
    report: Report
    hooks: list[HookFlag] = field(default_factory=list)
    written: Path | None = None

    @property
    def blocked(self) -> bool:
        return bool(self.report.errors or self.hooks)

    def to_dict(self) -> dict:
        return {
            "template": self.found.qualified,
            "version": self.found.entry.version,
            "commit": self.found.commit,
            "sha256": self.found.entry.sha256,
            "written": str(self.written) if self.written else None,
            "validation": self.report.to_dict(),
            "hooks": [h.__dict__ for h in self.hooks],
        }


def pull(ref: str, out: Path | None = None, *, force: bool = False, overwrite: bool = False) -> PullResult:
    """Check, validate, flag, then write `out` (default ./NAME.yaml) atomically.

    force: write even with validation errors or hook flags (they are still reported).
    overwrite: replace an existing file.
    """
    from pctl.fsutil import atomic_write_text
    from pctl.validation import validate_text

    found = resolve(ref)
    text = fetch_checked(found)
    target = out if out is not None else Path.cwd() / f"{found.entry.name}.yaml"
    if target.is_dir():
        target = target / f"{found.entry.name}.yaml"
    report, loaded = validate_text(text, found.qualified)
    result = PullResult(found, text, report, script_hooks(loaded, report))
    if result.blocked and not force:
        return result
    if target.exists() and not overwrite:
        raise RegistryError(f"{target} already exists; nothing was written", "pass --overwrite, or -o another path")
    atomic_write_text(target, text)
    result.written = target
    return result
