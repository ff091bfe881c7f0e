"""ParallelCluster's CDK output as text lines, instead of Python byte strings on the terminal.

ParallelCluster builds a cluster's CloudFormation template with the AWS CDK, which runs in a Node.js child
process driven by jsii. jsii's thread that reads that process's stderr prints every line that is not one of
its JSON messages with `print(line)`, bytes and all, straight to the terminal: the user saw nine lines like
`b'!!  Node 20 has reached end-of-life on 2026-04-30 and is not supported.       !!\\n'`.

`install()` replaces that reader (`jsii._kernel.providers.process.stderr_sink`, which jsii looks up when it
starts the Node.js process) with one that decodes each line, drops the `!!` frame jsii draws around its
Node.js warnings, and queues the text. `drain()` hands the queued lines over, each line once per process.
Plain Python: no prefect, no boto3.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from typing import IO

_lock = threading.Lock()
_pending: list[str] = []
_reported: set[str] = set()
_installed = False

_FRAMED = re.compile(r"!!(.*)!!")


def install() -> bool:
    """Route the CDK's Node.js output into this module's queue (idempotent, thread-safe).

    Returns False when jsii is not installed or no longer has the reader this replaces (then jsii prints
    as before). Effective only for a Node.js process jsii starts after this call: once per Python process.
    """
    global _installed
    with _lock:
        if _installed:
            return True
        try:
            from jsii._kernel.providers import process
        except ImportError:
            return False
        if not callable(getattr(process, "stderr_sink", None)):
            return False
        process.stderr_sink = sink
        _installed = True
        return True


def _texts(raw: bytes) -> list[str]:
    """One raw stderr line of the Node.js process -> its text lines (jsii wraps console output in JSON)."""
    try:
        message = json.loads(raw)
    except ValueError:
        message = None
    if isinstance(message, dict) and ("stderr" in message or "stdout" in message):
        chunks = [base64.b64decode(message[k]) for k in ("stderr", "stdout") if message.get(k) is not None]
    else:
        chunks = [raw]
    return [line for chunk in chunks for line in chunk.decode("utf-8", "replace").splitlines()]


def _queue(lines: list[str]) -> None:
    if lines:
        with _lock:
            _pending.extend(lines)


def _tidy(block: list[str]) -> list[str]:
    """A banner's lines; a last line that only introduces a list with no items ('... releases are:') goes."""
    if block and block[-1].endswith(":"):
        block = block[:-1]
    return block


def sink(reader: IO[bytes]) -> None:
    """jsii's stderr reader, as text: runs in jsii's `process.stderr_sink` thread until the process ends."""
    block: list[str] | None = None  # the lines inside a `!!` banner, while one is open
    for raw in iter(reader.readline, b""):
        for line in _texts(raw):
            s = line.strip()
            if s and set(s) == {"!"}:  # a banner's top or bottom edge
                if block is None:
                    block = []
                else:
                    _queue(_tidy(block))
                    block = None
                continue
            framed = _FRAMED.fullmatch(s)
            text = (framed.group(1) if framed else s).strip()
            if not text:
                continue
            if block is not None:
                block.append(text)
            else:
                _queue([text])
    if block:
        _queue(_tidy(block))


def drain() -> list[str]:
    """The text lines queued since the last call, without any line already handed out in this process."""
    with _lock:
        out = [line for line in dict.fromkeys(_pending) if line not in _reported]
        _pending.clear()
        _reported.update(out)
    return out
