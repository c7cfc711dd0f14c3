"""`migrate verify`, `migrate rollback`, `migrate decommission` (on the applied plan)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from migrate.cli.root import StateOption, app, guard, read_input, state_url, stdout_console
from migrate.errors import ExitCode, InvalidInput

if TYPE_CHECKING:
    from migrate.commands.loading import LoadedPlan
    from migrate.ledger import LockInfo
    from state.store import Store

InventoryOption = Annotated[
    Path | None,
    typer.Option("--inventory", help="Read the inventory from here, not from the plan's path."),
]


def _applied(store: Store, inventory: Path | None, insecure: bool) -> LoadedPlan:
    found = store.latest_plan_text()
    if found is None:
        raise InvalidInput("no plan has been applied with this state database yet")
    from migrate import planfile
    from migrate.commands.loading import load_plan

    plan = planfile.loads(found[1], "the applied plan")
    path = inventory or Path(plan.inventory)
    return load_plan(
        found[1],
        "the applied plan",
        read_input(path),
        str(path),
        dict(os.environ),
        insecure=insecure,
    )


@app.command("verify")
def verify_cmd(
    services: Annotated[
        list[str] | None, typer.Argument(help="Services (default: all stores).")
    ] = None,
    deep: Annotated[
        bool, typer.Option("--deep", help="Re-read and hash every target object.")
    ] = False,
    sample: Annotated[
        float | None, typer.Option("--sample", help="Re-read a rotating PCT of the objects.")
    ] = None,
    against: Annotated[
        str,
        typer.Option(
            "--against",
            help="source: the current source listing too (default); ledger: only what was copied.",
        ),
    ] = "source",
    inventory: InventoryOption = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Accept plain-http endpoints.")
    ] = False,
    state: StateOption = None,
) -> None:
    """Compare the target with the current source (or, --against ledger, with what was
    copied) for the applied plan; exit 1 names every difference and which side moved."""
    from rich.table import Table
    from rich.text import Text

    from migrate.audit import insecure_override
    from migrate.cli.wiring import (
        build_source,
        build_target,
        identity,
        open_store,
        secrets_environment,
    )
    from migrate.commands.evidence import evidence_folder
    from migrate.commands.lifecycle import verify
    from migrate.executor.retry import RetryPolicy
    from state.engine import sqlite_path

    with guard():
        url = state_url(state)
        store = open_store(url)
        try:
            if against not in ("source", "ledger"):
                raise InvalidInput(f"--against {against}: choose source or ledger")
            loaded = _applied(store, inventory, insecure)
            if insecure:
                store.audit([insecure_override("verify", loaded.plan.inventory)])
            policy = loaded.inventory.policy
            env = secrets_environment(loaded.inventory, os.environ)
            target = build_target(loaded.inventory, env, 8)
            source = build_source(loaded.inventory, env) if against == "source" else None
            result = verify(
                loaded,
                store,
                target,
                list(services or []),
                level="deep" if deep else "hash",
                sample_pct=sample,
                evidence_dir=evidence_folder(sqlite_path(url)),
                policy=RetryPolicy(policy.retry_attempts, policy.retry_max_time),
                run_id=identity(url, None).run_id,
                source=source,
                against=against,
            )
        finally:
            store.close()
        console = stdout_console()
        table = Table(title=f"Verification against the {against}", title_justify="left")
        for column in ("Service", "Level", "Checked", "Re-read", "Differences", "Proof per object"):
            table.add_column(column, overflow="fold")
        for report in result.reports:
            proofs = "\n".join(f"{n}: {proof}" for proof, n in sorted(report.proofs.items()))
            table.add_row(
                Text(report.service),
                report.level,
                str(report.checked),
                str(report.deep_checked),
                str(len(report.differences)),
                Text(proofs),
            )
        console.print(table)
        for report in result.reports:
            for difference in report.differences:
                console.print(
                    Text(
                        f"  {report.service}: {difference.key!r}: {difference.problem} "
                        f"[{difference.cause}]",
                        style="red",
                    )
                )
        for path in result.evidence:
            console.print(Text(f"Evidence: {path}"))
        differences = sum(len(r.differences) for r in result.reports)
        console.print(
            Text(
                f"Verify: {differences} differences in {len(result.reports)} services.",
                style="bold",
            )
        )
        if not result.ok:
            raise typer.Exit(int(ExitCode.FAILED))


def _lock(url: str, operator: str | None) -> tuple[LockInfo, str]:
    from migrate.cli.wiring import identity
    from migrate.ledger import LockInfo
    from migrate.timeutil import now_iso

    who = identity(url, operator)
    stamp = now_iso()
    return LockInfo(
        who.run_id, who.host, who.pid, who.pid_start, who.operator, stamp, stamp
    ), who.run_id


@app.command("rollback")
def rollback_cmd(
    service: Annotated[str, typer.Argument(help="The service to roll back.")],
    cascade: Annotated[
        bool, typer.Option("--cascade", help="Roll back its cut-over dependents first.")
    ] = False,
    inventory: InventoryOption = None,
    operator: Annotated[str | None, typer.Option("--operator", help="Who rolls back.")] = None,
    state: StateOption = None,
) -> None:
    """Undo a cutover that has not been decommissioned (runs the rollback hook)."""
    from rich.text import Text

    from migrate.cli.wiring import holder_alive, open_store
    from migrate.commands.lifecycle import rollback

    with guard():
        url = state_url(state)
        store = open_store(url, operator)
        try:
            loaded = _applied(store, inventory, insecure=True)
            lock, run_id = _lock(url, operator)
            done = rollback(
                loaded,
                store,
                service,
                cascade=cascade,
                run_id=run_id,
                state_url=url,
                hook_timeout=loaded.inventory.policy.hook_timeout,
                lock=lock,
                holder_alive=holder_alive,
            )
        finally:
            store.close()
        console = stdout_console()
        for name, detail in done:
            console.print(Text(f"{name}: {detail}"))
        console.print(
            Text(
                f"Rolled back {len(done)} service(s); the source was not touched. "
                "`migrate apply` takes them through freeze and cutover again.",
                style="bold",
            )
        )


@app.command("decommission")
def decommission_cmd(
    service: Annotated[str, typer.Argument(help="The service whose source side retires.")],
    inventory: InventoryOption = None,
    operator: Annotated[str | None, typer.Option("--operator", help="Who decommissions.")] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Accept plain-http endpoints outside loopback.")
    ] = False,
    state: StateOption = None,
) -> None:
    """Retire the source side: only verified, approved and past the notice period."""
    from rich.text import Text

    from migrate.audit import insecure_override
    from migrate.cli.wiring import (
        build_source,
        build_target,
        holder_alive,
        open_store,
        secrets_environment,
    )
    from migrate.commands.lifecycle import decommission
    from migrate.executor.retry import RetryPolicy

    with guard():
        url = state_url(state)
        store = open_store(url, operator)
        try:
            # it reads both sides to verify for itself: the same endpoint rule as apply
            loaded = _applied(store, inventory, insecure)
            if insecure:
                store.audit([insecure_override("decommission", service)])
            env = secrets_environment(loaded.inventory, os.environ)
            lock, run_id = _lock(url, operator)
            policy = loaded.plan.policy
            result = decommission(
                loaded,
                store,
                service,
                source=build_source(loaded.inventory, env),
                target=build_target(loaded.inventory, env, 8),
                policy=RetryPolicy(
                    attempts=policy.retry_attempts, max_seconds=policy.retry_max_seconds
                ),
                run_id=run_id,
                state_url=url,
                hook_timeout=policy.hook_timeout_seconds,
                lock=lock,
                holder_alive=holder_alive,
            )
        finally:
            store.close()
        console = stdout_console()
        console.print(Text(f"{result.service}: {result.verified}."))
        console.print(Text(f"Decommissioned {result.service}: {result.detail}.", style="bold"))
