"""The dashboard's pages and the self-contained HTML report, from one status snapshot.

Jinja2 with autoescaping on: every object name, reason and hook output is text, never markup.
The CSS is inlined; there is no script and no external URL of any kind (sovereign sites are
often air-gapped, and the report goes into the evidence pack).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from migrate.commands.status import StatusReport
from migrate.units import format_bytes, format_duration
from migrate.views.svg import STATE_COLOURS, dependency_graph, throughput_chart

_TEMPLATES = files("migrate.views") / "templates"
_ENV = Environment(
    loader=FileSystemLoader(str(_TEMPLATES)),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class _WaveRow:
    name: str
    state: str


@dataclass(frozen=True)
class _Wave:
    index: int
    pilot: bool
    rows: list[_WaveRow]


def _waves(report: StatusReport) -> list[_Wave]:
    states = {s.name: s.state for s in report.services}
    if report.plan is None:
        return []
    return [
        _Wave(w.index, w.pilot, [_WaveRow(n, states.get(n, "pending")) for n in w.services])
        for w in report.plan.waves
    ]


def _common(
    report: StatusReport,
    link: Callable[[str], str],
    nav: list[tuple[str, str]],
    title: str,
    refresh: int | None,
) -> dict[str, Any]:
    return {
        "s": report,
        "link": link,
        "nav": nav,
        "title": title,
        "refresh": refresh,
        "css": (_TEMPLATES / "style.css").read_text(encoding="utf-8"),
        "bytes": format_bytes,
        "duration": format_duration,
        "waves": _waves,
        "colours": STATE_COLOURS,
    }


def _graph(report: StatusReport, link: Callable[[str], str]) -> Any:
    if report.plan is None:
        return ""
    return dependency_graph(report.plan, {s.name: s.state for s in report.services}, link)


def overview_page(
    report: StatusReport,
    link: Callable[[str], str],
    nav: list[tuple[str, str]],
    refresh: int | None = 5,
) -> str:
    context = _common(report, link, nav, "Migration dashboard", refresh)
    context["chart"] = throughput_chart(report.series)
    return _ENV.get_template("overview.html").render(context)


def service_page(
    report: StatusReport,
    name: str,
    link: Callable[[str], str],
    nav: list[tuple[str, str]],
    refresh: int | None = 5,
) -> str | None:
    row = next((s for s in report.services if s.name == name), None)
    if row is None:
        return None
    context = _common(report, link, nav, f"Service {name}", refresh)
    context["row"] = row
    return _ENV.get_template("service.html").render(context)


def graph_page(
    report: StatusReport,
    link: Callable[[str], str],
    nav: list[tuple[str, str]],
    refresh: int | None = 5,
) -> str:
    context = _common(report, link, nav, "Dependency graph", refresh)
    context["graph"] = _graph(report, link)
    return _ENV.get_template("graph.html").render(context)


def report_page(report: StatusReport) -> str:
    """Everything in one file: anchors instead of links, no refresh."""

    def link(name: str) -> str:
        return f"#service-{name}"

    nav = [("Overview", "#"), ("Graph", "#graph")]
    context = _common(report, link, nav, "Migration report", None)
    context["chart"] = throughput_chart(report.series)
    context["graph"] = _graph(report, link)
    return _ENV.get_template("report.html").render(context)
