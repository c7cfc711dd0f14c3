"""Read-side queries for status, reports and summaries (never write)."""

from __future__ import annotations

import json

from sqlalchemy import Connection, and_, func, select

from migrate.readmodel import ApprovalRow, EvidenceRow, ServiceProgress, StepRow
from state.schema import approvals, evidence, objects, services, steps, verifications

__all__ = [
    "EvidenceRow",
    "ServiceProgress",
    "StepRow",
    "evidence_files",
    "failures",
    "proofs",
    "retries_total",
    "service_progress",
    "steps_of",
    "throughput_series",
]


def service_progress(connection: Connection) -> list[ServiceProgress]:
    """One covering-index scan for the counts, then the services' rows."""
    counts: dict[str, dict[str, tuple[int, int]]] = {}
    for service, status, number, size in connection.execute(
        select(
            objects.c.service,
            objects.c.status,
            func.count(),
            func.coalesce(func.sum(objects.c.size), 0),
        ).group_by(objects.c.service, objects.c.status)
    ):
        counts.setdefault(str(service), {})[str(status)] = (int(number), int(size))
    windows = _step_windows(connection)
    verified = last_verifications(connection)
    found = []
    for r in connection.execute(select(services).order_by(services.c.wave, services.c.name)):
        by_status = counts.get(r.name, {})
        started, since, count_since = windows.get(r.name, (None, 0, 0))
        live = {k: v for k, v in by_status.items() if k != "deleted"}
        database = json.loads(r.database_progress) if r.database_progress else None
        if database is not None:  # a database service counts tables as its objects
            live = {
                "done": (int(database.get("tables_ready", 0)), 0),
                "pending": (
                    int(database.get("tables_total", 0)) - int(database.get("tables_ready", 0)),
                    0,
                ),
            }
        found.append(
            ServiceProgress(
                name=r.name,
                wave=r.wave,
                kind=r.kind,
                project=r.project,
                state=r.state,
                step=r.step,
                error=r.error,
                objects_total=sum(n for n, _ in live.values()),
                objects_done=live.get("done", (0, 0))[0],
                objects_failed=live.get("failed", (0, 0))[0],
                bytes_total=sum(b for _, b in live.values()),
                bytes_done=live.get("done", (0, 0))[1],
                updated_at=r.updated_at,
                freeze_seconds=r.freeze_seconds,
                freeze_budget_seconds=r.freeze_budget_seconds,
                freeze_started_at=r.freeze_started_at,
                cutover_at=r.cutover_at,
                decommissioned_at=r.decommissioned_at,
                step_started_at=started,
                bytes_since_step=since,
                objects_since_step=count_since,
                last_verify=verified.get(r.name),
                database=database,
            )
        )
    return found


def _step_windows(connection: Connection) -> dict[str, tuple[str, int, int]]:
    """For each running service: when its current step started, and the bytes and the
    number of the objects done since (the rates' numerators over the step's active time)."""
    running = connection.execute(
        select(services.c.name, steps.c.started_at)
        .join(steps, and_(steps.c.service == services.c.name, steps.c.step == services.c.step))
        .where(and_(services.c.state == "running", steps.c.started_at.is_not(None)))
    ).all()
    windows: dict[str, tuple[str, int, int]] = {}
    for name, started in running:
        done, count = connection.execute(
            select(func.coalesce(func.sum(objects.c.size), 0), func.count()).where(
                and_(
                    objects.c.service == name,
                    objects.c.status == "done",
                    objects.c.updated_at >= started,
                )
            )
        ).one()
        windows[str(name)] = (str(started), int(done or 0), int(count or 0))
    return windows


def last_verifications(connection: Connection) -> dict[str, dict[str, object]]:
    """The last verification of each service: when, at what level, against what, and how
    many differences it found."""
    latest = (
        select(func.max(verifications.c.id).label("id"))
        .group_by(verifications.c.service)
        .subquery()
    )
    rows = connection.execute(
        select(
            verifications.c.service,
            verifications.c.recorded_at,
            verifications.c.level,
            verifications.c.differences,
            verifications.c.summary,
        ).where(verifications.c.id.in_(select(latest.c.id)))
    ).all()
    found: dict[str, dict[str, object]] = {}
    for row in rows:
        try:
            summary = json.loads(row.summary)
        except ValueError:
            summary = {}
        found[str(row.service)] = {
            "at": row.recorded_at,
            "level": row.level,
            "against": summary.get("against", "ledger") if isinstance(summary, dict) else "ledger",
            "differences": int(row.differences),
        }
    return found


def failures(connection: Connection, service: str, limit: int) -> list[tuple[str, str]]:
    rows = connection.execute(
        select(objects.c.key, objects.c.last_error)
        .where(and_(objects.c.service == service, objects.c.status == "failed"))
        .order_by(objects.c.key)
        .limit(limit)
    ).all()
    return [(r.key, r.last_error or "") for r in rows]


def steps_of(connection: Connection, service: str | None = None) -> list[StepRow]:
    query = select(steps).order_by(steps.c.service, steps.c.started_at)
    if service is not None:
        query = query.where(steps.c.service == service)
    return [
        StepRow(
            r.service, r.step, r.status, int(r.attempts or 0), r.started_at, r.ended_at, r.detail
        )
        for r in connection.execute(query)
    ]


def throughput_series(connection: Connection, since: str) -> list[tuple[str, int, int]]:
    """(minute, objects, bytes) of objects done per minute since ``since`` (ISO UTC)."""
    minute = func.substr(objects.c.updated_at, 1, 16)
    rows = connection.execute(
        select(minute, func.count(), func.coalesce(func.sum(objects.c.size), 0))
        .where(and_(objects.c.status == "done", objects.c.updated_at >= since))
        .group_by(minute)
        .order_by(minute)
    ).all()
    return [(str(m), int(n), int(b)) for m, n, b in rows]


def retries_total(connection: Connection) -> dict[str, int]:
    rows = connection.execute(
        select(objects.c.service, func.coalesce(func.sum(objects.c.retries), 0)).group_by(
            objects.c.service
        )
    ).all()
    return {str(s): int(n) for s, n in rows}


def proofs(connection: Connection) -> dict[str, dict[str, int]]:
    rows = connection.execute(
        select(objects.c.service, objects.c.proof, func.count())
        .where(objects.c.status == "done")
        .group_by(objects.c.service, objects.c.proof)
    ).all()
    found: dict[str, dict[str, int]] = {}
    for service, proof, count in rows:
        found.setdefault(str(service), {})[str(proof)] = int(count)
    return found


def approvals_open(connection: Connection, service: str | None = None) -> list[ApprovalRow]:
    """The gates open now, in the order they were opened."""
    query = select(approvals).order_by(approvals.c.approved_at)
    if service is not None:
        query = query.where(approvals.c.service == service)
    return [
        ApprovalRow(r.service, r.step, r.operator, r.approved_at) for r in connection.execute(query)
    ]


def evidence_files(connection: Connection) -> list[EvidenceRow]:
    return [
        EvidenceRow(int(r.wave), r.path, r.sha256, r.recorded_at)
        for r in connection.execute(select(evidence).order_by(evidence.c.id))
    ]
