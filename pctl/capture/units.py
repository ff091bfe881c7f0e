"""Walltime and memory strings as the schedulers write them, to minutes and MiB."""

from __future__ import annotations

import math
import re

UNLIMITED = frozenset({"unlimited", "infinite", "-1", "none"})

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")
# Multipliers to MiB. Schedulers differ on case and on 1000 vs 1024; HPC sizing does not need
# that precision, so both read as binary units.
_UNITS_MIB = {
    "": None, "b": 1 / 1048576, "k": 1 / 1024, "kb": 1 / 1024, "ki": 1 / 1024, "kib": 1 / 1024,
    "m": 1.0, "mb": 1.0, "mi": 1.0, "mib": 1.0,
    "g": 1024.0, "gb": 1024.0, "gi": 1024.0, "gib": 1024.0,
    "t": 1048576.0, "tb": 1048576.0, "ti": 1048576.0, "tib": 1048576.0,
    "w": 8 / 1048576, "kw": 8 / 1024, "mw": 8.0, "gw": 8192.0,  # PBS words (8 bytes)
}


def size_mib(text: str, default_unit: str) -> float | None:
    """'4G' -> 4096.0; a bare number is in `default_unit` ('m' for Slurm/LSF, 'b' for PBS/SGE)."""
    m = _SIZE.match(text)
    if not m:
        return None
    number, unit = float(m.group(1)), m.group(2).lower()
    factor = _UNITS_MIB.get(unit or default_unit.lower())
    return None if factor is None else number * factor


def _clock_minutes(fields: list[str]) -> int | None:
    """[[[days:]hours:]minutes:]seconds, as PBS, Torque and SGE write walltime."""
    if not fields or not all(f.isdigit() for f in fields) or len(fields) > 4:
        return None
    seconds = 0
    for value, scale in zip(reversed(fields), (1, 60, 3600, 86400), strict=False):
        seconds += int(value) * scale
    return math.ceil(seconds / 60)


def clock_minutes(text: str) -> int | None:
    """PBS/SGE walltime: '48:00:00' -> 2880, '3600' (seconds) -> 60. None: unlimited or unreadable."""
    text = text.strip()
    if text.lower() in UNLIMITED:
        return None
    return _clock_minutes(text.split(":"))


def slurm_minutes(text: str) -> int | None:
    """Every Slurm --time format: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S. None: unlimited or unreadable."""
    text = text.strip()
    if text.lower() in UNLIMITED:
        return None
    days = 0
    if "-" in text:
        day_text, _, text = text.partition("-")
        if not day_text.isdigit():
            return None
        days = int(day_text)
        fields = text.split(":")
        if not all(f.isdigit() for f in fields) or len(fields) > 3:
            return None
        hours, minutes, seconds = (int(f) for f in [*fields, "0", "0"][:3])
    else:
        fields = text.split(":")
        if not all(f.isdigit() for f in fields):
            return None
        if len(fields) == 1:
            hours, minutes, seconds = 0, int(fields[0]), 0
        elif len(fields) == 2:
            hours, minutes, seconds = 0, int(fields[0]), int(fields[1])
        elif len(fields) == 3:
            hours, minutes, seconds = (int(f) for f in fields)
        else:
            return None
    return days * 1440 + hours * 60 + minutes + math.ceil(seconds / 60)


def lsf_minutes(text: str) -> int | None:
    """LSF -W: [hours:]minutes (optionally /host): '90' -> 90, '1:30' -> 90."""
    text = text.split("/", 1)[0].strip()
    fields = text.split(":")
    if not all(f.isdigit() for f in fields) or len(fields) > 2:
        return None
    if len(fields) == 1:
        return int(fields[0])
    return int(fields[0]) * 60 + int(fields[1])


def int_or_max(text: str) -> int | None:
    """'4' -> 4; a range '2-4' or LSF's 'min,max' '4,16' -> the maximum (capture sizes for the peak)."""
    if text.isdigit():
        return int(text)
    numbers = [int(n) for n in re.split(r"[-,:]", text.strip()) if n.isdigit()]
    return max(numbers) if numbers else None
