"""The plan as a terminal summary (rich): waves, units, warnings and a one-line total."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from migrate.model import Plan, PlannedWave
from migrate.units import format_bytes, format_duration

_CRITICALITY_STYLE = {"critical": "bold red", "high": "yellow", "medium": "cyan", "low": "green"}


def summary_line(plan: Plan) -> str:
    services = len(plan.services)
    waves = len(plan.waves)
    return (
        f"Plan: {services} service{'s' * (services != 1)} in {waves} wave{'s' * (waves != 1)}, "
        f"{format_bytes(plan.total_bytes)}, est. {format_duration(plan.total_seconds)}"
    )


def render_plan(plan: Plan) -> RenderableType:
    parts: list[RenderableType] = [_waves_table(plan)]
    if plan.units:
        parts.append(_units_table(plan))
    parts.extend(Text(line) for line in filter_lines(plan))
    for warning in plan.warnings:
        parts.append(Text(f"Warning: {warning}", style="yellow"))
    parts.append(Text(summary_line(plan), style="bold"))
    return Group(*parts)


def print_plan(plan: Plan, console: Console) -> None:
    console.print(render_plan(plan))


def _waves_table(plan: Plan) -> Table:
    table = Table(title=f"Migration plan: {escape(plan.name)}", title_justify="left")
    table.add_column("Wave", justify="right", no_wrap=True)
    table.add_column("Service", no_wrap=True)
    table.add_column("Kind", no_wrap=True)
    table.add_column("Criticality", no_wrap=True)
    table.add_column("Project")
    table.add_column("Depends on", min_width=12)
    table.add_column("Size", justify="right", no_wrap=True)
    table.add_column("ETA", justify="right", no_wrap=True)
    cycles = {name: unit.services for unit in plan.units for name in unit.services}
    for wave in plan.waves:
        for position, name in enumerate(wave.services):
            service = plan.services[name]
            label = escape(name) + (" [magenta](cycle)[/]" if name in cycles else "")
            table.add_row(
                _wave_label(wave) if position == 0 else "",
                label,
                service.kind,
                f"[{_CRITICALITY_STYLE[service.criticality]}]{service.criticality}[/]",
                escape(service.project or "-"),
                escape(", ".join(service.depends_on)) or "-",
                format_bytes(service.estimated_bytes) if service.estimated_bytes else "-",
                "",
            )
        table.add_row(
            "",
            f"[dim]{len(wave.services)} service{'s' * (len(wave.services) != 1)}[/]",
            "",
            "",
            "",
            "",
            f"[bold]{format_bytes(wave.estimated_bytes)}[/]",
            f"[bold]{format_duration(wave.estimated_seconds)}[/]",
            end_section=True,
        )
    return table


def _wave_label(wave: PlannedWave) -> str:
    if wave.pilot:
        return f"{wave.index} [green]pilot[/]"
    if wave.alone:
        return f"{wave.index} [yellow]alone[/]"
    return str(wave.index)


def _units_table(plan: Plan) -> Table:
    table = Table(title="Units (dependency cycles move together)", title_justify="left")
    table.add_column("Wave", justify="right")
    table.add_column("Services")
    for unit in plan.units:
        wave = plan.services[unit.services[0]].wave
        table.add_row(str(wave), escape(" <-> ".join(unit.services)))
    return table


def filter_lines(plan: Plan) -> list[str]:
    """One line per service with ``data.include`` or ``data.exclude``: what it copies."""
    lines = []
    for name, service in plan.services.items():
        keep = service.key_filter
        if keep.active:
            root = f"'{keep.root}'" if keep.root else "the container"
            lines.append(f"Filter of {name}: {keep.describe()} (relative to {root})")
    return lines
