"""`migrate probe INVENTORY.yaml`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from migrate.cli.root import StateOption, app, guard, read_input, state_url, stdout_console
from migrate.errors import ExitCode


@app.command("probe")
def probe_cmd(
    inventory: Annotated[Path, typer.Argument(help="Inventory file (YAML).")],
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Accept plain-http endpoints outside loopback.")
    ] = False,
    state: StateOption = None,
) -> None:
    """Check what the target really does (sizes, checksums, encryption, multipart) with canary
    objects in a scratch prefix, and record it; apply refuses a target that contradicts its
    preset."""
    from rich.table import Table
    from rich.text import Text

    from migrate.audit import insecure_override
    from migrate.cli.wiring import build_target, open_store, s3_settings, secrets_environment
    from migrate.commands.probe import run_probe
    from migrate.inventory.loader import load_inventory

    with guard():
        loaded = load_inventory(
            read_input(inventory), str(inventory), dict(os.environ), insecure=insecure
        )
        env = secrets_environment(loaded.inventory, os.environ)
        target = build_target(loaded.inventory, env, 4)
        sender = None
        if loaded.inventory.target.provider == "s3":
            from adapters.s3 import checksum_trailer_sender

            sender = checksum_trailer_sender(s3_settings(loaded.inventory, env, 4))
        store = open_store(state_url(state))
        try:
            if insecure:
                store.audit([insecure_override("probe", str(inventory))])
            report = run_probe(loaded.inventory, store, target, sender)
        finally:
            store.close()
        console = stdout_console()
        table = Table(title=f"Probe of the target (bucket {report.bucket})", title_justify="left")
        for column in ("Check", "Result", "Detail"):
            table.add_column(column, overflow="fold")
        for check in report.checks:
            verdict = (
                "ok"
                if check.ok
                else ("CONTRADICTS PRESET" if check.contradicts_preset else "failed")
            )
            table.add_row(
                Text(check.name),
                Text(verdict, style="green" if check.ok else "red"),
                Text(check.detail),
            )
        console.print(table)
        console.print(Text("Probe passed." if report.ok else "Probe found problems.", style="bold"))
        if not report.ok:
            raise typer.Exit(int(ExitCode.FAILED))
