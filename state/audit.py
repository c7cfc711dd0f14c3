"""Storing and reading the hash-chained audit log (table ``audit_events``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, select

from migrate.audit import GENESIS, AuditEvent, SealedEvent, seal
from migrate.timeutil import now_iso
from state.schema import audit_events


def append(
    connection: Connection,
    events: Sequence[AuditEvent],
    operator: str,
    host: str,
    key: bytes | None,
) -> None:
    """Seal and insert, inside the caller's (immediate) transaction: the chain has one writer."""
    if not events:
        return
    last = connection.execute(
        select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc()).limit(1)
    ).first()
    seq, previous = (int(last.seq), str(last.hash)) if last else (0, GENESIS)
    rows = []
    stamp = now_iso()
    for event in events:
        seq += 1
        sealed = seal(seq, stamp, operator, host, event, previous, key)
        previous = sealed.hash
        rows.append(
            {
                "seq": sealed.seq,
                "at": sealed.at,
                "operator": sealed.operator,
                "host": sealed.host,
                "project": sealed.project,
                "action": sealed.action,
                "subject": sealed.subject,
                "result": sealed.result,
                "request_ids": json.dumps(list(sealed.request_ids)),
                "detail": json.dumps(dict(sealed.detail), sort_keys=True),
                "prev_hash": sealed.prev_hash,
                "hash": sealed.hash,
                "hmac": sealed.hmac,
            }
        )
    connection.execute(audit_events.insert(), rows)


def read(connection: Connection, project: str | None = None) -> Iterator[SealedEvent]:
    """Events in storage order (rowid for SQLite: an edited seq still shows where it was)."""
    query = select(audit_events)
    query = (
        query.order_by(audit_events.c.seq)
        if connection.dialect.name != "sqlite"
        else (query.order_by(select(audit_events).selected_columns.seq))
    )
    for row in connection.execute(query):
        if project is not None and row.project != project:
            continue
        yield SealedEvent(
            seq=int(row.seq),
            at=row.at,
            operator=row.operator,
            host=row.host,
            project=row.project,
            action=row.action,
            subject=row.subject,
            result=row.result,
            request_ids=tuple(json.loads(row.request_ids)),
            detail=json.loads(row.detail),
            prev_hash=row.prev_hash,
            hash=row.hash,
            hmac=row.hmac,
        )
