"""`migrate audit verify [--head FILE ...]` and `migrate audit export FILE [--project P]`."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from migrate.cli.root import (
    StateOption,
    app,
    guard,
    read_input,
    state_url,
    stderr_console,
    stdout_console,
    write_atomically,
)
from migrate.errors import ExitCode

if TYPE_CHECKING:
    from rich.console import Console

    from migrate.audit import Anchor, LogReport, SealedEvent

audit_app = typer.Typer(help="Check or export the hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")

HeadOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--head",
        help="A copy kept elsewhere of the head file, an evidence file or an audit export: "
        "the log must still hold the event it records (repeatable).",
    ),
]


@audit_app.command("verify")
def audit_verify_cmd(heads: HeadOption = None, state: StateOption = None) -> None:
    """Check the chain and its heads; exit 1 naming the first event that is edited, missing,
    out of order, inserted, (with MIGRATE_AUDIT_HMAC_KEY) wrongly signed, or cut off the end."""
    from rich.text import Text

    from migrate.cli.wiring import audit_key

    with guard():
        key = audit_key(os.environ)
        report, _, missing = _check(state_url(state), key, _given(heads))
        console = stdout_console()
        if report.ok:
            signed = "signatures checked" if key else "no key: signatures not checked"
            console.print(
                Text(
                    f"Audit log intact: {report.chain.events} events, chain verified ({signed}); "
                    f"its head, {report.head.short()}, is where {_kept(report.anchors)} say.",
                    style="bold",
                )
            )
            _note_missing(console, missing)
            return
        _print_broken(console, report)
        _note_missing(console, missing)
        raise typer.Exit(int(ExitCode.FAILED))


@audit_app.command("export")
def audit_export_cmd(
    file: Annotated[
        Path, typer.Argument(help="Write the events here, as JSON lines ('-': standard output).")
    ],
    project: Annotated[
        str | None, typer.Option("--project", help="Only the events of this project.")
    ] = None,
    state: StateOption = None,
) -> None:
    """Export the audit log (JSON lines, one event per line, with its hash and signature), and
    say its head; exit 1 (the file written all the same) when the log is broken."""
    import json

    from rich.text import Text

    from migrate.cli.wiring import audit_key

    with guard():
        key = audit_key(os.environ)
        report, events, _ = _check(state_url(state), key, [])
        chosen = [e for e in events if project is None or e.project == project]
        text = "".join(
            json.dumps(e.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for e in chosen
        )
        to_stdout = str(file) == "-"
        if to_stdout:  # the events alone on stdout (a pipe); what is said goes to stderr
            sys.stdout.write(text)
            sys.stdout.flush()
        else:
            write_atomically(file, text)
        console = stderr_console() if to_stdout else stdout_console()
        console.print(
            Text(f"Exported {len(chosen)} events to {'standard output' if to_stdout else file}")
        )
        checked = "signatures checked" if key else "no key: signatures not checked"
        advice = (
            f" Keep this {'output' if to_stdout else 'file'} where the ledger is not: "
            f"`migrate audit verify --head {'FILE' if to_stdout else file}` "
            "shows any later loss."
            if chosen
            else ""
        )
        console.print(Text(f"Audit head: {report.head.short()} ({checked}).{advice}"))
        if not report.ok:
            _print_broken(console, report)
            raise typer.Exit(int(ExitCode.FAILED))


def _given(heads: list[Path] | None) -> list[Anchor]:
    from migrate.audit import anchor_from_text

    return [
        anchor_from_text(read_input(path).decode("utf-8", errors="replace"), str(path))
        for path in heads or []
    ]


def _check(
    url: str, key: bytes | None, given: list[Anchor]
) -> tuple[LogReport, list[SealedEvent], int]:
    """The whole log against every head kept: in the ledger, in its runs, in the head file
    and the evidence files beside a SQLite ledger, and those given. Files are read before the
    ledger, so that a run writing meanwhile never looks like a loss."""
    from migrate.audit import Anchor, verify_log
    from migrate.commands.evidence import evidence_anchors, evidence_folder, scan_evidence
    from state.audit_log import head_file_of, read_head_file
    from state.engine import sqlite_path
    from state.store import Store

    database = sqlite_path(url)
    if database is not None and not database.exists():
        head_file = head_file_of(database)
        kept = read_head_file(head_file) if head_file is not None else None
        if kept is not None:
            gone = Anchor(f"the ledger {database}", None, problem="it is missing")
            return verify_log([], key, [gone, kept, *given]), [], 0
    scanned = scan_evidence(evidence_folder(database)) if database is not None else {}
    store = Store.open(url, readonly=True)
    try:
        events, anchors = store.audit_snapshot()
        recorded = store.evidence_files()
    finally:
        store.close()
    found, missing = evidence_anchors(scanned, recorded)
    return verify_log(events, key, [*anchors, *found, *given]), events, missing


def _kept(anchors: tuple[str, ...]) -> str:
    """Where the head was found, in short: the ledger, the head file, 3 runs, 2 evidence files."""
    from collections import Counter

    counts = Counter(_place(where) for where in anchors)
    parts = [name for name in ("the ledger", "the head file") if counts[name]]
    for name in ("run", "evidence file", "file given"):
        if counts[name]:
            parts.append(f"{counts[name]} {name}{'s' if counts[name] > 1 else ''}")
    return ", ".join(parts) if parts else "nothing (no head kept yet)"


def _place(where: str) -> str:
    if where == "the ledger's head":
        return "the ledger"
    for prefix, name in (("the head file", "the head file"), ("run ", "run")):
        if where.startswith(prefix):
            return name
    return "evidence file" if where.startswith("evidence file ") else "file given"


def _print_broken(console: Console, report: LogReport) -> None:
    """The earliest problem as the headline (the chain's own first), then every other one."""
    from rich.text import Text

    if not report.chain.ok:
        headline = f" at event {report.chain.first_bad}: {report.chain.reason}"
        others = [f.text for f in report.findings]
    else:
        numbered = [f for f in report.findings if f.seq is not None]
        first = min(numbered, key=lambda f: f.seq or 0) if numbered else report.findings[0]
        headline = (f" at event {first.seq}" if first.seq is not None else "") + f": {first.text}"
        others = [f.text for f in report.findings if f is not first]
    console.print(Text(f"Audit log BROKEN{headline}.", style="bold red"))
    for line in others:
        console.print(Text(f"  also: {line}", style="red"))


def _note_missing(console: Console, missing: int) -> None:
    from rich.text import Text

    if missing:
        many = missing > 1
        console.print(
            Text(
                f"{missing} evidence file{'s' if many else ''} the ledger lists "
                f"{'are' if many else 'is'} not here (archived?): check "
                f"{'them' if many else 'it'} with --head FILE.",
                style="yellow",
            )
        )
