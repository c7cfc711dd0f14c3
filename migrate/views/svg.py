"""Inline SVG for the dashboard and the report: no script, no external reference, every text
escaped."""

from __future__ import annotations

from markupsafe import Markup, escape

from migrate.model import Plan
from migrate.units import format_bytes

STATE_COLOURS = {
    "done": "#2e7d32",
    "running": "#1565c0",
    "waiting-approval": "#ef6c00",
    "failed": "#c62828",
    "rolled-back": "#6a1b9a",
    "pending": "#9e9e9e",
}
NODE_W, NODE_H, COL_W, ROW_H, PAD = 190, 26, 240, 36, 20


def throughput_chart(
    series: list[tuple[str, int, int]], width: int = 720, height: int = 160
) -> Markup:
    """Bytes copied per minute, as bars, with the peak labelled."""
    if not series:
        return Markup('<p class="muted">No object copied in the last 24 hours.</p>')
    peak = max(b for _, _, b in series) or 1
    bar = min(24.0, max(1.0, (width - 60) / len(series)))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="throughput per minute">'
    ]
    for index, (minute, objects, size) in enumerate(series):
        h = (height - 30) * size / peak
        x = 50 + index * bar
        parts.append(
            f'<rect x="{x:.1f}" y="{height - 20 - h:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="#1565c0"><title>{escape(minute)}: {objects} objects, '
            f"{escape(format_bytes(size))}</title></rect>"
        )
    parts.append(f'<text x="2" y="14" class="axis">{escape(format_bytes(peak))}/min</text>')
    parts.append(f'<text x="50" y="{height - 4}" class="axis">{escape(series[0][0])}</text>')
    parts.append(
        f'<text x="{width - 4}" y="{height - 4}" class="axis" text-anchor="end">'
        f"{escape(series[-1][0])}</text>"
    )
    parts.append("</svg>")
    # every dynamic text above went through escape()
    return Markup("".join(parts))  # noqa: S704  # nosec B704


def dependency_graph(plan: Plan, states: dict[str, str], link: object) -> Markup:
    """Waves as columns, services as boxes coloured by state, arrows from a dependency to the
    services that use it."""
    position: dict[str, tuple[float, float]] = {}
    rows = max(len(w.services) for w in plan.waves) if plan.waves else 1
    for column, wave in enumerate(plan.waves):
        for row, name in enumerate(wave.services):
            position[name] = (PAD + column * COL_W, PAD + 24 + row * ROW_H)
    width = PAD * 2 + max(1, len(plan.waves)) * COL_W
    height = PAD * 2 + 24 + rows * ROW_H
    parts = [
        f'<svg class="graph" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="dependency graph by wave">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" '
        'markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#555"/></marker></defs>',
    ]
    for column, wave in enumerate(plan.waves):
        label = f"Wave {wave.index}" + (" (pilot)" if wave.pilot else "")
        parts.append(
            f'<text x="{PAD + column * COL_W}" y="{PAD}" class="wave">{escape(label)}</text>'
        )
    for name, planned in plan.services.items():
        for dependency in planned.depends_on:
            if dependency in position and name in position:
                x1, y1 = position[dependency]
                x2, y2 = position[name]
                parts.append(
                    f'<path d="M{x1 + NODE_W},{y1 + NODE_H / 2} C{x1 + NODE_W + 30},'
                    f'{y1 + NODE_H / 2} {x2 - 30},{y2 + NODE_H / 2} {x2},{y2 + NODE_H / 2}" '
                    'fill="none" stroke="#999" marker-end="url(#arrow)"/>'
                )
    for name, (x, y) in position.items():
        state = states.get(name, "pending")
        href = escape(str(link(name)))  # type: ignore[operator]
        parts.append(
            f'<a href="{href}"><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4" '
            f'fill="{STATE_COLOURS.get(state, "#9e9e9e")}"><title>{escape(name)}: '
            f'{escape(state)}</title></rect><text x="{x + 8}" y="{y + 17}" class="node">'
            f"{escape(name)}</text></a>"
        )
    parts.append("</svg>")
    # every dynamic text above went through escape()
    return Markup("".join(parts))  # noqa: S704  # nosec B704
