"""Monthly cost estimate of a template: what it costs to keep, and what a typical month of use adds.

The model (every number below is printed with the estimate as an assumption):
- head node: on 24/7 (730 h/month);
- each queue: min_count nodes 24/7, plus expected use of the elastic part: utilisation x (max - min)
  nodes for H hours a month (default 20% for 730 h). Compute resources come from
  `pctl.compute_resources.plan_queue`: each compute resource is priced for its share of the queue's
  max_count/min_count (the same split the rendered config has), a flexible pool at its cheapest type (labelled);
- an instance type pctl does not know is refused (PctlError); a known type with no price makes the
  estimate INCOMPLETE (said on the total line and in `unpriced`), never a silent $0;
- spot queues: on-demand price less an assumed discount (spot prices vary by type, zone and hour);
- root volumes: gp3 of the assumed size for the head node and always-on nodes, pro rata for elastic hours;
- shared storage and created data file systems: EBS gp3 / EFS / FSx for Lustre per GB-month; existing
  file systems are not counted (they are billed already);
- NAT gateway (hourly + an assumed GB processed) unless networking.public_only or a user subnet.
- AWS PCS (cluster.platform: pcs): the head node type is the login node group (one node, 24/7); the PCS
  cluster (its Slurm controller) is billed per hour by the size pctl's PCS plan picks
  (`pctl.pcs.plan.build_plan`); every shared volume is an EFS pctl creates (PCS has no head node to share
  EBS from); root volumes are the size pctl's PCS launch templates give. A fee with no published figure in
  prices.json is a NOT PRICED line and makes the estimate INCOMPLETE, never a guess.

Prices: us-east-1 base prices shipped as data with their date, regional multipliers for the regions
covered, a warning elsewhere. `live=True` asks the AWS Price List API for exact instance prices.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from pctl.compute_resources import plan_queue
from pctl.cost_live import live_prices, pricing_client
from pctl.errors import PctlError
from pctl.instance_types import did_you_mean, facts, price_usd_hour
from pctl.model.template import CapacityType, Platform, StorageType, Template

_PRICES = Path(__file__).parent / "data" / "prices.json"


@cache
def price_table() -> dict[str, Any]:
    return json.loads(_PRICES.read_text())


@dataclass
class CostLine:
    item: str  # what is billed, e.g. "head node t3.medium"
    quantity: float
    unit: str  # "instance-hour", "GB-month", "hour", "GB"
    unit_usd: float | None  # None: no price known, not included in the total
    monthly_usd: float
    note: str = ""  # the assumption that applies to this line, if any


@dataclass
class Estimate:
    lines: list[CostLine]
    monthly_total_usd: float
    assumptions: list[str]
    price_date: str
    region: str
    hours_per_month: float = 730
    utilisation: float = 0.2
    live: bool = False  # live prices were asked for (--live)
    warnings: list[str] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)  # instance types with no price: their lines are not in the total
    live_priced: list[str] = field(default_factory=list)  # instance types the Price List API priced
    instance_types: list[str] = field(default_factory=list)  # every distinct instance type the template names
    unpriced_fees: list[str] = field(default_factory=list)  # other billed items with no price (e.g. the PCS controller)

    @property
    def complete(self) -> bool:
        return not self.unpriced and not self.unpriced_fees

    def price_source(self) -> str:
        """Where the prices came from, in words: what was really used, not what was asked for."""
        table = f"prices of {self.price_date}"
        if not self.live:
            return table
        if not self.live_priced:
            return f"{table}; --live got no price from AWS, so every instance price is the table's"
        if len(self.live_priced) == len(self.instance_types):
            return f"live instance prices from AWS, other {table}"
        return f"live prices for {len(self.live_priced)} of {len(self.instance_types)} instance types, other {table}"

    def to_dict(self) -> dict:
        return {
            "region": self.region,
            "price_date": self.price_date,
            "hours_per_month": self.hours_per_month,
            "utilisation": self.utilisation,
            "live": self.live,
            "live_priced_instance_types": list(self.live_priced),
            "price_source": self.price_source(),
            "monthly_total_usd": self.monthly_total_usd,
            "complete": self.complete,
            "unpriced_instance_types": list(self.unpriced),
            "unpriced_fees": list(self.unpriced_fees),
            "lines": [
                dict(asdict(line), unit_usd=None if line.unit_usd is None else round(line.unit_usd, 6))
                for line in self.lines
            ],
            "assumptions": list(self.assumptions),
            "warnings": list(self.warnings),
        }

    def render_text(self) -> str:
        from pctl.cli.output import table

        rows = [
            (line.item, f"{line.quantity:,.1f} {line.unit}",
             "no price" if line.unit_usd is None else f"${line.unit_usd:.4f}",
             "NOT PRICED" if line.unit_usd is None else f"${line.monthly_usd:,.2f}")
            for line in self.lines
        ]
        out = [
            f"Estimated monthly cost in {self.region} ({self.price_source()}):",
            table(("ITEM", "QUANTITY", "UNIT PRICE", "PER MONTH"), rows, right=(1, 2, 3),
                  footer=("TOTAL per month" if self.complete else "TOTAL per month (INCOMPLETE)", "", "",
                          f"${self.monthly_total_usd:,.2f}")),
            "",
            "Assumptions:",
            *(f"  - {a}" for a in self.assumptions),
        ]
        notes = [(line.item, line.note) for line in self.lines if line.note]
        if notes:
            out += ["Notes:", *(f"  - {item}: {note}" for item, note in notes)]
        if self.unpriced_fees:
            out.insert(2, f"INCOMPLETE: no price for {', '.join(self.unpriced_fees)}: the total leaves it out "
                          "(see the note on its line)")
        if self.unpriced:
            out.insert(2, f"INCOMPLETE: no price for {', '.join(self.unpriced)}: the total leaves those nodes out "
                          "(pctl prices common types offline; `pctl cost --live` asks AWS for every type)")
        if self.warnings:
            out += ["Warnings:", *(f"  ! {w}" for w in self.warnings)]
        return "\n".join(out)


# ---- prices ----------------------------------------------------------------------------------------

class _Prices:
    """Instance and storage prices for one region, from the table (x multiplier) or the live API."""

    def __init__(self, region: str, live: dict[str, float] | None = None) -> None:
        data = price_table()
        self.region = region
        self.warnings: list[str] = []
        multipliers = data["regional_multipliers"]
        if region in multipliers:
            self.multiplier = float(multipliers[region])
        else:
            self.multiplier = 1.0
            self.warnings.append(
                f"no price data for {region}: using {data['base_region']} prices "
                f"(covered: {', '.join(sorted(multipliers))}); try --live"
            )
        self.live = live or {}

    def instance(self, instance_type: str) -> float | None:
        if instance_type in self.live:
            return self.live[instance_type]
        base = price_usd_hour(instance_type)
        return None if base is None else base * self.multiplier

    def storage(self, key: str, sub: str | None = None) -> float:
        value = price_table()["storage"][key]
        return float(value[sub] if sub else value) * self.multiplier

    def nat(self, key: str) -> float:
        return float(price_table()["nat_gateway"][key]) * self.multiplier


# ---- the estimate ------------------------------------------------------------------------------------

def _all_instance_types(t: Template) -> list[str]:
    return [t.compute.head_node, *(it for q in t.compute.queues for it in q.instance_types)]


def _cheapest(types: tuple[str, ...] | list[str], prices: _Prices) -> tuple[str | None, float | None]:
    priced = [(p, it) for it in types if (p := prices.instance(it)) is not None]
    if not priced:
        return None, None
    price, instance_type = min(priced)
    return instance_type, price


def _load(template: Template | str | Path) -> Template:
    if isinstance(template, Template):
        return template
    from pctl.model.loader import load_template

    return load_template(template)


def estimate(template: Template | str | Path, *, hours_per_month: float = 730, utilisation: float | None = None,
             live: bool = False, session: Any = None) -> Estimate:
    """The monthly estimate of `template` (a Template, or a path to one).

    Raises PctlError for an instance type pctl does not know (it would otherwise cost $0). A known type with
    no price (offline table or --live) is listed in `Estimate.unpriced`, its lines say so, and the total is
    marked incomplete."""
    t = _load(template)
    unknown = [it for it in dict.fromkeys(_all_instance_types(t)) if facts(it) is None]
    if unknown:
        raise PctlError(f"cannot price unknown instance type(s) {', '.join(unknown)}: "
                        f"the estimate would leave them out", "; ".join(f"{u}: {did_you_mean(u)}" for u in unknown))
    data = price_table()
    a = data["assumptions"]
    hours_in_month = float(a["hours_in_month"])
    if not 0 < hours_per_month <= 744:
        raise PctlError(f"hours per month must be between 0 and 744, not {hours_per_month}",
                        "730 is a whole month around the clock")
    util = float(a["utilisation"]) if utilisation is None else utilisation
    if not 0 <= util <= 1:
        raise PctlError(f"utilisation must be between 0 and 1, not {util}", "e.g. 0.2 for 20%")
    region = t.cluster.region

    live_map: dict[str, float] = {}
    live_problems: list[str] = []
    if live:
        live_map, live_problems = live_prices(_all_instance_types(t), region, pricing_client(session))
    prices = _Prices(region, live_map)
    spot_discount = float(a["spot_discount"])
    pcs = t.cluster.platform is Platform.pcs
    root_gb = float(_pcs_root_volume_gb() if pcs else a["root_volume_gb"])
    lines: list[CostLine] = []
    unpriced: list[str] = []
    unpriced_fees: list[str] = []

    if pcs:
        controller = _pcs_controller_line(t, hours_in_month, prices.multiplier)
        lines.append(controller)
        if controller.unit_usd is None:
            unpriced_fees.append(controller.item)

    # head node (on PCS: the login node group, one node)
    head_price = prices.instance(t.compute.head_node)
    head = "login node group" if pcs else "head node"
    lines.append(_instance_line(f"{head} {t.compute.head_node}", hours_in_month, head_price,
                                "24/7 (PCS runs the Slurm controller; this is where users log in)" if pcs else "24/7"))
    if head_price is None:
        unpriced.append(t.compute.head_node)
    always_on_nodes = 1
    elastic_node_hours = 0.0

    # queues
    for q in t.compute.queues:
        spot = q.capacity_type == CapacityType.spot
        factor = (1 - spot_discount) if spot else 1.0
        kind = {CapacityType.spot: f"spot (assumed {spot_discount:.0%} below on-demand)",
                CapacityType.capacity_block: "capacity block (priced as on-demand)"}.get(q.capacity_type, "")
        resources = plan_queue(q)
        for cr in resources:
            if cr.min_count <= 0:
                continue
            chosen, price = _cheapest(cr.instance_types, prices)
            label = chosen or "/".join(cr.instance_types)
            note = _cheapest_note(cr.instance_types, chosen, kind)
            lines.append(_instance_line(f"queue {q.name}: {cr.min_count} x {label} always on",
                                        cr.min_count * hours_in_month, _times(price, factor), note))
            always_on_nodes += cr.min_count
            if price is None:
                unpriced.extend(cr.instance_types)
        # The elastic part of each compute resource: its share of max_count (the split the renderer writes).
        for cr in resources:
            elastic = max(cr.max_count - cr.min_count, 0)
            if not elastic or util <= 0:
                continue
            chosen, price = _cheapest(cr.instance_types, prices)
            node_hours = util * elastic * hours_per_month
            label = chosen or "/".join(cr.instance_types)
            note = _cheapest_note(cr.instance_types, chosen, kind)
            if len(resources) > 1:
                note = "; ".join(filter(None, [note, f"{cr.max_count} of the queue's max_count {q.max_count}"]))
            lines.append(_instance_line(
                f"queue {q.name}: expected use of {elastic} elastic x {label}", node_hours,
                _times(price, factor), note))
            elastic_node_hours += node_hours
            if price is None:
                unpriced.extend(cr.instance_types)

    # root volumes (pro rata for elastic node-hours)
    root_gb_months = root_gb * (always_on_nodes + elastic_node_hours / hours_in_month)
    lines.append(CostLine("root volumes (EBS gp3)", root_gb_months, "GB-month", prices.storage("ebs_gp3_gb_month"),
                          root_gb_months * prices.storage("ebs_gp3_gb_month")))

    # storage
    not_counted: list[str] = []
    for s in t.shared_storage:
        if s.file_system_id:
            not_counted.append(f"shared_storage {s.name} ({s.file_system_id})")
            continue
        if pcs:  # PCS has no head node to share EBS from: pctl makes every shared volume an EFS
            unit = prices.storage("efs_standard_gb_month")
            note = "PCS: pctl creates an EFS for it; EFS bills stored data, size_gb taken as stored GB"
            item = f"shared storage {s.name} (EFS Standard, {s.size_gb} GB)"
        elif s.type == StorageType.ebs:
            unit, note = prices.storage("ebs_gp3_gb_month"), ""
            item = f"shared storage {s.name} (EBS gp3, {s.size_gb} GB)"
        elif s.type == StorageType.efs:
            unit, note = prices.storage("efs_standard_gb_month"), "EFS bills stored data; size_gb taken as stored GB"
            item = f"shared storage {s.name} (EFS Standard, {s.size_gb} GB)"
        else:
            unit, note = prices.storage("fsx_lustre_gb_month", "SCRATCH_2"), "SCRATCH_2 deployment assumed"
            item = f"shared storage {s.name} (FSx for Lustre, {s.size_gb} GB)"
        lines.append(CostLine(item, s.size_gb, "GB-month", unit, s.size_gb * unit, note))
    for fsx in t.data.fsx_lustre:
        if fsx.file_system_id:
            not_counted.append(f"data.fsx_lustre {fsx.mount_point} ({fsx.file_system_id})")
            continue
        unit = prices.storage("fsx_lustre_gb_month", fsx.deployment_type)
        lines.append(CostLine(f"FSx for Lustre {fsx.mount_point} ({fsx.deployment_type}, {fsx.storage_capacity_gb} GB)",
                              fsx.storage_capacity_gb, "GB-month", unit, fsx.storage_capacity_gb * unit))
    created_efs = [e.mount_point for e in t.data.efs if not e.file_system_id]
    not_counted += [f"data.efs {e.mount_point} ({e.file_system_id})" for e in t.data.efs if e.file_system_id]

    # network
    nat_reason = "networking.public_only" if t.networking.public_only else (
        "networking.subnet_id (your network)" if t.networking.subnet_id else None)
    if nat_reason is None:
        gb = float(a["nat_gb_per_month"])
        lines.append(CostLine("NAT gateway (hours)", hours_in_month, "hour", prices.nat("hour"),
                              hours_in_month * prices.nat("hour")))
        lines.append(CostLine("NAT gateway (data processed)", gb, "GB", prices.nat("gb_processed"),
                              gb * prices.nat("gb_processed"), f"assumed {gb:.0f} GB a month through the NAT"))

    total = round(sum(line.monthly_usd for line in lines), 2)
    for line in lines:
        line.monthly_usd = round(line.monthly_usd, 2)

    assumptions = [
        f"{head} and min_count nodes run 24/7 ({hours_in_month:.0f} h/month)",
        f"elastic nodes: {util:.0%} of (max_count - min_count) nodes busy for {hours_per_month:g} h/month",
        f"spot: {spot_discount:.0%} below on-demand (real spot prices vary by type, zone and hour)",
        f"root volumes: {root_gb:.0f} GB gp3 per node",
        "a queue of several compute resources: each is priced for its share of max_count and min_count "
        "(the split in the rendered config); a flexible one at its cheapest type (Slurm may start dearer ones)",
        "S3 mounts, data transfer out, snapshots and CloudWatch are not included",
    ]
    if pcs:
        assumptions.append("AWS PCS fees other than the cluster controller (e.g. Slurm accounting, which pctl "
                           f"does not turn on) are not included: {data['pcs']['source']}")
    if nat_reason:
        assumptions.append(f"no NAT gateway ({nat_reason})")
    if prices.multiplier != 1.0:
        assumptions.append(f"{region} prices = {data['base_region']} prices x {prices.multiplier} (approximate)")
    if created_efs:
        assumptions.append(f"EFS created for {', '.join(created_efs)} bills per GB stored "
                           f"(${prices.storage('efs_standard_gb_month'):.2f}/GB-month): not included")
    if not_counted:
        assumptions.append("existing file systems are not counted: " + ", ".join(not_counted))
    warnings = list(prices.warnings) + live_problems
    if unpriced:
        warnings.append(f"no price for {', '.join(sorted(set(unpriced)))}: those lines are not in the total"
                        + ("" if live else " (try --live)"))
    return Estimate(lines, total, assumptions, data["price_date"], region, hours_per_month, util, live, warnings,
                    sorted(set(unpriced)), live_priced=sorted(live_map),
                    instance_types=sorted(set(_all_instance_types(t))), unpriced_fees=unpriced_fees)


def _pcs_root_volume_gb() -> int:
    from pctl.pcs.nodes import ROOT_VOLUME_GB  # what pctl's PCS launch templates give every node

    return ROOT_VOLUME_GB


def _pcs_controller_line(t: Template, hours: float, multiplier: float) -> CostLine:
    """The PCS cluster (its Slurm controller) for a month, at the size pctl's PCS plan picks for `t`.

    The hourly fee per size comes from prices.json `pcs.controller_usd_hour`; a size with no figure there
    (null) is a line with no price, and the estimate says it is incomplete."""
    from pctl.pcs.plan import build_plan

    table = price_table()["pcs"]
    size = build_plan(t, None, {})["size"]
    base = table["controller_usd_hour"].get(size)
    item = f"PCS cluster controller (size {size})"
    if base is None:
        return CostLine(item, hours, "hour", None, 0.0, f"no published price in pctl's table: {table['missing']}")
    unit = float(base) * multiplier
    return CostLine(item, hours, "hour", unit, hours * unit, "24/7 while the cluster exists")


def _times(price: float | None, factor: float) -> float | None:
    return None if price is None else price * factor


def _instance_line(item: str, hours: float, unit: float | None, note: str) -> CostLine:
    return CostLine(item, hours, "instance-hour", unit, 0.0 if unit is None else hours * unit, note)


def _cheapest_note(types: tuple[str, ...], chosen: str | None, kind: str) -> str:
    parts = [kind] if kind else []
    if len(types) > 1 and chosen:
        parts.append(f"cheapest of {', '.join(types)}")
    return "; ".join(parts)
