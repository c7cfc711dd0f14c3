"""Roll a service back: its rollback hook (re-point clients to the source, lift the write
freeze), then the steps from freeze on are to be done again. The source is never touched."""

from __future__ import annotations

from migrate.audit import AuditEvent
from migrate.config import ServiceConfig, steps_for
from migrate.executor.hooks import run_hook
from migrate.executor.steps import StepFailed
from migrate.ledger import Ledger

REDO_FROM = "freeze"


def steps_to_redo(kind: str) -> list[str]:
    steps = [str(step) for step in steps_for(kind)]
    return steps[steps.index(REDO_FROM) :]


def roll_back(
    ledger: Ledger,
    service: ServiceConfig,
    *,
    wave: int,
    run_id: str,
    state_url: str,
    hook_timeout: float,
    reason: str,
) -> str:
    """Run the rollback hook and mark the service rolled back. Raises StepFailed."""
    detail = f"rolled back ({reason})"
    command = service.hooks.rollback
    if command is not None:
        result = run_hook(
            command,
            {
                "MIGRATE_SERVICE": service.name,
                "MIGRATE_STEP": "rollback",
                "MIGRATE_WAVE": str(wave),
                "MIGRATE_RUN": run_id,
                "MIGRATE_STATE_URL": state_url,
            },
            hook_timeout,
        )
        if not result.ok:
            message = f"rollback {result.describe()}: {result.output.strip()}".rstrip(": ")
            ledger.set_service_state(service.name, "failed", "rollback", message)
            raise StepFailed(message)
        detail += f"; {result.describe()}"
    ledger.rolled_back(service.name, steps_to_redo(service.kind))
    ledger.audit(
        [
            AuditEvent(
                "service.rollback",
                service.name,
                project=service.project,
                detail={"reason": reason, "run": run_id},
            )
        ]
    )
    ledger.step_finished(run_id, service.name, "rollback", "done", detail)
    return detail
