"""The SSH private key for verify, kept in a Prefect `Secret` block and written to disk only while needed."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pctl.errors import ConfigError


@contextlib.contextmanager
def ssh_key_file(secret_block: str) -> Iterator[Path]:
    """Yield a path to the key from Secret block `secret_block` (mode 600, private dir); delete it after.

    The file is created with O_EXCL and mode 0600 from the start, so the key is never readable by others,
    even briefly; the directory is 0700 and removed with the key.
    """
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(secret_block).get()
    except ValueError as exc:
        raise ConfigError(
            f"no Secret block named {secret_block!r}",
            "save the private key: Secret(value=open('id_ed25519').read()).save('NAME'), or in the UI",
        ) from exc
    text = value if isinstance(value, str) else str(value)
    if not text.endswith("\n"):
        text += "\n"  # OpenSSH rejects a key without the trailing newline
    with tempfile.TemporaryDirectory(prefix="pctl-key-") as d:
        path = Path(d) / "id_key"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, text.encode())
        finally:
            os.close(fd)
        try:
            yield path
        finally:
            path.unlink(missing_ok=True)
