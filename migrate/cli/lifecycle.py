"""`migrate verify`, `migrate rollback`, `migrate decommission` (on the applied plan)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from migrate.cli.root import (
    StateOption,
    app,
    confirm_or_stop,
    guard,
    print_differences,
    read_input,
    state_url,
    stdout_console,
)
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
    """The plan last applied, with the inventory it was applied with: the file, when it is
    still that inventory (or ``--inventory``), else the copy the state database recorded
    with the plan. An inventory edited since is not what was applied: verify, rollback and
    decommission work on what was applied, and say so."""
    import hashlib

    from migrate import planfile
    from migrate.commands.loading import load_plan
    from migrate.errors import StalePlan

    found = store.latest_plan_text()
    if found is None:
        raise InvalidInput("no plan has been applied with this state database yet")
    plan = planfile.loads(found[1], "the applied plan")
    path = inventory or Path(plan.inventory)
    raw = _read_if_present(path) if inventory is None else read_input(path)
    if raw is not None and hashlib.sha256(raw).hexdigest() == plan.inventory_sha256:
        return load_plan(
            found[1], "the applied plan", raw, str(path), dict(os.environ), insecure=insecure
        )
    recorded = store.applied_inventory(found[0])
    if inventory is not None or recorded is None:
        what = "is missing" if raw is None else "changed since the plan was applied"
        raise StalePlan(
            f"{path} {what} (the applied plan was made from the inventory of sha256 "
            f"{plan.inventory_sha256[:12]}...), and this state database has no copy of that "
            "inventory (it was applied by an older version): give it with --inventory FILE"
        )
    recorded_at, text = recorded
    _warn(
        f"{path} {'is missing' if raw is None else 'changed since the plan was applied'}: "
        f"working from the plan applied last and its inventory as recorded at {recorded_at} "
        "(apply the change with `migrate plan` and `migrate apply` once this is done)"
    )
    return load_plan(
        found[1],
        "the applied plan",
        text.encode("utf-8"),
        str(path),
        dict(os.environ),
        insecure=insecure,
    )


def _confirm(preview: str, yes: bool) -> None:
    """Say what is about to happen; on a terminal, ask (``--yes`` does not ask)."""

    from rich.text import Text

    stdout_console().print(Text(preview + "."))
    confirm_or_stop("Go ahead?", yes)


def _read_if_present(path: Path) -> bytes | None:
    return read_input(path) if path.is_file() else None


def _warn(message: str) -> None:
    from rich.text import Text

    from migrate.cli.root import stderr_console

    stderr_console().print(Text(message, style="yellow"))


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
            print_differences(console, report.service, report.differences, 10_000)
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
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    state: StateOption = None,
) -> None:
    """Undo a cutover that has not been decommissioned (runs the rollback hook)."""
    from rich.text import Text

    from migrate.cli.wiring import (
        database_connector,
        holder_alive,
        open_store,
        secrets_environment,
    )
    from migrate.commands.lifecycle import rollback, rollback_order

    with guard():
        url = state_url(state)
        store = open_store(url, operator)
        try:
            loaded = _applied(store, inventory, insecure=True)
            if service not in loaded.plan.services:
                raise InvalidInput(f"service '{service}' is not in the applied plan")
            order = rollback_order(loaded, store, service, cascade)
            _confirm(
                "Roll back, in this order: "
                + ", then ".join(
                    f"{name} (wave {loaded.plan.services[name].wave}"
                    + (
                        ", its rollback hook runs)"
                        if loaded.plan.services[name].hook("rollback")
                        else ")"
                    )
                    for name in order
                )
                + ". Their writes go back to the source side",
                yes,
            )
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
                databases=database_connector(secrets_environment(loaded.inventory, os.environ)),
            )
        finally:
            store.close()
        console = stdout_console()
        for name, detail in done:
            console.print(Text(f"{name}: {detail}"))
        databases = [n for n, _ in done if loaded.plan.services[n].database is not None]
        untouched = (
            "the source was not touched" if not databases
            else f"the source of {', '.join(databases)} got only the writes made at the target"
        )  # fmt: skip
        console.print(
            Text(
                f"Rolled back {len(done)} service(s); {untouched}. "
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
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    discard_left_out: Annotated[
        bool,
        typer.Option(
            "--discard-left-out",
            help="Retire the source even though it holds objects the service's filter "
            "(data.include/data.exclude) left out: they are never copied, and go with it.",
        ),
    ] = False,
    state: StateOption = None,
) -> None:
    """Retire the source side: only verified, approved and past the notice period."""
    from rich.text import Text

    from migrate.audit import insecure_override
    from migrate.cli.wiring import (
        build_source,
        build_target,
        database_connector,
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
                confirm=lambda preview: _confirm(preview, yes),
                databases=database_connector(env),
                discard_left_out=discard_left_out,
            )
        finally:
            store.close()
        console = stdout_console()
        console.print(Text(f"{result.service}: {result.verified}."))
        console.print(Text(f"Decommissioned {result.service}: {result.detail}.", style="bold"))
