"""`migrate apply`: check the flags, load and check the saved plan, build the adapters, run,
render. The flags are checked by ``migrate.cli.arguments.parse_apply``; what the run needs
(the ledger, the executor, the adapters, rich's tables) is imported when it starts."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migrate.cli.arguments import ApplyArguments, LogFormat, parse_apply
from migrate.cli.root import (
    StateOption,
    app,
    confirm_or_stop,
    guard,
    read_input,
    stdout_console,
)
from migrate.errors import ExitCode

if TYPE_CHECKING:
    import threading

    from migrate.commands.apply import ApplyOptions, ApplyResult, Identity
    from migrate.commands.loading import LoadedPlan
    from migrate.config import PolicyConfig
    from migrate.executor.rehearsal import Rehearsal
    from migrate.repositories import EvidenceRecords
    from migrate.scaleout.cluster import DaskCluster


@app.command("apply")
def apply_cmd(
    plan_file: Annotated[Path, typer.Argument(help="Saved plan (JSON) from `migrate plan -o`.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Rehearse: list, count and estimate; change nothing.")
    ] = False,
    workers: Annotated[int, typer.Option("--workers", help="Parallel object copies.")] = 8,
    wave: Annotated[int | None, typer.Option("--wave", help="Only this wave.")] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Only this service (repeatable).")
    ] = None,
    only_failed: Annotated[
        bool, typer.Option("--only-failed", help="Retry the objects that failed.")
    ] = False,
    project: Annotated[
        str | None, typer.Option("--project", help="Only the services of this project.")
    ] = None,
    executor: Annotated[
        str,
        typer.Option(
            "--executor", help="Where copies run: local (threads) or dask (a dask cluster)."
        ),
    ] = "local",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="Dask scheduler address, tls://HOST:PORT (--executor dask)."
        ),
    ] = None,
    inventory: Annotated[
        Path | None,
        typer.Option("--inventory", help="Read the inventory from here, not from the plan's path."),
    ] = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Accept plain-http endpoints outside loopback.")
    ] = False,
    operator: Annotated[
        str | None, typer.Option("--operator", help="Who runs this (default: the OS user).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text (bars on a terminal) or json lines.")
    ] = LogFormat.text,
    repair: Annotated[
        str | None,
        typer.Option(
            "--repair",
            metavar="SERVICE",
            help="Copy again what the service's last verify found missing or damaged at the "
            "target (no new cutover).",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="With --repair: also overwrite objects changed at the target."
        ),
    ] = False,
    detailed_exitcode: Annotated[
        bool,
        typer.Option(
            "--detailed-exitcode",
            help="With --dry-run: exit 0 when there is nothing to do, 2 when there are changes.",
        ),
    ] = False,
    bwlimit: Annotated[
        str | None,
        typer.Option(
            "--bwlimit",
            metavar="RATE",
            help="Most bytes per second the copy reads (rclone's syntax: 50M, off, or a "
            'timetable "08:00,50M 19:00,off"); over policy.bandwidth_limit. Change it for '
            "the running apply with `migrate bwlimit`.",
        ),
    ] = None,
    state: StateOption = None,
) -> None:
    """Execute (or rehearse with --dry-run) the saved plan; resumes where a run stopped."""
    with guard():
        arguments = parse_apply(
            plan_file,
            env=os.environ,
            dry_run=dry_run,
            workers=workers,
            wave=wave,
            only=only,
            only_failed=only_failed,
            project=project,
            executor=executor,
            scheduler=scheduler,
            inventory=inventory,
            insecure=insecure,
            operator=operator,
            yes=yes,
            log_format=log_format,
            state=state,
            repair=repair,
            force=force,
            detailed_exitcode=detailed_exitcode,
            bwlimit=bwlimit,
        )
        _run(arguments)


def _run(args: ApplyArguments) -> None:
    import gc
    import threading

    from migrate.cli.progress import JsonLinesProgress, TerminalProgress
    from migrate.cli.wiring import (
        build_source,
        build_target,
        database_connector,
        holder_alive,
        identity,
        open_store,
        secrets_environment,
        target_capabilities,
    )
    from migrate.commands.apply import apply, rehearse_apply

    loaded = _load(args.plan_file, args.inventory, args.insecure)
    options = execution_options(args, loaded.inventory.policy)
    env = secrets_environment(loaded.inventory, os.environ)
    console = stdout_console()
    source = build_source(loaded.inventory, env)
    store = open_store(args.state_url, args.operator)
    try:
        who = identity(args.state_url, args.operator)
        if args.repair is not None:
            from migrate.cli.repair import run_repair

            run_repair(args, loaded, store, source, env, options, who, console)
            return
        if options.dry_run:
            reader = open_store(args.state_url, readonly=True)  # one moment, holding up nothing
            try:
                result = rehearse_apply(
                    loaded,
                    store,
                    source,
                    target_capabilities(loaded.inventory),
                    options,
                    who,
                    reader,
                    database_connector(env),
                )
            finally:
                reader.close()
            if result.rehearsal is not None:
                _render_rehearsal(console, result.rehearsal)
                _detailed_exit(args, result.rehearsal)
            return
        target = build_target(loaded.inventory, env, options.workers)
        options, write_check = _with_write_proof(loaded, options, store)
        # What is loaded by now (modules, service models, the plan) lives as long as the
        # process: out of the collector's scans. Measured on 5,000 objects: full
        # collections 0.31 s -> 0.06 s, and 0.09 s less at exit.
        gc.freeze()
        confirm_or_stop(
            f"Apply {args.plan_file} ({len(loaded.plan.services)} services in "
            f"{len(loaded.plan.waves)} waves) to the target?",
            args.yes,
        )
        stop = threading.Event()
        progress: TerminalProgress | JsonLinesProgress = (
            JsonLinesProgress(sys.stdout, who.run_id)
            if args.log_format is LogFormat.json
            else TerminalProgress(console)
        )
        if args.log_format is not LogFormat.json:
            console.print(f"Write check: {write_check}", highlight=False)
            console.print(f"Bandwidth limit: {_limit_line(loaded, options)}", highlight=False)
        with signals(stop, console), progress, _cluster(loaded, options, who) as cluster:
            result = apply(
                loaded,
                store,
                source,
                target,
                options,
                who,
                progress,
                stop,
                holder_alive,
                cluster,
                database_connector(env),
            )
        if args.log_format is LogFormat.json:
            _json_summary(result)
        else:
            _render_result(console, result, store)
    finally:
        store.close()
    if result.refusal is not None:
        from migrate.errors import RefusedForSafety

        raise RefusedForSafety(result.refusal)
    if not result.ok:
        raise typer.Exit(int(ExitCode.FAILED))


def execution_options(args: ApplyArguments, policy: PolicyConfig) -> ApplyOptions:
    """The one execution config of this run, built once from the flags and the inventory's
    policy, and passed down to the rehearsal, the executor and the cluster."""
    from migrate.commands.apply import ApplyOptions
    from migrate.commands.evidence import evidence_folder
    from migrate.executor.retry import RetryPolicy
    from state.engine import sqlite_path

    return ApplyOptions(
        dry_run=args.dry_run,
        workers=args.workers,
        wave=args.wave,
        only=args.only,
        only_failed=args.only_failed,
        project=args.project,
        hook_timeout=policy.hook_timeout,
        retry=RetryPolicy(attempts=policy.retry_attempts, max_seconds=policy.retry_max_time),
        evidence_dir=evidence_folder(sqlite_path(args.state_url)),
        insecure=args.insecure,
        scheduler=args.scheduler,
        bwlimit=args.bwlimit,
    )


def _limit_line(loaded: LoadedPlan, options: ApplyOptions) -> str:
    from migrate.commands.apply import bandwidth_setting

    setting = bandwidth_setting(loaded.plan, options)
    if setting.source == "none":
        return "none (--bwlimit or policy.bandwidth_limit sets one; `migrate bwlimit` changes it)"
    return setting.describe()


def _with_write_proof(
    loaded: LoadedPlan, options: ApplyOptions, store: EvidenceRecords
) -> tuple[ApplyOptions, str]:
    """The run's options with the write check the target's last probe allows, and the
    sentence that says which (the same for the threads here and the dask workers)."""
    from dataclasses import replace

    from migrate.commands.probe import write_proof

    proven, how = write_proof(loaded.inventory, store)
    return replace(options, copy=replace(options.copy, proving_answers=proven)), how


def _load(plan_file: Path, inventory: Path | None, insecure: bool) -> LoadedPlan:
    plan_text = read_input(plan_file).decode("utf-8", errors="replace")
    from migrate import planfile
    from migrate.commands.loading import load_plan

    plan = planfile.loads(plan_text, str(plan_file))
    inventory_path = inventory or Path(plan.inventory)
    raw = read_input(inventory_path)
    return load_plan(
        plan_text, str(plan_file), raw, str(inventory_path), dict(os.environ), insecure=insecure
    )


@contextmanager
def _cluster(
    loaded: LoadedPlan, options: ApplyOptions, who: Identity
) -> Iterator[DaskCluster | None]:
    """The dask cluster the copies run on, or None for the threads of this process."""
    if options.scheduler is None:
        yield None
        return
    from migrate.scaleout.cluster import connect
    from migrate.scaleout.worker import WorkerSpec

    spec = WorkerSpec(who.run_id, loaded.inventory, options.copy, options.retry)
    with connect(options.scheduler, spec, insecure=options.insecure) as cluster:
        yield cluster


@contextmanager
def signals(stop: threading.Event, console: Any) -> Iterator[None]:
    """Ctrl-C (or SIGTERM) stops taking new work; in-flight objects finish or are left for the
    next run; a second Ctrl-C stops at once."""
    import signal

    from rich.text import Text

    def handler(signum: int, _frame: object) -> None:
        if stop.is_set():
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set()
        console.print(
            Text(
                "Stopping: no new work; in-flight copies finish or are left for "
                "the next run. Ctrl-C again to stop at once.",
                style="yellow",
            )
        )

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _database_cells(progress: dict[str, Any] | None) -> tuple[str, str, str]:
    """A database service's tables and rows, as status shows them (else dashes)."""
    if not progress:
        return "-", "-", "-"
    tables = f"{progress.get('tables_ready', 0)}/{progress.get('tables_total', 0)} tables"
    return tables, "-", f"{int(progress.get('rows') or 0):,} rows"


