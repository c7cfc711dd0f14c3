"""The ledger: plans, runs, the apply lock, services, steps, approvals, objects, uploads.

Every state transition is its own short transaction (SQLite: BEGIN IMMEDIATE, so a
read-modify-write never races another writer). A process-wide mutex serialises this process's
threads on the one writer connection; readers (status, dashboard) open their own engine.
"""

from __future__ import annotations

import getpass
import json
import socket
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from migrate.audit import AuditEvent, SealedEvent
from migrate.errors import StateError, StateLocked
from migrate.ledger import (
    CopiedObject,
    CopyResult,
    KnownObject,
    ListingCounts,
    LockInfo,
    ObjectCounts,
    ObjectTask,
    RecordedRoute,
    ServiceRecord,
    ServiceState,
    StepStatus,
)
from migrate.model import Plan
from migrate.ports import ObjectInfo
from state import audit as audit_rows
from state import engine as engines
from state import objects as object_rows
from state.clock import now_iso, parse_iso
from state.schema import (
    approvals,
    evidence,
    lock,
    objects,
    plans,
    probes,
    rehearsals,
    runs,
    services,
    steps,
    uploads,
    verifications,
)

LOCK_NAME = "apply"


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._mutex = threading.RLock()
        self._actor = (getpass.getuser(), socket.gethostname())
        self._audit_key: bytes | None = None
        self._fresh_listing: dict[str, int] = {}

    def set_actor(self, operator: str, host: str, audit_key: bytes | None) -> None:
        """Who the audit events are from, and the key that signs them (if any)."""
        self._actor = (operator, host)
        self._audit_key = audit_key

    def audit(self, events: Sequence[AuditEvent]) -> None:
        with self.tx() as c:
            audit_rows.append(c, events, *self._actor, self._audit_key)

    def audit_events(self, project: str | None = None) -> list[SealedEvent]:
        with self.tx() as c:
            return list(audit_rows.read(c, project))

    @classmethod
    def open(cls, url: str, *, readonly: bool = False) -> Store:
        return cls(engines.create(url, readonly=readonly))

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        with self._mutex, self.engine.begin() as connection:
            yield connection

    # -- plans and runs -------------------------------------------------------------------

    def record_plan(self, plan: Plan, plan_sha256: str, body: str) -> int:
        with self.tx() as c:
            found = c.execute(select(plans.c.id).where(plans.c.plan_sha256 == plan_sha256)).scalar()
            if found is not None:
                return int(found)
            result = c.execute(
                plans.insert().values(
                    plan_sha256=plan_sha256,
                    inventory_sha256=plan.inventory_sha256,
                    inventory=plan.inventory,
                    waves=len(plan.waves),
                    recorded_at=now_iso(),
                    body=body,
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

    def any_plan(self) -> tuple[str, Plan] | None:
        """The plan recorded last, applied or only rehearsed."""
        with self.tx() as c:
            row = c.execute(
                select(plans.c.plan_sha256, plans.c.body).order_by(plans.c.id.desc()).limit(1)
            ).first()
        return (row.plan_sha256, Plan.model_validate_json(row.body)) if row else None

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
        with self.tx() as c:
            c.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(ended_at=now_iso(), status=status, summary=json.dumps(summary))
            )

    def record_rehearsal(self, run_id: str, summary: dict[str, Any]) -> None:
        with self.tx() as c:
            c.execute(
                rehearsals.insert().values(
                    run_id=run_id, recorded_at=now_iso(), summary=json.dumps(summary)
                )
            )

    # -- the apply lock -------------------------------------------------------------------

    def acquire_lock(self, info: LockInfo, *, holder_alive: Any) -> LockInfo | None:
        """Take the lock; StateLocked if a live run holds it. Returns a dead holder it replaced.

        ``holder_alive(LockInfo) -> bool | None`` says whether the holder still runs (None when
        that cannot be known, e.g. another host).
        """
        with self.tx() as c:
            current = self._lock_row(c)
            replaced = None
            if current is not None:
                alive = holder_alive(current)
                if alive is not False:
                    raise StateLocked(_locked_message(current, alive))
                c.execute(delete(lock).where(lock.c.name == LOCK_NAME))
                replaced = current
            try:
                c.execute(lock.insert().values(name=LOCK_NAME, **_lock_values(info)))
            except IntegrityError:
                raise StateLocked("another run took the state lock at the same moment") from None
            return replaced

    def heartbeat(self, run_id: str) -> None:
        with self.tx() as c:
            c.execute(
                update(lock)
                .where(and_(lock.c.name == LOCK_NAME, lock.c.run_id == run_id))
                .values(heartbeat_at=now_iso())
            )

    def release_lock(self, run_id: str) -> None:
        with self.tx() as c:
            c.execute(delete(lock).where(and_(lock.c.name == LOCK_NAME, lock.c.run_id == run_id)))

    def force_unlock(self) -> LockInfo | None:
        with self.tx() as c:
            current = self._lock_row(c)
            c.execute(delete(lock).where(lock.c.name == LOCK_NAME))
            return current

    def lock_info(self) -> LockInfo | None:
        with self.tx() as c:
            return self._lock_row(c)

    @staticmethod
    def _lock_row(c: Connection) -> LockInfo | None:
        row = c.execute(select(lock).where(lock.c.name == LOCK_NAME)).first()
        if row is None:
            return None
        return LockInfo(
            run_id=row.run_id,
            host=row.host,
            pid=row.pid,
            pid_start=row.pid_start,
            operator=row.operator,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
        )

    # -- services, steps, approvals -------------------------------------------------------

    def recorded_routes(self, names: Sequence[str]) -> dict[str, RecordedRoute]:
        """The routes recorded for these services (those that have a row)."""
        with self.tx() as c:
            rows = c.execute(
                select(
                    services.c.name, services.c.route, services.c.container, services.c.bucket
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
            )
            for row in rows
        }

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
                    c.execute(update(services).where(services.c.name == name).values(**values))
                else:
                    c.execute(services.insert().values(name=name, state="pending", **values))

    def reset_interrupted(self, names: Sequence[str]) -> int:
        """Rows left 'copying' by a run that died go back to pending (we hold the lock)."""
        with self.tx() as c:
            result = c.execute(
                update(objects)
                .where(and_(objects.c.service.in_(list(names)), objects.c.status == "copying"))
                .values(status="pending", updated_at=now_iso())
            )
            return int(result.rowcount or 0)

    def retry_failed(self, names: Sequence[str]) -> int:
        with self.tx() as c:
            result = c.execute(
                update(objects)
                .where(and_(objects.c.service.in_(list(names)), objects.c.status == "failed"))
                .values(status="pending", updated_at=now_iso())
            )
            c.execute(
                update(services)
                .where(and_(services.c.name.in_(list(names)), services.c.state == "failed"))
                .values(state="pending", error=None, updated_at=now_iso())
            )
            return int(result.rowcount or 0)

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
            c.execute(
                update(services)
                .where(services.c.name == name)
                .values(state=state, step=step, error=error, updated_at=now_iso())
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

    # -- objects --------------------------------------------------------------------------

    def begin_listing(self, service: str) -> int:
        with self.tx() as c:
            empty = (
                c.execute(select(objects.c.id).where(objects.c.service == service).limit(1)).first()
                is None
            )
            row = c.execute(select(services).where(services.c.name == service)).one()
            if row.listing_marker is not None and not row.listing_complete:
                generation = int(row.listing_generation)  # resume the interrupted pass
            else:
                generation = int(row.listing_generation) + 1
                c.execute(
                    update(services)
                    .where(services.c.name == service)
                    .values(
                        listing_generation=generation,
                        listing_complete=False,
                        listing_marker=None,
                        updated_at=now_iso(),
                    )
                )
        self._mark_fresh(service, generation, empty)
        return generation

    def _mark_fresh(self, service: str, generation: int, empty: bool) -> None:
        """A listing into an empty ledger needs no lookup of what it already knows."""
        if empty:
            self._fresh_listing[service] = generation
        else:
            self._fresh_listing.pop(service, None)

    def ingest_listing(
        self, service: str, generation: int, listed: Sequence[ObjectInfo], next_marker: str | None
    ) -> ListingCounts:
        with self.tx() as c:
            fresh = self._fresh_listing.get(service) == generation
            counts = object_rows.ingest(c, service, generation, listed, fresh=fresh)
            c.execute(
                update(services)
                .where(services.c.name == service)
                .values(listing_marker=next_marker, updated_at=now_iso())
            )
            return counts

    def finish_listing(self, service: str) -> None:
        with self.tx() as c:
            c.execute(
                update(services)
                .where(services.c.name == service)
                .values(listing_complete=True, listing_marker=None, updated_at=now_iso())
            )

    def fail_objects(self, service: str, failures: Sequence[tuple[str, str]]) -> None:
        if failures:
            with self.tx() as c:
                object_rows.fail_keys(c, service, failures)

    def claim(self, service: str, limit: int) -> list[ObjectTask]:
        with self.tx() as c:
            return object_rows.claim(c, service, limit)

    def record_results(
        self, results: Sequence[CopyResult], events: Sequence[AuditEvent] = ()
    ) -> None:
        """Results and their audit events in one transaction: both or neither."""
        if results:
            with self.tx() as c:
                object_rows.record(c, results)
                audit_rows.append(c, events, *self._actor, self._audit_key)

    def counts(self, service: str) -> ObjectCounts:
        with self.tx() as c:
            return object_rows.counts(c, service)

    def known(self, service: str, keys: Sequence[str]) -> dict[str, KnownObject]:
        with self.tx() as c:
            rows = c.execute(
                select(
                    objects.c.key, objects.c.source_etag, objects.c.size, objects.c.status
                ).where(and_(objects.c.service == service, objects.c.key.in_(list(keys))))
            ).all()
        return {r.key: KnownObject(r.source_etag, int(r.size), r.status) for r in rows}

    def done_count(self, service: str) -> tuple[int, int]:
        counts = self.counts(service)
        return counts.done, counts.bytes_done

    def copied_after(self, service: str, after: str | None, limit: int) -> list[CopiedObject]:
        with self.tx() as c:
            return object_rows.copied_after(c, service, after, limit)

    def copied_slice(self, service: str, offset: int, limit: int) -> list[CopiedObject]:
        with self.tx() as c:
            return object_rows.copied_slice(c, service, offset, limit)

    def copied_count(self, service: str) -> int:
        return self.counts(service).done

    def not_copied(self, service: str, limit: int) -> list[tuple[str, str, str | None]]:
        with self.tx() as c:
            return object_rows.not_copied(c, service, limit)

    def pending_bytes(self, service: str) -> tuple[int, int]:
        with self.tx() as c:
            return object_rows.pending_bytes(c, service)

    def retire_unlisted(self, service: str, generation: int) -> list[str]:
        with self.tx() as c:
            return object_rows.retire_unlisted(c, service, generation)

    def mark_deleted(self, service: str, keys: Sequence[str]) -> None:
        if keys:
            with self.tx() as c:
                object_rows.mark_deleted(c, service, keys)

    def _set(self, service: str, **values: Any) -> None:
        with self.tx() as c:
            c.execute(
                update(services)
                .where(services.c.name == service)
                .values(updated_at=now_iso(), **values)
            )

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

    def record_verification(
        self, service: str, level: str, checked: int, differences: int, summary: str
    ) -> None:
        with self.tx() as c:
            c.execute(
                verifications.insert().values(
                    service=service,
                    level=level,
                    checked=checked,
                    differences=differences,
                    recorded_at=now_iso(),
                    summary=summary,
                )
            )

    def latest_verification(self, service: str) -> tuple[str, int, str] | None:
        """(level, differences, recorded_at) of the last verification of the service."""
        with self.tx() as c:
            row = c.execute(
                select(
                    verifications.c.level, verifications.c.differences, verifications.c.recorded_at
                )
                .where(verifications.c.service == service)
                .order_by(verifications.c.id.desc())
                .limit(1)
            ).first()
        return (row.level, int(row.differences), row.recorded_at) if row else None

    def set_verify_cursor(self, service: str, cursor: int) -> None:
        self._set(service, verify_cursor=cursor)

    def rolled_back(self, service: str, steps_to_redo: Sequence[str]) -> None:
        with self.tx() as c:
            c.execute(
                delete(steps).where(
                    and_(steps.c.service == service, steps.c.step.in_(list(steps_to_redo)))
                )
            )
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
            )

    def decommissioned(self, service: str) -> None:
        self._set(service, decommissioned_at=now_iso())

    def revoke_approval(self, service: str, step: str) -> None:
        with self.tx() as c:
            c.execute(
                delete(approvals).where(
                    and_(approvals.c.service == service, approvals.c.step == step)
                )
            )

    def approval_time(self, service: str, step: str) -> str | None:
        with self.tx() as c:
            found = c.execute(
                select(approvals.c.approved_at).where(
                    and_(approvals.c.service == service, approvals.c.step == step)
                )
            ).scalar()
        return str(found) if found is not None else None

    def record_probe(
        self, endpoint: str, preset: str, ok: bool, contradicts: bool, summary: str
    ) -> None:
        with self.tx() as c:
            c.execute(
                probes.insert().values(
                    endpoint=endpoint,
                    preset=preset,
                    ok=ok,
                    contradicts_preset=contradicts,
                    recorded_at=now_iso(),
                    summary=summary,
                )
            )

    def latest_probe(self, endpoint: str, preset: str) -> tuple[bool, bool, str, str] | None:
        """(ok, contradicts the preset, recorded at, summary) of the last probe of a target."""
        with self.tx() as c:
            row = c.execute(
                select(
                    probes.c.ok, probes.c.contradicts_preset, probes.c.recorded_at, probes.c.summary
                )
                .where(and_(probes.c.endpoint == endpoint, probes.c.preset == preset))
                .order_by(probes.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return bool(row.ok), bool(row.contradicts_preset), row.recorded_at, row.summary

    def record_evidence(self, wave: int, path: str, sha256: str) -> None:
        with self.tx() as c:
            c.execute(
                evidence.insert().values(wave=wave, path=path, sha256=sha256, recorded_at=now_iso())
            )

    def proof_counts(self, service: str) -> dict[str, int]:
        with self.tx() as c:
            return object_rows.proof_counts(c, service)

    def keys_colliding(self, service: str) -> list[tuple[str, str]]:
        with self.tx() as c:
            return object_rows.colliding(c, service)

    def record_upload(self, service: str, key: str, upload_id: str, part_size: int) -> None:
        with self.tx() as c:
            c.execute(
                delete(uploads).where(and_(uploads.c.service == service, uploads.c.key == key))
            )
            c.execute(
                uploads.insert().values(
                    service=service,
                    key=key,
                    upload_id=upload_id,
                    part_size=part_size,
                    started_at=now_iso(),
                )
            )

    def upload_of(self, service: str, key: str) -> tuple[str, int] | None:
        with self.tx() as c:
            row = c.execute(
                select(uploads.c.upload_id, uploads.c.part_size).where(
                    and_(uploads.c.service == service, uploads.c.key == key)
                )
            ).first()
            return (row.upload_id, int(row.part_size)) if row else None

    def forget_upload(self, service: str, key: str) -> None:
        with self.tx() as c:
            c.execute(
                delete(uploads).where(and_(uploads.c.service == service, uploads.c.key == key))
            )


def _lock_values(info: LockInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "host": info.host,
        "pid": info.pid,
        "pid_start": info.pid_start,
        "operator": info.operator,
        "started_at": info.started_at,
        "heartbeat_at": info.heartbeat_at,
    }


def _locked_message(holder: LockInfo, alive: bool | None) -> str:
    state = "running" if alive else "state unknown (another host)"
    return (
        f"the state is locked by run {holder.run_id} of {holder.operator} on {holder.host} "
        f"(pid {holder.pid}, started {holder.started_at}, last heartbeat "
        f"{holder.heartbeat_at}, {state}). Wait for it to finish; if it crashed, run "
        "`migrate unlock --force`"
    )
