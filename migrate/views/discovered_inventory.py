"""The inventory ``migrate discover`` writes: SOURCE.yaml's head as written there, then one
service per container and per database, each under comments that say what was found.

Values go through PyYAML's emitter (quoting whatever needs it); comments carry names from the
source only escaped (``views.discovery.printable``), so no name can end a comment line or
hide in one. The text loads with ``migrate plan`` once ``target`` is filled in.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import yaml

from migrate.commands.discover import ContainerReport, DatabaseReport, Discovery, problem_line
from migrate.units import format_bytes
from migrate.views.discovery import counts, objects, printable

TARGET_TEMPLATE = """\
# target:                          # FILL IN before `migrate plan`: where the data goes
#   provider: s3
#   preset: generic                # generic | outscale | ovhcloud | scaleway | cloud-temple
#   endpoint: https://s3.example   # optional where the preset derives it from the region
#   region: REGION
#   encryption: AES256
#   bucket_prefix: ""              # each bucket is bucket_prefix + container
"""


def inventory_text(
    discovery: Discovery, head: Mapping[str, Any], source_file: str, written_at: str
) -> str:
    """The whole inventory: ``head`` is SOURCE.yaml's version, name, source, target, policy
    and credentials_file as written (``${VAR}`` kept)."""
    lines = [
        f"# Written by `migrate discover {printable(source_file)}` at {written_at}, from the "
        f"listing of {printable(discovery.source)}.",
        "# Object counts and sizes are exact as of that listing (partial where it says LISTING",
        "# FAILED). Not discovered, to review per",
        "# service: criticality, max_downtime, depends_on, project, hooks and approval.",
    ]
    text = "\n".join(lines) + "\n"
    for key, value in head.items():
        text += ("\n" if isinstance(value, dict) else "") + _dump({key: value})
        if key == "source" and "target" not in head:
            text += "\n" + TARGET_TEMPLATE
    blocks = [
        *(_container_block(c) for c in discovery.containers),
        *(_database_block(d) for d in discovery.databases),
    ]
    if not any(c.excluded is None for c in discovery.containers) and not discovery.databases:
        return text + "# No container and no database found: nothing to migrate.\nservices: []\n"
    return text + "\nservices:\n" + "\n".join(blocks)


LINE_BREAKS = "\u2028\u2029\x85\x0b\x0c\x1c\x1d\x1e"
"""Characters ``str.splitlines`` (and some readers) take for line ends: never written raw."""


def _dump(value: Any) -> str:
    """YAML of ``value``, readable where it can be (UTF-8 as is), escaped where it must:
    a name holding a line separator (U+2028, say) is written in double quotes with its
    escape, and what is written must load back as ``value``."""
    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, width=100)
    if any(ch in text for ch in LINE_BREAKS) or yaml.safe_load(text) != value:
        text = yaml.safe_dump(value, sort_keys=False, allow_unicode=False, width=100)
    if yaml.safe_load(text) != value:  # never write what would name another container
        raise ValueError(f"cannot write {value!r} as YAML that reads back the same")
    return text


def _indented(block: str, comment: bool = False) -> str:
    mark = "# " if comment else ""
    return "".join(f"  {mark}{line}\n" for line in block.splitlines())


def _comments(lines: Iterator[str] | list[str]) -> str:
    return "".join(f"  # {line}\n" for line in lines)


def _container_block(report: ContainerReport) -> str:
    tally = report.tally
    data: dict[str, Any] = {"container": report.container}
    if report.bucket is not None:
        data["bucket"] = report.bucket
    data.update(size_estimate=tally.bytes, object_count=tally.objects)
    service = {
        "name": report.service,
        "kind": "object-store",
        "criticality": "medium",
        "data": data,
    }
    body = _dump([service])
    notes = _comments(_container_notes(report))
    return notes + _indented(body, comment=report.excluded is not None)


def _container_notes(report: ContainerReport) -> Iterator[str]:
    tally = report.tally
    yield (
        f"container '{printable(report.container)}': {objects(tally.objects)}, "
        f"{format_bytes(tally.bytes)} ({tally.bytes:,} bytes)"
    )
    if report.error:
        yield f"LISTING FAILED: {printable(report.error, 300)}; the figures are partial"
    if report.excluded:
        yield f"NOT A SERVICE: {printable(report.excluded, 300)}"
    if report.renamed:
        yield printable(report.renamed, 300)
    if report.bucket:
        yield f"bucket '{report.bucket}': the one derived from the container is not a valid name"
    if report.bucket_note:
        yield printable(report.bucket_note, 300)
    yield f"access tiers: {counts(tally.tiers) or 'not reported by the source'}"
    yield f"blob types: {counts(tally.blob_types) or 'not reported by the source'}"
    for problems in report.problems:
        yield f"{problem_line(problems)}, the first:"
        for key, why in problems.examples:
            yield f"  '{printable(key)}': {printable(why, 200)}"


def target_placeholder(service: str) -> str:
    """The variable name written for a database's target URL: to be replaced."""
    return f"FILL_IN_{service.upper().replace('-', '_')}_TARGET_URL"


def _database_block(report: DatabaseReport) -> str:
    settings: dict[str, Any] = {
        "engine": "postgresql",
        "source_url_env": report.url_env,
        "target_url_env": target_placeholder(report.service),
    }
    if report.survey is not None:
        settings["size_estimate"] = report.survey.size_bytes
    service = {
        "name": report.service,
        "kind": "database",
        "criticality": "medium",
        "database": settings,
    }
    return _comments(_database_notes(report)) + _indented(_dump([service]))


def _database_notes(report: DatabaseReport) -> Iterator[str]:
    survey = report.survey
    if survey is None:
        yield f"database '{printable(report.name)}' ({report.url_env}): NOT READ"
        yield printable(report.error or "", 300)
    else:
        yield (
            f"database '{printable(report.name)}' ({report.url_env}): PostgreSQL "
            f"{survey.server_version}, {format_bytes(survey.size_bytes)} "
            f"({survey.size_bytes:,} bytes), {len(survey.tables):,} tables"
        )
        missing = survey.without_identity
        if missing:
            shown = ", ".join(printable(t.qualified, 80) for t in missing[:5])
            more = f" and {len(missing) - 5:,} more" if len(missing) > 5 else ""
            yield f"tables without a primary key or replica identity: {shown}{more}"
        if survey.extensions:
            yield f"extensions: {', '.join(printable(e, 60) for e in survey.extensions)}"
        if survey.large_objects:
            yield f"{survey.large_objects:,} large objects: logical replication does not copy them"
        if not survey.logical_source:
            yield f"cannot publish: {printable(survey.why_not_logical or '', 300)}"
    if report.renamed:
        yield printable(report.renamed, 300)
    yield (
        f"FILL IN target_url_env: the variable that will hold the target database's libpq URL "
        f"(instead of {target_placeholder(report.service)})"
    )
