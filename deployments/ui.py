"""Look at the Prefect UI the way a user does: a headless Chromium screenshot, and a check that it rendered.

Used by the end-to-end UI test and handy by hand:

    python -m deployments.ui http://127.0.0.1:4200/runs/flow-run/<id> artifacts/run.png

Chromium flags are the ones measured on these machines (see the shared notes): without
--virtual-time-budget the page is captured before the UI's JavaScript has drawn anything (a blank PNG).
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")


def flow_run_url(ui_url: str, flow_run_id: str) -> str:
    """The UI page of one flow run. `ui_url` is the server root (e.g. http://127.0.0.1:4200)."""
    return f"{ui_url.rstrip('/')}/runs/flow-run/{flow_run_id}"


def ui_url_from_api(api_url: str) -> str:
    """http://host:port/api -> http://host:port (the UI is served beside the API)."""
    return api_url.rstrip("/").removesuffix("/api")


def find_chromium() -> str | None:
    env = os.environ.get("PCTL_CHROMIUM")
    for cand in ((env,) if env else ()) + CHROMIUM_CANDIDATES:
        found = shutil.which(cand)
        if found:
            return found
    return None


@dataclass(frozen=True)
class Capture:
    png: Path
    dom: str  # the page's DOM after its JavaScript ran (what the user would read)


def screenshot(url: str, out: Path, *, width: int = 1440, height: int = 1000,
               budget_ms: int = 20000, timeout: float = 120.0) -> Capture:
    """Save a PNG of `url` rendered by headless Chromium, and return it with the rendered DOM (one run of
    Chromium does both). Raises RuntimeError on failure."""
    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium found (install Debian `chromium` or set PCTL_CHROMIUM)")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="pctl-chromium-") as profile:
        argv = [
            chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--no-first-run",
            "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={width},{height}",
            f"--virtual-time-budget={budget_ms}", f"--screenshot={out}", "--dump-dom", url,
        ]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0 or not out.exists():
        raise RuntimeError(f"chromium failed (exit {proc.returncode}): {proc.stderr[-1500:]}")
    return Capture(out, proc.stdout)


# ---- a tiny PNG reader: enough to tell a rendered page from a blank one -----------------------------------

@dataclass(frozen=True)
class PngStats:
    width: int
    height: int
    colours: int  # distinct pixel values (capped by the sampling below)
    dominant_share: float  # fraction of sampled pixels that have the most common value


_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _unfilter(raw: bytes, height: int, stride: int, bpp: int) -> list[bytes]:
    rows: list[bytes] = []
    prev = bytearray(stride)
    pos = 0
    for _ in range(height):
        ftype = raw[pos]
        line = bytearray(raw[pos + 1:pos + 1 + stride])
        pos += 1 + stride
        if ftype == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif ftype == 2:
            line = bytearray((x + y) & 0xFF for x, y in zip(line, prev, strict=True))
        elif ftype == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 0xFF
        elif ftype == 4:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                upleft = prev[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + _paeth(left, prev[i], upleft)) & 0xFF
        elif ftype != 0:
            raise ValueError(f"bad PNG filter type {ftype}")
        rows.append(bytes(line))
        prev = line
    return rows


def png_stats(path: Path, sample_every: int = 4) -> PngStats:
    """Decode an 8-bit non-interlaced PNG with zlib and count colours on a grid of sampled pixels."""
    data = Path(path).read_bytes()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    pos, idat, ihdr = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if ihdr is None:
        raise ValueError(f"{path}: no IHDR chunk")
    width, height, depth, ctype, _, _, interlace = ihdr
    if depth != 8 or interlace or ctype not in _CHANNELS:
        raise ValueError(f"{path}: unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
    bpp = _CHANNELS[ctype]
    rows = _unfilter(zlib.decompress(b"".join(idat)), height, width * bpp, bpp)
    counts: dict[bytes, int] = {}
    for row in rows[::sample_every]:
        for x in range(0, width, sample_every):
            px = row[x * bpp:(x + 1) * bpp]
            counts[px] = counts.get(px, 0) + 1
    total = sum(counts.values()) or 1
    return PngStats(width, height, len(counts), max(counts.values(), default=0) / total)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m deployments.ui URL OUT.png", file=sys.stderr)
        return 2
    cap = screenshot(argv[0], Path(argv[1]))
    print(f"{cap.png}: {png_stats(cap.png)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
