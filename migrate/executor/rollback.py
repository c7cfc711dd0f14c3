"""Roll a service back: its rollback hook (re-point clients to the source, lift the write
freeze), then the steps from its kind's freeze on are to be done again. The source is never
touched."""

from __future__ import annotations

import threading

from migrate.audit import AuditEvent
from migrate.databases import DatabaseConnector
from migrate.executor.orphans import HookCall, run_recorded_hook, settle_earlier_hook
from migrate.kinds import kind
from migrate.kinds.base import StepFailed
from migrate.ledger import Ledger
from migrate.model import PlannedService


def roll_back(
    ledger: Ledger,
    name: str,
    service: PlannedService,
    *,
    wave: int,
    run_id: str,
    state_url: str,
    hook_timeout: float,
    reason: str,
    databases: DatabaseConnector | None = None,
) -> str:
    """Run the rollback hook (with what the kind does before and after it) and mark the
    service rolled back. Raises StepFailed."""
    detail = f"rolled back ({reason})"
    spec = kind(service.kind)
    around = spec.build_rollback(ledger, databases) if spec.build_rollback else None
    if around is not None:
        detail += _joined(around.before(name, service))
    command = service.hook("rollback")
    if command is not None:
        call = HookCall(
            service=name,
            step="rollback",
            run_id=run_id,
            command=command,
            variables={
                "MIGRATE_SERVICE": name,
                "MIGRATE_STEP": "rollback",
                "MIGRATE_WAVE": str(wave),
                "MIGRATE_RUN": run_id,
                "MIGRATE_STATE_URL": state_url,
            },
            timeout=hook_timeout,
            passthrough=tuple(service.hooks_env),
        )
        earlier = settle_earlier_hook(ledger, call, threading.Event())
        if earlier:
            detail += f"; {earlier}"
        result = run_recorded_hook(ledger, call)
        if not result.ok:
            message = f"rollback {result.describe()}: {result.output.strip()}".rstrip(": ")
            ledger.set_service_state(name, "failed", "rollback", message)
            raise StepFailed(message)
        detail += f"; {result.describe()}"
    if around is not None:
        detail += _joined(around.after(name, service))
    ledger.rolled_back(name, spec.steps_to_redo())
    ledger.audit(
        [
            AuditEvent(
                "service.rollback",
                name,
                project=service.project,
                detail={"reason": reason, "run": run_id},
            )
        ]
    )
    ledger.step_finished(run_id, name, "rollback", "done", detail)
    return detail


def _joined(text: str) -> str:
    return f"; {text}" if text else ""
