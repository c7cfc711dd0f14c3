"""``migrate status``, ``approve`` and ``unlock``: read and small writes on the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from migrate.config import COMMAND_HOOKS
from migrate.errors import InvalidInput
from migrate.ledger import LockInfo
from state.clock import parse_iso
from state.queries import ServiceProgress, service_progress
from state.store import Store

STALE_HEARTBEAT_SECONDS = 60


@dataclass(frozen=True)
class StatusReport:
    plan_sha256: str | None
    inventory_sha256: str | None
    waves: int | None
    lock: LockInfo | None
    services: list[ServiceProgress]

    def heartbeat_age(self, now: datetime | None = None) -> float | None:
        if self.lock is None:
            return None
        moment = now or datetime.now(UTC)
        return (moment - parse_iso(self.lock.heartbeat_at)).total_seconds()

    def to_json(self) -> dict[str, Any]:
        age = self.heartbeat_age()
        lock = None
        if self.lock is not None:
            lock = {
                "run": self.lock.run_id,
                "host": self.lock.host,
                "pid": self.lock.pid,
                "operator": self.lock.operator,
                "started_at": self.lock.started_at,
                "heartbeat_at": self.lock.heartbeat_at,
                "stale": age is not None and age > STALE_HEARTBEAT_SECONDS,
            }
        return {
            "plan": {
                "inventory_sha256": self.inventory_sha256,
                "plan_sha256": self.plan_sha256,
                "waves": self.waves,
            }
            if self.plan_sha256
            else None,
            "lock": lock,
            "services": {
                s.name: {
                    "wave": s.wave,
                    "state": s.state,
                    "step": s.step,
                    "kind": s.kind,
                    "project": s.project,
                    "objects_total": s.objects_total,
                    "objects_done": s.objects_done,
                    "objects_failed": s.objects_failed,
                    "bytes_total": s.bytes_total,
                    "bytes_done": s.bytes_done,
                    "error": s.error,
                }
                for s in self.services
            },
        }


def status(store: Store) -> StatusReport:
    latest = store.latest_plan()
    with store.tx() as connection:
        services = service_progress(connection)
    plan = latest[1] if latest else None
    return StatusReport(
        plan_sha256=latest[0] if latest else None,
        inventory_sha256=plan.inventory_sha256 if plan else None,
        waves=len(plan.waves) if plan else None,
        lock=store.lock_info(),
        services=services,
    )


def approve(store: Store, service: str, step: str, operator: str) -> bool:
    """Open the gate; False when it was already open. Refuses unknown services and steps."""
    latest = store.latest_plan() or store.any_plan()
    if latest is None:
        raise InvalidInput("no plan has been applied to this state database yet")
    plan = latest[1]
    if service not in plan.services:
        raise InvalidInput(f"service '{service}' is not in the applied plan")
    steps = [*plan.services[service].steps, *COMMAND_HOOKS]
    if step not in steps:
        raise InvalidInput(f"'{step}' is not a step of {service} ({', '.join(steps)})")
    return store.approve(service, step, operator)
