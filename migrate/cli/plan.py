"""`migrate plan`."""

from __future__ import annotations

import gc
import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from migrate.cli.root import (
    StateOption,
    app,
    guard,
    read_input,
    state_url,
    stdout_console,
    write_atomically,
)


class PlanFormat(StrEnum):
    table = "table"
    json = "json"
    mermaid = "mermaid"
    dot = "dot"


@app.command("plan")
def plan_cmd(
    inventory: Annotated[Path, typer.Argument(help="Inventory file (YAML).", show_default=False)],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the plan file (JSON) here.")
    ] = None,
    fmt: Annotated[
        PlanFormat, typer.Option("--format", help="How to print the plan.")
    ] = PlanFormat.table,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Accept plain-http endpoints outside loopback."),
    ] = False,
    state: StateOption = None,
) -> None:
    """Validate the inventory, build the dependency graph and compute the waves."""
    from rich.text import Text

    from migrate import planfile
    from migrate.commands.plan import plan
    from migrate.views.plan_graph import to_dot, to_mermaid
    from migrate.views.plan_table import print_plan

    with guard():
        result = plan(read_input(inventory), str(inventory), dict(os.environ), insecure=insecure)
        text = planfile.dumps(result.plan)
        if output is not None:
            write_atomically(output, text)
        # the inventory and the plan live until exit: out of the collector's scans while the
        # ledger's imports (SQLAlchemy) allocate (about 0.3 s on 10,000 services)
        gc.freeze()
        _record_plan(state, result.plan, text, output, insecure)
        if fmt is PlanFormat.json:
            sys.stdout.write(text)
        elif fmt is PlanFormat.mermaid:
            sys.stdout.write(to_mermaid(result.plan))
        elif fmt is PlanFormat.dot:
            sys.stdout.write(to_dot(result.plan))
        else:
            console = stdout_console()
            print_plan(result.plan, console)
            _show_difference(state, result.plan, console)
            if output is not None:
                console.print(Text(f"Saved the plan to {output}. Run: migrate apply {output}"))


def _show_difference(state: str | None, plan: Any, console: Any) -> None:
    """The plan against the one the state database applied last, when there is one."""
    from rich.table import Table
    from rich.text import Text

    from migrate.commands.plan_diff import SAME, consequence, diff_plans
    from migrate.errors import MigrateError
    from state.engine import ledger_missing, sqlite_path
    from state.store import Store

    url = state_url(state)
    path = sqlite_path(url)
    if path is not None and ledger_missing(path):
        return
    try:
        store = Store.open(url, readonly=True)
        try:
            applied = store.latest_plan()
            states = {s.name: s.state for s in store.snapshot(None).services}
        finally:
            store.close()
    except MigrateError as error:
        console.print(Text(f"Not compared with the state database: {error}", style="yellow"))
        return
    if applied is None:
        return
    difference = diff_plans(plan, applied[1], states)
    changed = [c for c in difference.changes if c.change != SAME]
    if changed:
        table = Table(title="Against the plan applied last", title_justify="left")
        for column in ("Service", "Change", "State", "What changes", "Meaning"):
            table.add_column(column, overflow="fold")
        for c in changed:
            table.add_row(
                Text(c.name), c.change, c.state or "-", Text(", ".join(c.details) or "-"),
                Text(consequence(c)),
            )  # fmt: skip
        console.print(table)
    console.print(
        Text(
            f"Against the plan applied last ({applied[0][:12]}...): {difference.summary}.",
            style="bold",
        )
    )


def _record_plan(
    state: str | None, plan: Any, text: str, output: Path | None, insecure: bool
) -> None:
    """The plan's creation goes into the audit log of the state database, when there is one:
    planning creates no ledger (the first apply does, and its ``apply.start`` names the plan),
    except to keep an ``--insecure`` override, which is always on record."""
    import hashlib

    from migrate.audit import AuditEvent, insecure_override
    from migrate.cli.wiring import open_store
    from state.engine import ledger_missing, sqlite_path

    url = state_url(state)
    path = sqlite_path(url)
    if path is not None and ledger_missing(path) and not insecure:
        return
    store = open_store(url)
    try:
        events = [
            AuditEvent(
                "plan.created",
                str(output or "-"),
                detail={
                    "inventory": plan.inventory,
                    "inventory_sha256": plan.inventory_sha256,
                    "plan_sha256": hashlib.sha256(text.encode()).hexdigest(),
                    "services": len(plan.services),
                    "waves": len(plan.waves),
                },
            )
        ]
        if insecure:
            events.append(insecure_override("plan", plan.inventory))
        store.audit(events)
    finally:
        store.close()
