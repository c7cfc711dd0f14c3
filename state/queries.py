"""Read-side queries for status, reports and summaries (never write)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, case, func, select

from state.schema import objects, services


@dataclass(frozen=True)
class ServiceProgress:
    name: str
    wave: int
    kind: str
    project: str | None
    state: str
    step: str | None
    error: str | None
    objects_total: int
    objects_done: int
    objects_failed: int
    bytes_total: int
    bytes_done: int
    updated_at: str


def service_progress(connection: Connection) -> list[ServiceProgress]:
    grouped = (
        select(
            objects.c.service,
            func.count().label("total"),
            func.sum(case((objects.c.status == "done", 1), else_=0)).label("done"),
            func.sum(case((objects.c.status == "failed", 1), else_=0)).label("failed"),
            func.coalesce(func.sum(objects.c.size), 0).label("bytes_total"),
        )
        .where(objects.c.status != "deleted")
        .group_by(objects.c.service)
        .subquery()
    )
    done_bytes = (
        select(objects.c.service, func.coalesce(func.sum(objects.c.size), 0).label("bytes_done"))
        .where(objects.c.status == "done")
        .group_by(objects.c.service)
        .subquery()
    )
    rows = connection.execute(
        select(
            services,
            grouped.c.total,
            grouped.c.done,
            grouped.c.failed,
            grouped.c.bytes_total,
            done_bytes.c.bytes_done,
        )
        .outerjoin(grouped, grouped.c.service == services.c.name)
        .outerjoin(done_bytes, done_bytes.c.service == services.c.name)
        .order_by(services.c.wave, services.c.name)
    ).all()
    return [
        ServiceProgress(
            name=r.name,
            wave=r.wave,
            kind=r.kind,
            project=r.project,
            state=r.state,
            step=r.step,
            error=r.error,
            objects_total=int(r.total or 0),
            objects_done=int(r.done or 0),
            objects_failed=int(r.failed or 0),
            bytes_total=int(r.bytes_total or 0),
            bytes_done=int(r.bytes_done or 0),
            updated_at=r.updated_at,
        )
        for r in rows
    ]


def failures(connection: Connection, service: str, limit: int) -> list[tuple[str, str]]:
    rows = connection.execute(
        select(objects.c.key, objects.c.last_error)
        .where(and_(objects.c.service == service, objects.c.status == "failed"))
        .order_by(objects.c.key)
        .limit(limit)
    ).all()
    return [(r.key, r.last_error or "") for r in rows]
