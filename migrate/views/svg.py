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
    """Bytes copied per minute over the active window (the first minute anything was copied
    to the last), each bar at its minute: a pause shows as a gap, not as nothing."""
    if not series:
        return Markup('<p class="muted">No object copied in the last 24 hours.</p>')
    peak = max(b for _, _, b in series) or 1
    offsets = _minute_offsets([minute for minute, _, _ in series])
    slots = offsets[-1] + 1
    bar = min(24.0, max(1.0, (width - 60) / slots))
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        'role="img" aria-label="throughput per minute">'
    ]
    for offset, (minute, objects, size) in zip(offsets, series, strict=True):
        h = (height - 30) * size / peak
        x = 50 + offset * bar
        parts.append(
            f'<rect x="{x:.1f}" y="{height - 20 - h:.1f}" width="{max(bar - 1, 1):.1f}" '
            f'height="{h:.1f}" fill="#1565c0"><title>{escape(minute)}: {objects} objects, '
            f"{escape(format_bytes(size))}</title></rect>"
        )
    parts.append(f'<text x="2" y="14" class="axis">{escape(format_bytes(peak))}/min</text>')
    first, last = _clock(series[0][0]), _clock(series[-1][0])
    parts.append(f'<text x="50" y="{height - 4}" class="axis">{escape(first)}</text>')
    if slots > 1:
        parts.append(
            f'<text x="{50 + offsets[-1] * bar + bar:.1f}" y="{height - 4}" class="axis" '
            f'text-anchor="end">{escape(last)}</text>'
        )
    parts.append("</svg>")
    # every dynamic text above went through escape()
    return Markup("".join(parts))  # noqa: S704  # nosec B704


def _edge(start: tuple[float, float], end: tuple[float, float]) -> str:
    """An arrow from a dependency's box to its user's. Within one wave (one column) it leaves
    and enters on the right and bows out into the gap between columns, never across boxes."""
    (x1, y1), (x2, y2) = start, end
    a, b = y1 + NODE_H / 2, y2 + NODE_H / 2
    if x1 == x2:
        right = x1 + NODE_W
        bow = min(COL_W - NODE_W - 6, 14 + 4 * abs(b - a) / ROW_H)
        d = f"M{right},{a} C{right + bow},{a} {right + bow},{b} {right + 2},{b}"
    else:
        d = f"M{x1 + NODE_W},{a} C{x1 + NODE_W + 30},{a} {x2 - 30},{b} {x2},{b}"
    return f'<path d="{d}" fill="none" stroke="#999" marker-end="url(#arrow)"/>'


def _minute_offsets(minutes: list[str]) -> list[int]:
    """Minutes since the first one (``YYYY-MM-DDTHH:MM`` stamps, in order)."""
    from datetime import datetime

    def moment(stamp: str) -> datetime | None:
        try:
            return datetime.strptime(stamp[:16], "%Y-%m-%dT%H:%M")
        except ValueError:
            return None

    moments = [moment(m) for m in minutes]
    start = moments[0]
    if start is None or any(m is None for m in moments):
        return list(range(len(minutes)))  # not stamps we know: one slot each, in order
    return [int((m - start).total_seconds() // 60) for m in moments if m is not None]


def _clock(stamp: str) -> str:
    """``2026-12-01T14:08`` as ``14:08 UTC`` (the day is in the page's snapshot line)."""
    return f"{stamp[11:16]} UTC" if len(stamp) >= 16 and stamp[10] == "T" else stamp


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
                parts.append(_edge(position[dependency], position[name]))
    cycle_of = {n: unit.services for unit in plan.units for n in unit.services}
    for name, (x, y) in position.items():
        state = states.get(name, "pending")
        href = escape(str(link(name)))  # type: ignore[operator]
        others = [n for n in cycle_of.get(name, []) if n != name]
        note = f"; in a cycle with {', '.join(others)} (cut over together)" if others else ""
        outline = ' stroke="#111" stroke-width="2" stroke-dasharray="5,3"' if others else ""
        parts.append(
            f'<a href="{href}"><rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="4" '
            f'fill="{STATE_COLOURS.get(state, "#9e9e9e")}"{outline}><title>{escape(name)}: '
            f'{escape(state)}{escape(note)}</title></rect><text x="{x + 8}" y="{y + 17}" '
            f'class="node">{escape(name)}{" ↻" if others else ""}</text></a>'
        )
    parts.append("</svg>")
    # every dynamic text above went through escape()
    return Markup("".join(parts))  # noqa: S704  # nosec B704
