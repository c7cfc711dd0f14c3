"""`migrate audit verify` and `migrate audit export FILE [--project P]`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from migrate.cli.root import StateOption, app, guard, state_url, stdout_console, write_atomically
from migrate.errors import ExitCode

audit_app = typer.Typer(help="Check or export the hash-chained audit log.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def audit_verify_cmd(state: StateOption = None) -> None:
    """Check the chain; exit 1 naming the first event that is edited, missing, out of order,
    inserted or (with MIGRATE_AUDIT_HMAC_KEY) wrongly signed."""
    from rich.text import Text

    from migrate.audit import verify_chain
    from migrate.cli.wiring import audit_key
    from state.store import Store

    with guard():
        store = Store.open(state_url(state), readonly=True)
        try:
            events = store.audit_events()
        finally:
            store.close()
        key = audit_key(os.environ)
        report = verify_chain(events, key)
        console = stdout_console()
        signed = "signatures checked" if key else "no key: signatures not checked"
        if report.ok:
            console.print(
                Text(
                    f"Audit log intact: {report.events} events, chain verified ({signed}).",
                    style="bold",
                )
            )
            return
        console.print(
            Text(
                f"Audit log BROKEN at event {report.first_bad}: {report.reason}.", style="bold red"
            )
        )
        raise typer.Exit(int(ExitCode.FAILED))


@audit_app.command("export")
def audit_export_cmd(
    file: Annotated[Path, typer.Argument(help="Write the events here, as JSON lines.")],
    project: Annotated[
        str | None, typer.Option("--project", help="Only the events of this project.")
    ] = None,
    state: StateOption = None,
) -> None:
    """Export the audit log (JSON lines, one event per line, with its hash and signature)."""
    import json

    from rich.text import Text

    from state.store import Store

    with guard():
        store = Store.open(state_url(state), readonly=True)
        try:
            events = store.audit_events(project)
        finally:
            store.close()
        text = "".join(
            json.dumps(e.to_json(), ensure_ascii=False, sort_keys=True) + "\n" for e in events
        )
        write_atomically(file, text)
        stdout_console().print(Text(f"Exported {len(events)} events to {file}"))