def _render_result(console: Any, result: ApplyResult, store: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    from migrate.units import format_bytes
    from state.queries import failures

    outcome = result.outcome
    if outcome is None:
        return
    table = Table(title="Apply summary", title_justify="left")
    for column in ("Service", "State", "Step", "Objects", "Failed", "Bytes", "Note"):
        table.add_column(column, overflow="fold")
    for name in result.selected:
        service = outcome.services.get(name)
        if service is None:
            continue
        counts = result.counts.get(name)
        objects, failed, size = (
            (f"{counts.done}/{counts.total}", str(counts.failed), format_bytes(counts.bytes_done))
            if counts
            else _database_cells(store.database_progress(name))
        )
        table.add_row(
            Text(name),
            Text(service.state),
            Text(service.step or "-"),
            objects,
            failed,
            size,
            Text((service.message or "").splitlines()[0] if service.message else ""),
        )
    console.print(table)
    with store.tx() as connection:
        for name, counts in result.counts.items():
            if counts.failed:
                console.print(Text(f"Failed objects of {name} (first 20):", style="red"))
                for key, reason in failures(connection, name, 20):
                    console.print(Text(f"  {key!r}: {reason}"))
    states = [s.state for s in outcome.services.values()]
    line = (
        f"Apply {'interrupted' if outcome.interrupted else 'finished'}: "
        f"{states.count('done')} done, {states.count('failed')} failed, "
        f"{states.count('waiting-approval')} waiting for approval, "
        f"{states.count('rolled-back')} rolled back, "
        f"{len(result.selected) - len(states)} not started."
    )
    console.print(Text(line, style="bold"))
    for waiting in outcome.waiting:
        console.print(Text(f"  {waiting.message}", style="yellow"))
    for path in result.evidence:
        console.print(Text(f"Evidence: {path}"))
    if outcome.interrupted and outcome.lock_lost is None:
        console.print(Text("Run the same command again to resume.", style="yellow"))


def _json_summary(result: ApplyResult) -> None:
    import json

    from migrate.timeutil import now_iso

    outcome = result.outcome
    summary = {
        "time": now_iso(),
        "level": "info" if result.ok else "error",
        "run": result.run_id,
        "message": "apply finished" if outcome and not outcome.interrupted else "apply stopped",
        "services": {
            n: {"state": s.state, "step": s.step, "message": s.message}
            for n, s in (outcome.services.items() if outcome else [])
        },
        "evidence": [str(p) for p in result.evidence],
    }
    sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")


def _detailed_exit(args: ApplyArguments, rehearsal: Rehearsal) -> None:
    """``--detailed-exitcode``: 1 when objects are blocked, 2 when there is work to do, 0
    when there is none (Terraform's convention)."""
    if not args.detailed_exitcode:
        return
    from migrate.cli.repair import CHANGES_EXIT

    if rehearsal.blocked:
        raise typer.Exit(int(ExitCode.FAILED))
    if rehearsal.changes:
        raise typer.Exit(CHANGES_EXIT)


def _render_database_rehearsal(console: Any, s: Any) -> None:
    from rich.text import Text

    from migrate.units import format_bytes

    if s.method is not None:
        console.print(
            Text(
                f"  {s.name}: {s.copy_objects} tables, {format_bytes(s.copy_bytes)} at the "
                f"source; method {s.method}"
            )
        )
    for _, reason in s.blocked:
        console.print(Text(f"  {s.name}: prepare would refuse: {reason}", style="yellow"))


def _render_rehearsal(console: Any, rehearsal: Rehearsal) -> None:
    from rich.table import Table
    from rich.text import Text

    from migrate.units import format_bytes, format_duration

    table = Table(title="Dry run: what apply would do (nothing was changed)", title_justify="left")
    for column in (
        "Wave",
        "Service",
        "Steps left",
        "Copy",
        "Copy bytes",
        "Unchanged",
        "Delete",
        "Blocked",
        "Hooks",
        "Approvals",
    ):
        table.add_column(column, overflow="fold")
    for s in rehearsal.services:
        table.add_row(
            str(s.wave),
            Text(s.name),
            ", ".join(s.steps) if s.steps else f"none ({s.state})",
            str(s.copy_objects),
            format_bytes(s.copy_bytes),
            str(s.skip_objects),
            str(s.delete_objects),
            str(len(s.blocked)),
            ", ".join(s.hooks) or "-",
            ", ".join(s.approvals) or "-",
        )
    console.print(table)
    for s in rehearsal.services:
        if s.database:
            _render_database_rehearsal(console, s)
            continue
        if s.excluded_objects:
            console.print(
                Text(
                    f"  {s.name}: {s.excluded_objects} objects "
                    f"({format_bytes(s.excluded_bytes)}) left out by its filter "
                    "(data.include/data.exclude): never copied, never deleted"
                )
            )
        for key, reason in s.blocked[:20]:
            console.print(Text(f"  {s.name}: {key!r} cannot be copied: {reason}", style="yellow"))
    console.print(
        Text(
            f"Dry run: {rehearsal.copy_objects} objects to copy "
            f"({format_bytes(rehearsal.copy_bytes)}),"
            f" {rehearsal.skip_objects} unchanged, {rehearsal.delete_objects} to delete, "
            f"{rehearsal.blocked} blocked; est. {format_duration(rehearsal.eta_seconds)} at "
            f"{format_bytes(rehearsal.bandwidth)}/s (policy.bandwidth, within the bandwidth "
            "limit at its lowest).",
            style="bold",
        )
    )
