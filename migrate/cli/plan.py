"""`migrate plan`."""

from __future__ import annotations

import gc
import os
import sys
from dataclasses import dataclass
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
        recorded, unread = _read_state(state)
        result = plan(
            read_input(inventory),
            str(inventory),
            dict(os.environ),
            insecure=insecure,
            recorded_waves=recorded.waves if recorded else None,
        )
        text = planfile.dumps(result.plan)
        if output is not None:
            write_atomically(output, text)
        # the inventory and the plan live until exit: out of the collector's scans while the
        # ledger's imports (SQLAlchemy) allocate (about 0.3 s on 10,000 services)
        gc.freeze()
        _record_plan(state, result.plan, text, output, insecure)
        if unread is not None and fmt is not PlanFormat.table:
            sys.stderr.write(f"Not compared with the state database: {unread}\n")
        if fmt is PlanFormat.json:
            sys.stdout.write(text)
        elif fmt is PlanFormat.mermaid:
            sys.stdout.write(to_mermaid(result.plan))
        elif fmt is PlanFormat.dot:
            sys.stdout.write(to_dot(result.plan))
        else:
            console = stdout_console()
            print_plan(result.plan, console)
            _show_difference(recorded, unread, result.plan, console)
            if output is not None:
                console.print(Text(f"Saved the plan to {output}. Run: migrate apply {output}"))


@dataclass(frozen=True)
class _Recorded:
    """What the state database holds that planning takes into account."""

    applied: tuple[str, Any] | None
    """The sha256 and the plan applied last."""
    states: dict[str, str]
    waves: dict[str, int]
    """Services with work recorded, and their waves: the new plan keeps them there."""


def _read_state(state: str | None) -> tuple[_Recorded | None, str | None]:
    """The state database's view, read-only (planning never creates one), or why not."""
    from migrate.errors import MigrateError
    from state.engine import ledger_missing, sqlite_path
    from state.store import Store

    url = state_url(state)
    path = sqlite_path(url)
    if path is not None and ledger_missing(path):
        return None, None
    try:
        store = Store.open(url, readonly=True)
        try:
            return (
                _Recorded(
                    store.latest_plan(),
                    {s.name: s.state for s in store.snapshot(None).services},
                    store.worked_waves(),
                ),
                None,
            )
        finally:
            store.close()
    except MigrateError as error:
        return None, str(error)


def _show_difference(
    recorded: _Recorded | None, unread: str | None, plan: Any, console: Any
) -> None:
    """The plan against the one the state database applied last, when there is one."""
    from rich.table import Table
    from rich.text import Text

    from migrate.commands.plan_diff import SAME, consequence, diff_plans

    if unread is not None:
        console.print(Text(f"Not compared with the state database: {unread}", style="yellow"))
        return
    if recorded is None or recorded.applied is None:
        return
    applied, states = recorded.applied, recorded.states
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
    kept = sum(1 for n, w in plan.recorded_waves.items() if plan.services[n].wave == w)
    if plan.recorded_waves:
        console.print(
            Text(
                f"{kept} of {len(plan.recorded_waves)} services with work recorded keep the "
                "wave they were applied in."
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
