"""``migrate discover`` on the terminal (a readiness table, rich) and as JSON: two views of
one ``Discovery``. Names come from the source: they are shown escaped (a control character
or a terminal escape sequence in a blob name is printed as ``\\x1b``, never sent to the
terminal) and cut when long."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from migrate.commands.discover import (
    ContainerReport,
    DatabaseReport,
    Discovery,
    Reason,
    problem_line,
)
from migrate.units import format_bytes

SHOWN_CHARACTERS = 120


def printable(text: str, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` with every character that is not printable escaped (``\\n``, ``\\x1b``,
    ``\\u2028``), cut to ``limit`` characters: safe on a terminal and in a YAML comment."""
    out = []
    for char in text[:limit]:
        if char.isprintable():
            out.append(char)
        else:
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
    shown = "".join(out)
    return shown if len(text) <= limit else f"{shown}... ({len(text):,} characters)"


def counts(values: dict[str, int]) -> str:
    """``Hot 1200, Cool 30``: most frequent first."""
    ordered = sorted(values.items(), key=lambda item: (-item[1], item[0]))
    return ", ".join(f"{printable(name, 40)} {count:,}" for name, count in ordered)


def objects(count: int) -> str:
    return f"{count:,} object{'s' * (count != 1)}"


def verdict(reasons: list[Reason]) -> str:
    return "ready" if not reasons else "needs action: " + ", ".join(r.tag for r in reasons)


def render_readiness(discovery: Discovery) -> RenderableType:
    table = Table(
        title=f"Discovery of {printable(discovery.source)} for {printable(discovery.name)}",
        title_justify="left",
    )
    table.add_column("Service", no_wrap=True)  # a service name whole (at most 63 characters)
    for column in ("Objects", "Size"):
        table.add_column(column, justify="right")
    for column in ("Tiers", "Blob types"):
        table.add_column(column, overflow="fold")
    for column in ("Refused", "Too large"):
        table.add_column(column, justify="right")
    table.add_column("Verdict", overflow="fold")
    for container in discovery.containers:
        table.add_row(*_container_row(container))
    for database in discovery.databases:
        table.add_row(*_database_row(database))
    parts: list[RenderableType] = [table]
    parts.extend(_details(discovery))
    parts.append(Text(summary_line(discovery), style="bold"))
    return Group(*parts)


def print_readiness(discovery: Discovery, console: Console) -> None:
    console.print(render_readiness(discovery))


def summary_line(discovery: Discovery) -> str:
    total = sum(c.tally.objects for c in discovery.containers)
    size = sum(c.tally.bytes for c in discovery.containers)
    waiting = sum(1 for c in discovery.containers if c.reasons) + sum(
        1 for d in discovery.databases if d.reasons
    )
    ready = len(discovery.containers) + len(discovery.databases) - waiting
    return (
        f"Discovery: {_many(len(discovery.containers), 'container')} ({objects(total)}, "
        f"{format_bytes(size)}), {_many(len(discovery.databases), 'database')}: "
        f"{ready} ready, {waiting} {'needs' if waiting == 1 else 'need'} action. Names and "
        f"sizes checked against {discovery.limits}."
    )


def _many(count: int, thing: str) -> str:
    return f"{count:,} {thing}{'s' * (count != 1)}"


def _named(service: str, source: str) -> Text:
    """The service, and what it comes from where that is named otherwise."""
    text = Text(service)
    if source != service:
        text.append(f"\n{source}", style="dim")
    return text


def _styled_verdict(reasons: list[Reason], failed: bool) -> Text:
    style = "red" if failed else ("yellow" if reasons else "green")
    return Text(verdict(reasons), style=style)


def _container_row(report: ContainerReport) -> list[str | Text]:
    tally = report.tally
    problems = {p.kind: p.count for p in report.problems}
    return [
        _named(report.service, printable(report.container))
        + (" (not a service)" if report.excluded else ""),
        f"{tally.objects:,}",
        format_bytes(tally.bytes),
        Text(counts(tally.tiers) or "-"),
        Text(counts(tally.blob_types) or "-"),
        f"{problems.get('refused-name', 0):,}",
        f"{problems.get('too-large', 0):,}",
        _styled_verdict(report.reasons, report.error is not None),
    ]


