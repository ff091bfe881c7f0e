#!/usr/bin/env python3
"""Regenerate pctl/data/instance_types.json from AWS's own DescribeInstanceTypes data, as moto ships it.

moto (the AWS mock the tests use) carries a dump of EC2's DescribeInstanceTypes answer
(moto/ec2/resources/instance_types.json.gz) and of DescribeInstanceTypeOfferings per region and per
availability zone (moto/ec2/resources/instance_type_offerings/{region,availability-zone}/REGION.json.gz).
This script keeps what pctl and ParallelCluster's validators look at, in a compact form:

- "fields" names the columns of every row in "types" (one row per instance type, sorted by name);
- "regions" maps each region to its zones and, for every set of zones that offers the same types,
  a bitmap (base64, bit i = the i-th type of "types" in sorted order) of those types.

Usage: .venv/bin/python scripts/gen_instance_types.py [--moto-dir DIR] [--output FILE] [--check]
  --check exits 1 (and writes nothing) when the committed table differs from what moto's data gives,
  apart from the generation date.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import gzip
import json
import sys
from collections import defaultdict
from importlib.metadata import version
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "pctl" / "data" / "instance_types.json"

sys.path.insert(0, str(REPO))
from pctl.instance_types import FIELDS, row_from_aws  # noqa: E402  (one row format for table and live answers)


def moto_resources() -> Path:
    import moto

    return Path(moto.__file__).parent / "ec2" / "resources"


def _load(path: Path) -> object:
    with gzip.open(path, "rt") as f:
        return json.load(f)


def bitmap(indexes: list[int], size: int) -> str:
    bits = bytearray((size + 7) // 8)
    for i in indexes:
        bits[i // 8] |= 1 << (i % 8)
    return base64.b64encode(bytes(bits)).decode()


def build(resources: Path, today: str) -> dict:
    raw = _load(resources / "instance_types.json.gz")
    names = sorted(raw)
    index = {n: i for i, n in enumerate(names)}
    regions: dict[str, dict] = {}
    offering_dir = resources / "instance_type_offerings"
    for path in sorted((offering_dir / "region").glob("*.json.gz")):
        region = path.name.removesuffix(".json.gz")
        in_region = {o["InstanceType"] for o in _load(path)} & set(index)
        zones_of: dict[str, set[str]] = defaultdict(set)
        zone_file = offering_dir / "availability-zone" / path.name
        for o in _load(zone_file) if zone_file.exists() else []:
            if o["InstanceType"] in in_region and o["Location"].startswith(region):
                zones_of[o["InstanceType"]].add(o["Location"].removeprefix(region))
        by_zone_set: dict[str, list[int]] = defaultdict(list)
        for name in sorted(in_region):
            # A type the region offers but no zone lists: keep it offered in the region, zones unknown ("").
            by_zone_set["".join(sorted(zones_of.get(name, ())))].append(index[name])
        regions[region] = {
            "zones": sorted({z for zs in zones_of.values() for z in zs}),
            "offers": {zs: bitmap(ix, len(names)) for zs, ix in sorted(by_zone_set.items())},
        }
    return {
        "about": ("EC2 instance types from AWS's DescribeInstanceTypes and DescribeInstanceTypeOfferings data as "
                  "moto ships it (regenerate: scripts/gen_instance_types.py). 'types' rows follow 'fields'; "
                  "'regions' maps region -> zone suffixes, and zone-suffix set -> base64 bitmap over the sorted type "
                  "names (bit i: the i-th name) of the types offered in exactly those zones. Prices: prices.json."),
        "generated": today,
        "source": f"moto {version('moto')}: moto/ec2/resources/instance_types.json.gz, instance_type_offerings/",
        "moto_version": version("moto"),
        "fields": list(FIELDS),
        "types": {n: row_from_aws(raw[n]) for n in names},
        "regions": regions,
    }


def dump(table: dict) -> str:
    """One type or region per line: diffs stay readable, the file stays small."""
    lines = ["{"]
    head = [k for k in table if k not in ("types", "regions")]
    for key in head:
        lines.append(f" {json.dumps(key)}: {json.dumps(table[key])},")
    lines.append(' "types": {')
    items = list(table["types"].items())
    for i, (name, r) in enumerate(items):
        lines.append(f"  {json.dumps(name)}: {json.dumps(r, separators=(',', ':'))}" + ("," if i < len(items) - 1 else ""))
    lines.append(" },")
    lines.append(' "regions": {')
    regions = list(table["regions"].items())
    for i, (name, r) in enumerate(regions):
        lines.append(f"  {json.dumps(name)}: {json.dumps(r, separators=(',', ':'))}" + ("," if i < len(regions) - 1 else ""))
    lines.append(" }")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moto-dir", type=Path, help="moto/ec2/resources (default: the installed moto's)")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    parser.add_argument("--check", action="store_true", help="compare with --output instead of writing it")
    args = parser.parse_args(argv)
    resources = args.moto_dir or moto_resources()
    if not (resources / "instance_types.json.gz").exists():
        print(f"error: {resources}/instance_types.json.gz not found: is moto installed?", file=sys.stderr)
        return 1
    table = build(resources, dt.date.today().isoformat())
    if args.check:
        current = json.loads(args.output.read_text())
        same = {k: v for k, v in current.items() if k != "generated"} == {k: v for k, v in table.items() if k != "generated"}
        if not same:
            print(f"{args.output} is not what moto {table['moto_version']} gives: run scripts/gen_instance_types.py",
                  file=sys.stderr)
            return 1
        print(f"{args.output}: up to date with moto {table['moto_version']} (generated {current['generated']})")
        return 0
    args.output.write_text(dump(table))
    print(f"wrote {args.output}: {len(table['types'])} types, {len(table['regions'])} regions "
          f"(moto {table['moto_version']}, {table['generated']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
