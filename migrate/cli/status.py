"""`migrate status`, `migrate approve`, `migrate unlock`."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from migrate.cli.root import StateOption, app, guard, state_url, stdout_console
from migrate.errors import InvalidInput

if TYPE_CHECKING:
    from rich.console import Group
    from rich.text import Text

    from migrate.commands.status import StatusReport
    from state.store import Store


class StatusFormat(StrEnum):
    table = "table"
    json = "json"


_STATE_STYLE = {
    "done": "green",
    "failed": "red",
    "running": "cyan",
    "waiting-approval": "yellow",
    "rolled-back": "magenta",
    "pending": "dim",
}


@app.command("status")
def status_cmd(
    fmt: Annotated[
        StatusFormat, typer.Option("--format", help="table or json.")
    ] = StatusFormat.table,
    watch: Annotated[bool, typer.Option("--watch", help="Refresh every 2 s until Ctrl-C.")] = False,
    service: Annotated[
        str | None,
        typer.Argument(help="One service: its steps, failed objects and last verify's findings."),
    ] = None,
    state: StateOption = None,
) -> None:
    """Progress from the state database (read-only)."""
    import json
    import time

    from rich.live import Live

    from migrate.commands.status import status

    with guard():
        url = state_url(state)
        store = None if service is None and not_created_yet(url) else open_reader(url, service)
        if store is None:
            from migrate.commands.status import nothing_applied

            empty = nothing_applied()
            if fmt is StatusFormat.json:
                typer.echo(json.dumps(empty.to_json(), indent=2))
            else:
                stdout_console().print(_render(empty))
            return
        try:
            if service is not None:
                from migrate.cli.service_status import show_service

                show_service(store, service, fmt is StatusFormat.json)
                return
            if fmt is StatusFormat.json:
                typer.echo(json.dumps(status(store, detail=False).to_json(), indent=2))
                return
            console = stdout_console()
            if not watch:
                console.print(_render(status(store)))
                return
            try:
                with Live(_render(status(store)), console=console, auto_refresh=False) as live:
                    while True:
                        time.sleep(2)
                        live.update(_render(status(store)), refresh=True)
            except KeyboardInterrupt:
                return
        finally:
            store.close()


def _eta(seconds: float | None) -> str:
    from migrate.units import format_duration

    if seconds is None:
        return "-"
    return "done" if seconds == 0 else format_duration(seconds)


def open_reader(url: str, service: str | None = None) -> Store | None:
    """The ledger, read-only; None (said on stderr) while the first apply is still creating
    it: a reader polling at that moment gets an empty status, not an error. With
    ``service``, a ledger without one is an error (there is no such service to show)."""
    from rich.text import Text

    from migrate.cli.root import stderr_console
    from migrate.errors import NothingApplied
    from state.store import Store

    try:
        return Store.open(url, readonly=True)
    except NothingApplied as error:
        if service is not None:
            raise
        stderr_console().print(Text(f"{error}.", style="yellow"))
        return None


def not_created_yet(url: str) -> bool:
    """No SQLite ledger at that path yet (no apply has run): say so, on stderr, and show an
    empty status rather than fail; a script polling before the first apply gets its JSON."""
    from rich.text import Text

    from migrate.cli.root import stderr_console
    from state.engine import ledger_missing, sqlite_path

    path = sqlite_path(url)
    if path is None or not ledger_missing(path):
        return False
    stderr_console().print(
        Text(f"No state database at {path} yet: nothing has been applied.", style="yellow")
    )
    return True


def _verified(last: dict[str, object] | None) -> Text:
    """The last verify in a cell: level, against what, differences (red when any)."""
    from rich.text import Text

    if not last:
        return Text("-")
    count = last.get("differences")
    found = f"{count} difference" + ("" if count == 1 else "s")
    at = str(last.get("at"))[:16].replace("T", " ")
    text = f"{at}: {last.get('level')} vs {last.get('against')}, {found}"
    return Text(text, style="red" if count else "green")


def _render(report: StatusReport) -> Group:
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from migrate.commands.status import STALE_HEARTBEAT_SECONDS
    from migrate.units import format_bytes

    table = Table(title="Migration status", title_justify="left")
    for column in (
        "Wave",
        "Service",
        "State",
        "Step",
        "Objects",
        "Failed",
        "Bytes",
        "Rate",
        "ETA",
        "Verified",
        "Note",
    ):
        table.add_column(column, overflow="fold")
    for s in report.services:
        objects = f"{s.objects_done}/{s.objects_total}" if s.objects_total else "-"
        size = (
            f"{format_bytes(s.bytes_done)}/{format_bytes(s.bytes_total)}" if s.bytes_total else "-"
        )
        if s.database is not None:  # a database: its rows, not bytes
            size = f"{int(str(s.database.get('rows') or 0)):,} rows"
        table.add_row(
            str(s.wave),
            Text(s.name),
            Text(s.state, style=_STATE_STYLE.get(s.state, "")),
            Text(s.step or "-"),
            objects,
            str(s.objects_failed or "-"),
            size,
            f"{format_bytes(report.rates.get(s.name, 0))}/s" if report.rates.get(s.name) else "-",
            _eta(report.eta_seconds(s)),
            _verified(s.last_verify),
            Text((s.error or "").splitlines()[0] if s.error else ""),
        )
    parts: list[Table | Text] = [table]
    if report.lock is None:
        parts.append(Text("No apply is running (state unlocked)."))
    else:
        age = report.heartbeat_age() or 0
        stale = " STALE: the run may have crashed" if age > STALE_HEARTBEAT_SECONDS else ""
        if report.holder_gone:
            stale = (
                " GONE: that process no longer runs on this host; nothing is copying "
                "(`migrate apply` resumes and takes the lock over)"
            )
        parts.append(
            Text(
                f"Locked by run {report.lock.run_id} of {report.lock.operator} "
                f"on {report.lock.host} "
                f"(pid {report.lock.pid}), heartbeat {age:.0f} s ago{stale}.",
                style="red" if stale else "",
            )
        )
    if report.bandwidth is not None:
        parts.append(Text(f"Bandwidth limit: {_limit_text(report.bandwidth)}."))
    states = [s.state for s in report.services]
    parts.append(
        Text(
            f"{states.count('done')} of {len(states)} services done, "
            f"{states.count('failed')} failed, {states.count('running')} running, "
            f"{states.count('waiting-approval')} waiting for approval.",
            style="bold",
        )
    )
    return Group(*parts)


@app.command("approve")
def approve_cmd(
    service: Annotated[str, typer.Argument(help="The service whose gate to open.")],
    step: Annotated[str, typer.Argument(help="The step that waits (e.g. cutover).")],
    operator: Annotated[str | None, typer.Option("--operator", help="Who approves.")] = None,
    state: StateOption = None,
) -> None:
    """Open a manual approval gate; the next `migrate apply` goes past it."""
    import getpass

    from rich.text import Text

    from migrate.cli.wiring import open_store
    from migrate.commands.status import approve

    with guard():
        store = open_store(state_url(state), operator)
        try:
            opened = approve(store, service, step, operator or getpass.getuser())
        finally:
            store.close()
        verb = "Approved" if opened else "Already approved"
        stdout_console().print(Text(f"{verb}: {service} {step}. Run `migrate apply` to go on."))


@app.command("unlock")
def unlock_cmd(
    run_id: Annotated[
        str | None,
        typer.Argument(help="Release the lock only if this run holds it (see `migrate status`)."),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Required: release the lock.")] = False,
    state: StateOption = None,
) -> None:
    """Release the state lock of a run that is no longer alive (Terraform's force-unlock).

    A holder whose process still runs on this host, or that runs on another host with a
    heartbeat under a minute old, is never released (exit 3)."""
    from rich.text import Text

    from migrate.cli.wiring import holder_alive, open_store
    from migrate.commands.unlock import unlock

    with guard():
        if not force:
            raise InvalidInput(
                "unlock releases another run's lock: pass --force (and the run id that "
                "`migrate status` shows) if it crashed"
            )
        store = open_store(state_url(state))
        try:
            result = unlock(store, run_id, holder_alive)
        finally:
            store.close()
        released = result.released
        if released is None:
            stdout_console().print(Text("The state was not locked: nothing to release."))
        else:
            stdout_console().print(
                Text(
                    f"Released the lock of run {released.run_id} ({released.operator} on "
                    f"{released.host}, pid {released.pid}, last heartbeat "
                    f"{released.heartbeat_at}): {result.why}."
                )
            )


def _limit_text(holding: dict[str, object]) -> str:
    """What the running apply holds: the rate, where it comes from, the next change."""
    from migrate.bandwidth import describe_change, describe_rate

    rate = holding.get("bytes_per_s")
    shown = describe_rate(float(rate) if isinstance(rate, int | float) else None)
    text = f"{shown} by {holding.get('source')}"
    if holding.get("text") and holding.get("text") != shown:
        text += f" ({holding.get('text')})"
    change = holding.get("next_change")
    if isinstance(change, str):
        text += f", next change {describe_change(change)}"
    return text + "; `migrate bwlimit RATE` changes it"
