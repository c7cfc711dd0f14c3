"""Plans, routes and runs: what was applied, with which route per service, by whom."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, select, update

from migrate.errors import StateError
from migrate.ledger import (
    RecordedRoute,
)
from migrate.model import Plan
from state.audit import read_head
from state.clock import now_iso
from state.database import Database, touched
from state.schema import (
    objects,
    plans,
    rehearsals,
    runs,
    services,
    steps,
)


class PlanRecords(Database):
    def record_plan(
        self, plan: Plan, plan_sha256: str, body: str, inventory_text: str | None = None
    ) -> int:
        """The plan (and the inventory it was made from, whose SHA-256 it holds), once."""
        with self.tx() as c:
            found = c.execute(
                select(plans.c.id, plans.c.inventory_text).where(plans.c.plan_sha256 == plan_sha256)
            ).first()
            if found is not None:
                if found.inventory_text is None and inventory_text is not None:
                    c.execute(
                        update(plans)
                        .where(plans.c.id == found.id)
                        .values(inventory_text=inventory_text)
                    )
                return int(found.id)
            result = c.execute(
                plans.insert().values(
                    plan_sha256=plan_sha256,
                    inventory_sha256=plan.inventory_sha256,
                    inventory=plan.inventory,
                    waves=len(plan.waves),
                    recorded_at=now_iso(),
                    body=body,
                    inventory_text=inventory_text,
                )
            )
            key = result.inserted_primary_key
            if key is None:
                raise StateError("the database returned no id for the recorded plan")
            return int(key[0])

    def latest_plan(self) -> tuple[str, Plan] | None:
        found = self.latest_plan_text()
        return (found[0], Plan.model_validate_json(found[1])) if found else None

    def latest_plan_text(self) -> tuple[str, str] | None:
        """(fingerprint, JSON) of the plan of the latest real (not dry) run."""
        with self.tx() as c:
            row = c.execute(
                select(plans.c.plan_sha256, plans.c.body)
                .join(runs, runs.c.plan_id == plans.c.id)
                .where(runs.c.dry_run.is_(False))
                .order_by(runs.c.started_at.desc())
                .limit(1)
            ).first()
        return (row.plan_sha256, row.body) if row else None

    def applied_inventory(self, plan_sha256: str) -> tuple[str, str] | None:
        """(recorded_at, text) of the inventory the plan was applied with, when recorded."""
        with self.tx() as c:
            row = c.execute(
                select(plans.c.recorded_at, plans.c.inventory_text).where(
                    plans.c.plan_sha256 == plan_sha256
                )
            ).first()
        if row is None or row.inventory_text is None:
            return None
        return row.recorded_at, row.inventory_text

    def any_plan(self) -> tuple[str, Plan] | None:
        """The plan recorded last, applied or only rehearsed."""
        with self.tx() as c:
            row = c.execute(
                select(plans.c.plan_sha256, plans.c.body).order_by(plans.c.id.desc()).limit(1)
            ).first()
        return (row.plan_sha256, Plan.model_validate_json(row.body)) if row else None

    def recorded_routes(self, names: Sequence[str]) -> dict[str, RecordedRoute]:
        """The routes recorded for these services (those that have a row)."""
        with self.tx() as c:
            rows = c.execute(
                select(
                    services.c.name,
                    services.c.route,
                    services.c.container,
                    services.c.bucket,
                    services.c.wave,
                ).where(services.c.name.in_(list(names)))
            ).all()
            worked = set(
                c.execute(
                    select(steps.c.service)
                    .where(and_(steps.c.service.in_(list(names)), steps.c.status == "done"))
                    .distinct()
                ).scalars()
            ) | set(
                c.execute(
                    select(objects.c.service).where(objects.c.service.in_(list(names))).distinct()
                ).scalars()
            )
        return {
            row.name: RecordedRoute(
                row.name,
                json.loads(row.route) if row.route else None,
                row.container,
                row.bucket,
                row.name in worked,
                row.wave,
            )
            for row in rows
        }

    def worked_waves(self) -> dict[str, int]:
        """Every service with work recorded, and the wave the ledger holds for it."""
        with self.tx() as c:
            names = list(c.execute(select(services.c.name)).scalars())
        recorded = self.recorded_routes(names)
        return {n: r.wave for n, r in recorded.items() if r.worked and r.wave is not None}

    def register_services(self, plan: Plan) -> None:
        """Make sure every service of the plan has a row (new ones pending); keep progress;
        record the route each is applied with."""
        stamp = now_iso()
        with self.tx() as c:
            known = set(c.execute(select(services.c.name)).scalars())
            for name, planned in plan.services.items():
                values = {
                    "wave": planned.wave,
                    "kind": planned.kind,
                    "project": planned.project,
                    "bucket": planned.bucket,
                    "container": planned.container,
                    "route": json.dumps(plan.route_of(name), sort_keys=True),
                    "updated_at": stamp,
                }
                if name in known:
                    touched(
                        c.execute(update(services).where(services.c.name == name).values(**values)),
                        "service",
                    )
                else:
                    c.execute(services.insert().values(name=name, state="pending", **values))

    def start_run(
        self,
        run_id: str,
        plan_id: int,
        *,
        dry_run: bool,
        host: str,
        pid: int,
        operator: str,
        options: dict[str, Any],
    ) -> None:
        with self.tx() as c:
            c.execute(
                runs.insert().values(
                    id=run_id,
                    plan_id=plan_id,
                    started_at=now_iso(),
                    status="running",
                    dry_run=dry_run,
                    host=host,
                    pid=pid,
                    operator=operator,
                    options=json.dumps(options, sort_keys=True),
                )
            )

    def end_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        """Close the run; its summary keeps the audit log's head at that moment (one more
        place that shows the newest events deleted, see state.audit)."""
        with self.tx() as c:
            head = read_head(c)[0]
            if head is not None:
                summary = {**summary, "audit_head": head.to_json()}
            touched(
                c.execute(
                    update(runs)
                    .where(runs.c.id == run_id)
                    .values(ended_at=now_iso(), status=status, summary=json.dumps(summary))
                ),
                "run",
            )

    def record_rehearsal(self, run_id: str, summary: dict[str, Any]) -> None:
        with self.tx() as c:
            c.execute(
                rehearsals.insert().values(
                    run_id=run_id, recorded_at=now_iso(), summary=json.dumps(summary)
                )
            )
