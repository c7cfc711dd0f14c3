"""The audit log's events and their hash chain (leaf layer; stored by state/).

Each event holds the SHA-256 of the previous one; its own hash covers every field, so an
edited, deleted, reordered or inserted event breaks the chain at its sequence number. With a
key in ``MIGRATE_AUDIT_HMAC_KEY`` every hash is also signed (HMAC-SHA256), so that even a
writer who recomputes the whole chain cannot forge it without the key.

The chain alone cannot show that its newest events were deleted: what is left is still a valid
chain. So the head of the chain (the sequence number and hash of its newest event, signed in a
domain of its own) is also kept where the events are not: in the ledger beside them, in a file
beside a SQLite ledger, in every run and in every evidence file, and in any copy the operator
keeps. ``verify_log`` checks that the chain still reaches every head it is given. What each
place can and cannot show is written in docs/security.md.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

GENESIS = "0" * 64
HMAC_KEY_ENV = "MIGRATE_AUDIT_HMAC_KEY"
HEAD_DOMAIN = "hdh-migrate audit head"


@dataclass(frozen=True)
class AuditEvent:
    """What happened, before it is sealed into the chain."""

    action: str
    subject: str
    result: str = "ok"
    project: str | None = None
    request_ids: tuple[str, ...] = ()
    detail: Mapping[str, Any] = field(default_factory=dict)


INSECURE_OVERRIDE = "security.insecure-override"


def insecure_override(command: str, subject: str) -> AuditEvent:
    """``--insecure`` given to a command that connects (plain http, or dask tcp, outside
    loopback accepted): recorded before its first connection."""
    return AuditEvent(
        INSECURE_OVERRIDE,
        subject,
        "accepted",
        detail={
            "command": command,
            "reason": f"--insecure at {command}: plain http (or dask tcp) outside loopback "
            "accepted",
        },
    )


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
    damaged: str | None = None
    """Why the stored row cannot be read as an event (a column that is not JSON), or None."""

    def to_json(self) -> dict[str, Any]:
        damaged = {"damaged": self.damaged} if self.damaged else {}
        return damaged | {
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
    return _walk(events, key, set())[0]


def _walk(
    events: Iterable[SealedEvent], key: bytes | None, wanted: set[int]
) -> tuple[ChainReport, dict[int, str], AuditHead]:
    """The chain's report, the stored hashes of the ``wanted`` sequence numbers, its last."""
    expected_seq, previous, count = 1, GENESIS, 0
    hashes: dict[int, str] = {}
    last = AuditHead(0, GENESIS)
    report: ChainReport | None = None
    for event in events:
        count += 1
        if event.seq in wanted:
            hashes[event.seq] = event.hash
        last = AuditHead(event.seq, event.hash)
        if report is None:
            report = _check_event(event, expected_seq, previous, key, count)
        previous, expected_seq = event.hash, expected_seq + 1
    if report is not None:
        return ChainReport(count, report.first_bad, report.reason), hashes, last
    return ChainReport(count, None, None), hashes, last


def _check_event(
    event: SealedEvent, expected_seq: int, previous: str, key: bytes | None, count: int
) -> ChainReport | None:
    if event.damaged:
        return ChainReport(count, event.seq, f"{event.damaged} (edited outside hdh-migrate)")
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
    elif key is not None and not hmac.compare_digest(event.hmac or "", sign(key, event.hash) or ""):
        problem = "its signature does not match (forged or signed with another key)"
    return ChainReport(count, event.seq, problem) if problem is not None else None


@dataclass(frozen=True)
class AuditHead:
    """The newest event of the chain when the head was written: its sequence number and hash,
    and (with the key) their HMAC in a domain of its own, so that an event's own signature
    cannot stand for a head. Sequence 0 with GENESIS: the log was empty."""

    seq: int
    hash: str
    hmac: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "hmac": self.hmac}

    @classmethod
    def from_json(cls, data: object) -> AuditHead:
        """Raises ValueError when ``data`` is not a head."""
        if not isinstance(data, dict):
            raise ValueError("not an object with seq and hash")
        seq, value, signature = data.get("seq"), data.get("hash"), data.get("hmac")
        if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
            raise ValueError(f"seq {seq!r} is not a sequence number")
        if not isinstance(value, str) or len(value) != 64:
            raise ValueError(f"hash {value!r} is not a SHA-256")
        if signature is not None and not isinstance(signature, str):
            raise ValueError(f"hmac {signature!r} is not a signature")
        return cls(seq, value, signature)

    def short(self) -> str:
        return f"event {self.seq} (sha256 {self.hash[:12]}…)"


