"""The markdown migration report (Jinja2): every mapping with its confidence, what is unmapped, and
every assumption capture made."""

from __future__ import annotations

from collections import Counter, defaultdict

from pctl.capture.build import Build, environment

MAX_SCRIPT_ROWS = 200  # the per-script table stops here; --json has them all


def walltime(minutes: int | None) -> str:
    """720 -> '12h 00m', 2925 -> '2d 00h 45m', None -> '-' (not stated or unlimited)."""
    if minutes is None:
        return "-"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    return f"{days}d {hours:02d}h {mins:02d}m" if days else f"{hours}h {mins:02d}m"


def render_report(build: Build, title: str = "captured cluster") -> str:
    scripts = build.capture.scripts
    uses = build.modules
    per_text: dict[str, list[str]] = defaultdict(list)
    for s in scripts:
        for text in dict.fromkeys(s.assumptions):
            per_text[text].append(s.path)
    return environment().get_template("report.md.j2").render(
        title=title,
        build=build,
        scripts=scripts,
        skipped=build.capture.skipped,
        schedulers=sorted(Counter(s.scheduler for s in scripts).items()),
        mapped=[u for u in uses if u.mapping and u.mapping.all_specs],
        commercial=[u for u in uses if u.mapping and u.mapping.kind == "commercial"],
        unknown=[u for u in uses if u.mapping is None],
        site=[u for u in uses if u.mapping and u.mapping.kind == "site"],
        script_assumptions=sorted(per_text.items(), key=lambda kv: (-len(kv[1]), kv[0])),
        walltime=walltime,
        max_rows=MAX_SCRIPT_ROWS,
    )
