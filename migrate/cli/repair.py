"""`migrate apply PLAN --repair SERVICE`: show what would be copied again, ask, repair,
verify, and say what the verification found."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import typer

from migrate.cli.root import confirm_or_stop, print_differences
from migrate.errors import ExitCode

if TYPE_CHECKING:
    from migrate.cli.arguments import ApplyArguments
    from migrate.commands.apply import ApplyOptions, Identity
    from migrate.commands.loading import LoadedPlan
    from migrate.commands.repair import RepairPlan, RepairResult
    from migrate.ports import SourceStore
    from state.store import Store

SHOWN = 50
CHANGES_EXIT = 2
"""``--dry-run --detailed-exitcode``: there is something to do (Terraform's 2)."""


def run_repair(
    args: ApplyArguments,
    loaded: LoadedPlan,
    store: Store,
    source: SourceStore,
    env: Mapping[str, str],
    options: ApplyOptions,
    who: Identity,
    console: Any,
) -> None:
    from migrate.cli.apply import signals
    from migrate.cli.progress import TerminalProgress
    from migrate.cli.wiring import build_target, holder_alive
    from migrate.commands.repair import plan_repair, repair

    name = args.repair or ""
    target = build_target(loaded.inventory, env, options.workers)
    preview = plan_repair(loaded, store, target, name, force=args.force, policy=options.retry)
    _render_plan(console, preview, dry_run=args.dry_run)
    if not preview.to_copy:
        return
    if args.dry_run:
        if args.detailed_exitcode:
            raise typer.Exit(CHANGES_EXIT)
        return
    confirm_or_stop(
        f"Copy {len(preview.to_copy)} objects of {name} again from the source into "
        f"'{loaded.plan.services[name].bucket}'?",
        args.yes,
    )
    stop = threading.Event()
    with signals(stop, console), TerminalProgress(console) as progress:
        result = repair(
            loaded,
            store,
            source,
            target,
            name,
            force=args.force,
            options=options,
            identity=who,
            progress=progress,
            stop=stop,
            holder_alive=holder_alive,
        )
    _render_result(console, result)
    if not result.ok:
        raise typer.Exit(int(ExitCode.FAILED))


def _render_plan(console: Any, plan: RepairPlan, *, dry_run: bool) -> None:
    from rich.table import Table
    from rich.text import Text

    heading = (
        f"Repair of {plan.service} from its verification of {plan.verified_at} "
        f"({plan.level}, against the {plan.against})"
    )
    if not plan.items:
        console.print(
            Text(
                f"{heading}: nothing to repair, the target lost or altered no object it "
                "counts as copied.",
                style="bold",
            )
        )
    else:
        title = heading + (" (dry run: nothing is changed)" if dry_run else "")
        table = Table(title=title, title_justify="left")
        for column in ("Object", "Found", "Action"):
            table.add_column(column, overflow="fold")
        for item in plan.items[:SHOWN]:
            action = item.action + (f": {item.note}" if item.note else "")
            style = "yellow" if item.action == "keep" else ""
            table.add_row(Text(item.key), Text(item.problem), Text(action, style=style))
        console.print(table)
        if len(plan.items) > SHOWN:
            console.print(Text(f"... and {len(plan.items) - SHOWN} more"))
    for key, cause, what in plan.left[:SHOWN]:
        console.print(Text(f"  not repaired: {key!r} ({cause}): {what}", style="yellow"))
    if plan.items:
        console.print(
            Text(
                f"{len(plan.to_copy)} to copy again from the source, {len(plan.kept)} kept. "
                "An object missing since the cutover may have been deleted by an application "
                "that now writes to the target: check before you confirm.",
                style="bold",
            )
        )


def _render_result(console: Any, result: RepairResult) -> None:
    from rich.text import Text

    for key, status in result.not_repaired[:SHOWN]:
        console.print(
            Text(f"  not repaired: {key!r} is {status} (see `migrate status`)", style="red")
        )
    report = result.verification
    verified = (
        f"verified again ({report.level}, against the {report.against}): "
        f"{len(report.differences)} differences"
        if report is not None
        else "not verified again (interrupted: run the same command again)"
    )
    if report is not None:
        print_differences(console, result.plan.service, report.differences, SHOWN)
    for path in result.evidence:
        console.print(Text(f"Evidence: {path}"))
    console.print(
        Text(
            f"Repair of {result.plan.service}: {len(result.repaired)} copied again, "
            f"{len(result.not_repaired)} not repaired, {len(result.plan.kept)} kept; {verified}.",
            style="bold",
        )
    )