def _database_row(report: DatabaseReport) -> list[str | Text]:
    survey = report.survey
    return [
        _named(
            report.service,
            "database" + ("" if report.name == report.service else f" {printable(report.name)}"),
        ),
        f"{len(survey.tables):,} tables" if survey else "-",
        format_bytes(survey.size_bytes) if survey else "-",
        "-",
        "-",
        "-",
        "-",
        _styled_verdict(report.reasons, report.error is not None),
    ]


def _details(discovery: Discovery) -> list[Text]:
    """Under the table: why each one needs action, with the first names, and the renames."""
    lines: list[Text] = []
    for container in discovery.containers:
        service = container.service
        for reason in container.reasons:
            lines.append(Text(f"{service}: {printable(reason.text, 300)}", style="yellow"))
            kind = next((p for p in container.problems if problem_line(p) == reason.text), None)
            for key, why in kind.examples if kind else ():
                lines.append(Text(f"    {printable(key)}: {printable(why, 300)}"))
        if container.renamed:
            lines.append(Text(f"{service}: {printable(container.renamed, 300)}"))
    for database in discovery.databases:
        service, survey = database.service, database.survey
        for reason in database.reasons:
            lines.append(Text(f"{service}: {printable(reason.text, 300)}", style="yellow"))
            for table in survey.without_identity[:5] if survey and reason.tag == "no key" else ():
                lines.append(Text(f"    {printable(table.qualified)}"))
        if survey is not None and survey.extensions:
            shown = ", ".join(printable(e, 60) for e in survey.extensions)
            lines.append(Text(f"{service}: extensions {shown}"))
        if database.renamed:
            lines.append(Text(f"{service}: {printable(database.renamed, 300)}"))
    return lines


def as_dict(discovery: Discovery) -> dict[str, Any]:
    return {
        "name": discovery.name,
        "source": discovery.source,
        "limits": discovery.limits,
        "ready": discovery.ready,
        "failed": discovery.failed,
        "containers": [_container_dict(c) for c in discovery.containers],
        "databases": [_database_dict(d) for d in discovery.databases],
    }


def to_json(discovery: Discovery) -> str:
    return json.dumps(as_dict(discovery), indent=2) + "\n"


def _container_dict(report: ContainerReport) -> dict[str, Any]:
    tally = report.tally
    reasons = report.reasons
    return {
        "container": report.container,
        "service": report.service,
        "renamed": report.renamed,
        "bucket": report.bucket,
        "excluded": report.excluded,
        "objects": tally.objects,
        "bytes": tally.bytes,
        "tiers": dict(tally.tiers),
        "blob_types": dict(tally.blob_types),
        "problems": {
            p.kind: {
                "count": p.count,
                "examples": [{"name": key, "why": why} for key, why in p.examples],
            }
            for p in tally.problems.values()
        },
        "error": report.error,
        "verdict": "ready" if not reasons else "needs action",
        "reasons": [reason.text for reason in reasons],
    }


def _database_dict(report: DatabaseReport) -> dict[str, Any]:
    survey = report.survey
    reasons = report.reasons
    found: dict[str, Any] = {
        "name": report.name,
        "service": report.service,
        "renamed": report.renamed,
        "url_env": report.url_env,
        "error": report.error,
        "verdict": "ready" if not reasons else "needs action",
        "reasons": [reason.text for reason in reasons],
    }
    if survey is not None:
        found.update(
            server_version=survey.server_version,
            size_bytes=survey.size_bytes,
            tables=len(survey.tables),
            without_identity=[t.qualified for t in survey.without_identity],
            extensions=list(survey.extensions),
            large_objects=survey.large_objects,
            logical=survey.logical_source,
            why_not_logical=survey.why_not_logical,
        )
    return found
