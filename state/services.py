"""Services, their steps and their approval gates: the progress of each service."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from migrate.ledger import (
    ServiceRecord,
    ServiceState,
    StepStatus,
)
from state.clock import now_iso, parse_iso
from state.database import Database, touched
from state.schema import (
    approvals,
    services,
    steps,
)


class ServiceRecords(Database):
    def service(self, name: str) -> ServiceRecord:
        with self.tx() as c:
            row = c.execute(select(services).where(services.c.name == name)).one()
            done = c.execute(
                select(steps.c.step).where(
                    and_(steps.c.service == name, steps.c.status.in_(["done", "skipped"]))
                )
            ).scalars()
            return ServiceRecord(
                name=row.name,
                wave=row.wave,
                state=row.state,
                step=row.step,
                listing_marker=row.listing_marker,
                listing_generation=row.listing_generation,
                listing_complete=bool(row.listing_complete),
                error=row.error,
                done_steps=frozenset(done),
                throughput=row.throughput,
                freeze_started_at=row.freeze_started_at,
                freeze_seconds=row.freeze_seconds,
                cutover_at=row.cutover_at,
                rolled_back_at=row.rolled_back_at,
                decommissioned_at=row.decommissioned_at,
                verify_cursor=row.verify_cursor,
            )

    def set_service_state(
        self, name: str, state: ServiceState, step: str | None, error: str | None = None
    ) -> None:
        with self.tx() as c:
            touched(
                c.execute(
                    update(services)
                    .where(services.c.name == name)
                    .values(state=state, step=step, error=error, updated_at=now_iso())
                ),
                "service",
            )

    def step_started(self, run_id: str, service: str, step: str) -> None:
        with self.tx() as c:
            stamp = now_iso()
            updated = c.execute(
                update(steps)
                .where(and_(steps.c.service == service, steps.c.step == step))
                .values(
                    status="started",
                    run_id=run_id,
                    attempts=steps.c.attempts + 1,
                    started_at=stamp,
                    ended_at=None,
                    detail=None,
                )
            )
            if not updated.rowcount:
                c.execute(
                    steps.insert().values(
                        service=service,
                        step=step,
                        status="started",
                        run_id=run_id,
                        attempts=1,
                        started_at=stamp,
                    )
                )

    def step_finished(
        self, run_id: str, service: str, step: str, status: StepStatus, detail: str | None = None
    ) -> None:
        with self.tx() as c:
            values: dict[str, Any] = {"status": status, "run_id": run_id, "detail": detail}
            if status != "waiting-approval":
                values["ended_at"] = now_iso()
            updated = c.execute(
                update(steps)
                .where(and_(steps.c.service == service, steps.c.step == step))
                .values(**values)
            )
            if not updated.rowcount:
                c.execute(steps.insert().values(service=service, step=step, attempts=0, **values))

    def approve(self, service: str, step: str, operator: str) -> bool:
        """Record an approval; False when it was already there."""
        with self.tx() as c:
            try:
                c.execute(
                    approvals.insert().values(
                        service=service, step=step, operator=operator, approved_at=now_iso()
                    )
                )
            except IntegrityError:
                return False
            return True

    def is_approved(self, service: str, step: str) -> bool:
        with self.tx() as c:
            found = c.execute(
                select(approvals.c.service).where(
                    and_(approvals.c.service == service, approvals.c.step == step)
                )
            ).first()
            return found is not None

    def approval_time(self, service: str, step: str) -> str | None:
        with self.tx() as c:
            found = c.execute(
                select(approvals.c.approved_at).where(
                    and_(approvals.c.service == service, approvals.c.step == step)
                )
            ).scalar()
        return str(found) if found is not None else None

    def revoke_approval(self, service: str, step: str) -> None:
        with self.tx() as c:
            c.execute(
                delete(approvals).where(
                    and_(approvals.c.service == service, approvals.c.step == step)
                )
            )

    def _set(self, service: str, **values: Any) -> None:
        with self.tx() as c:
            touched(
                c.execute(
                    update(services)
                    .where(services.c.name == service)
                    .values(updated_at=now_iso(), **values)
                ),
                "service",
            )

    def database_progress(self, service: str) -> dict[str, Any] | None:
        with self.tx() as c:
            value = c.execute(
                select(services.c.database_progress).where(services.c.name == service)
            ).scalar()
        return dict(json.loads(value)) if value else None

    def set_database_progress(self, service: str, progress: dict[str, Any]) -> None:
        self._set(service, database_progress=json.dumps(progress, sort_keys=True))

    def set_throughput(self, service: str, bytes_per_second: float) -> None:
        self._set(service, throughput=bytes_per_second)

    def freeze_started(self, service: str, budget_seconds: int | None) -> None:
        self._set(
            service,
            freeze_started_at=now_iso(),
            freeze_seconds=None,
            freeze_budget_seconds=budget_seconds,
        )

    def freeze_finished(self, service: str) -> float | None:
        record = self.service(service)
        if record.freeze_started_at is None:
            return None
        seconds = (parse_iso(now_iso()) - parse_iso(record.freeze_started_at)).total_seconds()
        self._set(service, freeze_seconds=seconds, cutover_at=now_iso())
        return seconds

    def set_verify_cursor(self, service: str, cursor: int) -> None:
        self._set(service, verify_cursor=cursor)

    def rolled_back(self, service: str, steps_to_redo: Sequence[str]) -> None:
        with self.tx() as c:
            c.execute(
                delete(steps).where(
                    and_(steps.c.service == service, steps.c.step.in_(list(steps_to_redo)))
                )
            )
            touched(
                c.execute(
                    update(services)
                    .where(services.c.name == service)
                    .values(
                        state="rolled-back",
                        rolled_back_at=now_iso(),
                        freeze_started_at=None,
                        cutover_at=None,
                        error=None,
                        updated_at=now_iso(),
                    )
                ),
                "service",
            )

    def decommissioned(self, service: str) -> None:
        self._set(service, decommissioned_at=now_iso())

    def hold_deletions(self, service: str) -> None:
        """A sync stopped before a mass deletion: an approval of its sync given before now
        does not count for it."""
        with self.tx() as c:
            c.execute(
                delete(approvals).where(
                    and_(approvals.c.service == service, approvals.c.step == "sync")
                )
            )
        self._set(service, deletes_held_at=now_iso())

    def deletions_approved(self, service: str) -> bool:
        """``migrate approve SERVICE sync`` was given after the sync last held deletions."""
        with self.tx() as c:
            held = c.execute(
                select(services.c.deletes_held_at).where(services.c.name == service)
            ).scalar()
        approved = self.approval_time(service, "sync")
        return held is not None and approved is not None and approved > held

    def release_deletion_hold(self, service: str) -> None:
        """The approved deletions were made: the next mass deletion asks again."""
        self._set(service, deletes_held_at=None)
        self.revoke_approval(service, "sync")
