"""`migrate status SERVICE`: one service as the ledger has it: its steps in plan order, its
failed objects with their reasons, what its last verification found, and what to do next."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from migrate.commands.status import database_fields
from migrate.errors import InvalidInput

if TYPE_CHECKING:
    from migrate.readmodel import ServiceProgress, StepRow
    from state.store import Store

FAILURES_SHOWN = 50
REPAIRABLE = ("target lost", "target altered")


def show_service(store: Store, name: str, as_json: bool) -> None:
    from migrate.commands.status import in_plan_order, status
    from migrate.suggest import did_you_mean

    report = status(store, detail=False)
    found = {s.name: s for s in report.services}
    if name not in found:
        raise InvalidInput(
            f"service '{name}' is not in the state database{did_you_mean(name, found)}"
        )
    service = found[name]
    steps = in_plan_order(report.plan, store.steps_of(name))
    failures = store.failures(name, FAILURES_SHOWN)
    verification = store.latest_verification_summary(name)
    data = _as_data(service, steps, failures, verification, report.eta_seconds(service))
    if as_json:
        typer.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    _render(data)


def _as_data(
    service: ServiceProgress,
    steps: list[StepRow],
    failures: list[tuple[str, str]],
    verification: tuple[str, dict[str, Any]] | None,
    eta: float | None,
) -> dict[str, Any]:
    last: dict[str, Any] | None = None
    if verification is not None:
        at, summary = verification
        last = {
            "at": at,
            "level": summary.get("level"),
            "against": summary.get("against", "ledger"),
            "purpose": summary.get("purpose"),
            "checked": summary.get("checked"),
            "differences": summary.get("differences") or [],
        }
    return {
        "name": service.name,
        "kind": service.kind,
        "wave": service.wave,
        "project": service.project,
        "state": service.state,
        "step": service.step,
        "error": service.error,
        "objects_total": service.objects_total,
        "objects_done": service.objects_done,
        "objects_failed": service.objects_failed,
        "bytes_total": service.bytes_total,
        "bytes_done": service.bytes_done,
        "eta_seconds": eta,
        **database_fields(service),
        "steps": [
            {
                "step": r.step,
                "status": r.status,
                "attempts": r.attempts,
                "started_at": r.started_at,
                "ended_at": r.ended_at,
                "detail": r.detail,
            }
            for r in steps
        ],
        "failed_objects": [{"key": k, "reason": r} for k, r in failures],
        "last_verify": last,
        "next": _next_step(service, failures, last),
    }


def _next_step(
    service: ServiceProgress, failures: list[tuple[str, str]], last: dict[str, Any] | None
) -> list[str]:
    hints = []
    if failures:
        hints.append("fix the causes above, then `migrate apply PLAN --only-failed`")
    differences = last["differences"] if last else []
    if any(isinstance(d, dict) and d.get("cause") in REPAIRABLE for d in differences):
        hints.append(
            f"the target lost or altered objects: `migrate apply PLAN --repair {service.name}`"
        )
    if service.state == "waiting-approval" and service.step:
        hints.append(f"`migrate approve {service.name} {service.step}`, then apply again")
    return hints


def _render(data: dict[str, Any]) -> None:
    from rich.table import Table
    from rich.text import Text

    from migrate.cli.root import stdout_console
    from migrate.units import format_bytes

    console = stdout_console()
    console.print(
        Text(
            f"{data['name']} ({data['kind']}, wave {data['wave']}): {data['state']}"
            + (f" at {data['step']}" if data["step"] else ""),
            style="bold",
        )
    )
    if "rows_done" in data:
        lag = data.get("replication_lag_bytes")
        console.print(
            Text(
                f"Tables: {data['objects_done']}/{data['objects_total']} copied (method "
                f"{data.get('method') or '-'}); {data['rows_done']:,} rows"
                + (f"; replication lag {format_bytes(lag)}" if lag is not None else "")
            )
        )
    elif data["objects_total"]:
        console.print(
            Text(
                f"Objects: {data['objects_done']}/{data['objects_total']} done, "
                f"{data['objects_failed']} failed; {format_bytes(data['bytes_done'])} of "
                f"{format_bytes(data['bytes_total'])}"
            )
        )
    if data["error"]:
        console.print(Text(f"Error: {data['error']}", style="red"))
    table = Table(title="Steps", title_justify="left")
    for column in ("Step", "Status", "Attempts", "Started", "Ended", "Detail"):
        table.add_column(column, overflow="fold")
    for step in data["steps"]:
        table.add_row(
            step["step"],
            step["status"],
            str(step["attempts"]),
            (step["started_at"] or "-")[:19],
            (step["ended_at"] or "-")[:19],
            Text(step["detail"] or ""),
        )
    console.print(table)
    for failure in data["failed_objects"]:
        console.print(Text(f"  failed: {failure['key']!r}: {failure['reason']}", style="red"))
    if data["objects_failed"] > len(data["failed_objects"]):
        console.print(Text(f"  ... {data['objects_failed'] - FAILURES_SHOWN} more failed"))
    _render_verify(console, data["last_verify"])
    for hint in data["next"]:
        console.print(Text(f"Next: {hint}", style="yellow"))


def _render_verify(console: Any, last: dict[str, Any] | None) -> None:
    from rich.text import Text

    if last is None:
        console.print(Text("Last verify: none recorded"))
        return
    differences = last["differences"]
    console.print(
        Text(
            f"Last verify: {last['at']} ({last['level']}, against the {last['against']}, "
            f"by {last['purpose'] or 'verify'}): {last['checked']} checked, "
            f"{len(differences)} differences",
            style="red" if differences else "green",
        )
    )
    for d in differences[:FAILURES_SHOWN]:
        if isinstance(d, dict):
            console.print(Text(f"  {d.get('key')!r}: {d.get('problem')} [{d.get('cause')}]"))