def signed_head(key: bytes | None, seq: int, value: str) -> AuditHead:
    return AuditHead(seq, value, sign(key, f"{HEAD_DOMAIN}:{seq}:{value}"))


Signature = Literal["head", "event", "none"]


@dataclass(frozen=True)
class Anchor:
    """A head kept somewhere: the chain must still hold its event, with its hash.

    ``last``: the head is written with every event (the ledger's own), so the chain must end
    exactly there. ``signature``: how its HMAC is checked when a key is given (a head's own
    domain, an exported event's signature, or not at all). ``head`` None: the place holds
    something that is not a head (``problem`` says what).
    """

    where: str
    head: AuditHead | None
    last: bool = False
    signature: Signature = "head"
    problem: str | None = None
    from_seq: int | None = None
    """With ``problem``: the first event it puts in doubt, when it is known."""


@dataclass(frozen=True)
class Finding:
    seq: int | None
    text: str


@dataclass(frozen=True)
class LogReport:
    """The chain and every head checked against it."""

    chain: ChainReport
    head: AuditHead
    findings: tuple[Finding, ...]
    anchors: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.chain.ok and not self.findings

    @property
    def first_bad(self) -> int | None:
        seqs = [f.seq for f in self.findings if f.seq is not None]
        if self.chain.first_bad is not None:
            seqs.append(self.chain.first_bad)
        return min(seqs) if seqs else None


def verify_log(
    events: Iterable[SealedEvent], key: bytes | None, anchors: Sequence[Anchor] = ()
) -> LogReport:
    """The chain, then every anchor: a head the chain no longer reaches is a truncation, one it
    reaches with another hash a rewrite, one not signed with the key a forgery."""
    wanted = {a.head.seq for a in anchors if a.head is not None}
    chain, hashes, last = _walk(events, key, wanted)
    findings = [f for anchor in anchors for f in _check_anchor(anchor, key, hashes, last)]
    checked = tuple(a.where for a in anchors if a.head is not None)
    return LogReport(chain, last, tuple(findings), checked)


def _check_anchor(
    anchor: Anchor, key: bytes | None, hashes: Mapping[int, str], last: AuditHead
) -> list[Finding]:
    head = anchor.head
    if head is None:
        return [Finding(anchor.from_seq, f"{anchor.where}: {anchor.problem}")]
    where = anchor.where
    if key is not None and anchor.signature != "none":
        expected = (
            signed_head(key, head.seq, head.hash).hmac
            if anchor.signature == "head"
            else sign(key, head.hash)
        )
        if not hmac.compare_digest(head.hmac or "", expected or ""):
            return [Finding(head.seq, f"{where} is not signed with this key (forged)")]
    if head.seq > last.seq:
        lost = head.seq - last.seq
        gone = f"its newest {lost} events were" if lost > 1 else "its newest event was"
        return [
            Finding(
                last.seq + 1,
                f"{where} records {head.short()}, but the log ends at event {last.seq}: "
                f"{gone} deleted",
            )
        ]
    stored = GENESIS if head.seq == 0 else hashes.get(head.seq)
    if stored != head.hash:
        return [
            Finding(
                head.seq,
                f"{where} records {head.short()}, but the log holds another event {head.seq}: "
                "it was rewritten from there or before",
            )
        ]
    if anchor.last and head.seq < last.seq:
        return [
            Finding(
                head.seq + 1,
                f"events {head.seq + 1} to {last.seq} are not in {where}: they were added "
                "outside hdh-migrate",
            )
        ]
    return []


def anchor_from_text(text: str, where: str) -> Anchor:
    """The head a kept file holds: a head file or an evidence file (JSON with ``audit_head``),
    or an audit export (JSON lines: its newest event)."""
    try:
        data = json.loads(text)
    except ValueError:
        return _anchor_from_export(text, where)
    try:
        if isinstance(data, dict) and "audit_head" in data:
            return Anchor(where, AuditHead.from_json(data["audit_head"]))
        if isinstance(data, dict) and "prev_hash" in data:  # an export of one event
            return Anchor(where, AuditHead.from_json(data), signature="event")
        return Anchor(where, AuditHead.from_json(data))
    except ValueError as exc:
        return Anchor(where, None, problem=f"it holds no audit head ({exc})")


def _anchor_from_export(text: str, where: str) -> Anchor:
    newest: AuditHead | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            head = AuditHead.from_json(data)
        except ValueError as exc:
            return Anchor(where, None, problem=f"line {number} is not an audit event ({exc})")
        if newest is None or head.seq > newest.seq:
            newest = head
    if newest is None:
        return Anchor(where, None, problem="it is empty")
    return Anchor(where, newest, signature="event")
