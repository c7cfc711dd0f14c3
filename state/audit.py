"""Storing and reading the hash-chained audit log (table ``audit_events``) and its head.

The head (sequence number and hash of the newest event, signed) is written in the same
transaction as the events, as the row ``audit_head`` of ``migrate_meta``. It moves on only
while the chain still ends where it says: after events were deleted or rewritten it stays
where it was, so that the loss keeps showing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Row, select, update

from migrate.audit import GENESIS, AuditEvent, AuditHead, SealedEvent, seal, signed_head
from migrate.timeutil import now_iso
from state.schema import audit_events, meta

HEAD_KEY = "audit_head"
PENDING_HEAD = "hdh_migrate_audit_head"
"""Where ``append`` leaves the new head on the connection, for the writer to act on it once
the transaction is committed (the head file beside a SQLite ledger)."""


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
    head, unreadable = read_head(connection)
    on_chain = (head is None and unreadable is None) or (
        head is not None and (head.seq, head.hash) == (seq, previous)
    )
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
    if on_chain:
        new = signed_head(key, seq, previous)
        _write_head(connection, new, exists=head is not None)
        connection.info[PENDING_HEAD] = new
    else:
        connection.info[PENDING_HEAD] = None  # the log was cut or rewritten: say so


def _write_head(connection: Connection, head: AuditHead, *, exists: bool) -> None:
    value = json.dumps(head.to_json(), sort_keys=True)
    if exists:
        connection.execute(update(meta).where(meta.c.key == HEAD_KEY).values(value=value))
    else:
        connection.execute(meta.insert().values(key=HEAD_KEY, value=value))


def read_head(connection: Connection) -> tuple[AuditHead | None, str | None]:
    """The ledger's head, or None; and why it cannot be read, when it cannot."""
    value = connection.execute(select(meta.c.value).where(meta.c.key == HEAD_KEY)).scalar()
    if value is None:
        return None, None
    try:
        return AuditHead.from_json(json.loads(value)), None
    except ValueError as exc:
        return None, f"it is not a head ({exc})"


def hash_of(connection: Connection, seq: int) -> str | None:
    query = select(audit_events.c.hash).where(audit_events.c.seq == seq)
    found = connection.execute(query).scalar()
    return None if found is None else str(found)


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
        yield _event(row)


def _event(row: Row[Any]) -> SealedEvent:
    """A row as an event; a row whose JSON columns do not parse is kept, marked damaged."""
    damaged = None
    request_ids: Any = ()
    detail: Any = {}
    try:
        request_ids = json.loads(row.request_ids)
        if not isinstance(request_ids, list):
            raise ValueError("not a list")
    except (TypeError, ValueError):
        damaged, request_ids = f"its request_ids are not a JSON list: {row.request_ids!r:.200}", ()
    try:
        detail = json.loads(row.detail)
        if not isinstance(detail, dict):
            raise ValueError("not an object")
    except (TypeError, ValueError):
        damaged, detail = damaged or f"its detail is not a JSON object: {row.detail!r:.200}", {}
    return SealedEvent(
        seq=int(row.seq),
        at=str(row.at),
        operator=str(row.operator),
        host=str(row.host),
        project=None if row.project is None else str(row.project),
        action=str(row.action),
        subject=str(row.subject),
        result=str(row.result),
        request_ids=tuple(request_ids),
        detail=detail,
        prev_hash=str(row.prev_hash),
        hash=str(row.hash),
        hmac=None if row.hmac is None else str(row.hmac),
        damaged=damaged,
    )
