"""The audit log's events and their hash chain (leaf layer; stored by state/).

Each event holds the SHA-256 of the previous one; its own hash covers every field, so an
edited, deleted, reordered or inserted event breaks the chain at its sequence number. With a
key in ``MIGRATE_AUDIT_HMAC_KEY`` every hash is also signed (HMAC-SHA256), so that even a
writer who recomputes the whole chain cannot forge it without the key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64
HMAC_KEY_ENV = "MIGRATE_AUDIT_HMAC_KEY"


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it is sealed into the chain."""

    action: str
    subject: str
    result: str = "ok"
    project: str | None = None
    request_ids: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SealedEvent:
    seq: int
    at: str
    operator: str
    host: str
    project: str | None
    action: str
    subject: str
    result: str
    request_ids: tuple[str, ...]
    detail: Mapping[str, Any]
    prev_hash: str
    hash: str
    hmac: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "operator": self.operator,
            "host": self.host,
            "project": self.project,
            "action": self.action,
            "subject": self.subject,
            "result": self.result,
            "request_ids": list(self.request_ids),
            "detail": dict(self.detail),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "hmac": self.hmac,
        }


def digest(seq: int, at: str, operator: str, host: str, event: AuditEvent, prev_hash: str) -> str:
    canonical = json.dumps(
        {
            "seq": seq,
            "at": at,
            "operator": operator,
            "host": host,
            "project": event.project,
            "action": event.action,
            "subject": event.subject,
            "result": event.result,
            "request_ids": list(event.request_ids),
            "detail": dict(event.detail),
            "prev_hash": prev_hash,
        },
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def sign(key: bytes | None, value: str) -> str | None:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest() if key else None


def seal(
    seq: int,
    at: str,
    operator: str,
    host: str,
    event: AuditEvent,
    prev_hash: str,
    key: bytes | None,
) -> SealedEvent:
    value = digest(seq, at, operator, host, event, prev_hash)
    return SealedEvent(
        seq,
        at,
        operator,
        host,
        event.project,
        event.action,
        event.subject,
        event.result,
        tuple(event.request_ids),
        dict(event.detail),
        prev_hash,
        value,
        sign(key, value),
    )


@dataclass(frozen=True)
class ChainReport:
    events: int
    first_bad: int | None
    reason: str | None

    @property
    def ok(self) -> bool:
        return self.first_bad is None


def verify_chain(events: Iterable[SealedEvent], key: bytes | None) -> ChainReport:
    """Walk the chain in storage order; the first event that does not fit is named."""
    expected_seq, previous, count = 1, GENESIS, 0
    for event in events:
        count += 1
        recomputed = digest(
            event.seq,
            event.at,
            event.operator,
            event.host,
            AuditEvent(
                event.action,
                event.subject,
                event.result,
                event.project,
                tuple(event.request_ids),
                event.detail,
            ),
            event.prev_hash,
        )
        problem = None
        if event.seq != expected_seq:
            problem = (
                f"sequence {event.seq} where {expected_seq} was expected (deleted, "
                "inserted or reordered events)"
            )
        elif event.prev_hash != previous:
            problem = "it does not follow the event before it (deleted, inserted or reordered)"
        elif recomputed != event.hash:
            problem = "its content does not match its hash (edited)"
        elif key is not None and not hmac.compare_digest(
            event.hmac or "", sign(key, event.hash) or ""
        ):
            problem = "its signature does not match (forged or signed with another key)"
        if problem is not None:
            return ChainReport(count, event.seq, problem)
        previous, expected_seq = event.hash, expected_seq + 1
    return ChainReport(count, None, None)
