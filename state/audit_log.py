"""The hash-chained audit log: events appended with the actor and the signing key, and its
head kept in the ledger, in every run's summary, and in a file beside a SQLite ledger."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, inspect, select

from migrate.audit import Anchor, AuditEvent, AuditHead, SealedEvent
from migrate.errors import StateError
from state import audit as audit_rows
from state.database import Database
from state.schema import audit_events, runs

log = logging.getLogger(__name__)
HEAD_FILE_SUFFIX = ".audit-head"
_DROPPED = "no audit_events table: the audit log was dropped outside hdh-migrate"
_MISSING_FILE = (
    "it is missing: deleted, or the ledger was copied without it (copy the two files together)"
)


def head_file_of(database: Path | None) -> Path | None:
    """The head file beside a SQLite ledger (``state.db`` -> ``state.db.audit-head``)."""
    return None if database is None else database.with_name(database.name + HEAD_FILE_SUFFIX)


def read_head_file(path: Path) -> Anchor | None:
    """The head file's anchor; None when there is no file."""
    where = f"the head file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        return Anchor(where, None, problem=f"it cannot be read ({exc})")
    try:
        return Anchor(where, AuditHead.from_json(json.loads(text)))
    except ValueError as exc:
        return Anchor(where, None, problem=f"it is not a head ({exc})")


class AuditLog(Database):
    _warned = False

    def audit(self, events: Sequence[AuditEvent]) -> None:
        with self.tx() as c:
            audit_rows.append(c, events, *self._actor, self._audit_key)

    def audit_events(self, project: str | None = None) -> list[SealedEvent]:
        with self._snapshot() as c:
            _require_table(c)
            return list(audit_rows.read(c, project))

    def audit_head(self) -> AuditHead | None:
        """The ledger's head (None before the first event), for evidence files."""
        with self.tx() as c:
            return audit_rows.read_head(c)[0]

    def audit_snapshot(self, project: str | None = None) -> tuple[list[SealedEvent], list[Anchor]]:
        """The events and every head the ledger keeps, read in one snapshot; the head file is
        read first, so that a run writing meanwhile never makes it look ahead of the events."""
        path = head_file_of(self.database_file)
        kept = read_head_file(path) if path is not None else None
        with self._snapshot() as c:
            dropped = not inspect(c).has_table(audit_events.name)
            events = [] if dropped else list(audit_rows.read(c, project))
            anchors = [*_ledger_anchors(c, events), *_run_anchors(c)]
        if dropped:  # first: the cause of what the heads say
            anchors.insert(0, Anchor("the ledger", None, problem=f"it has {_DROPPED}", from_seq=1))
        if kept is not None:
            anchors.append(kept)
        elif path is not None and events:
            anchors.append(Anchor(f"the head file {path}", None, problem=_MISSING_FILE))
        return events, anchors

    @property
    def database_file(self) -> Path | None:
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database)

    def audit_committed(self, head: AuditHead | None) -> None:
        """Move the head file on, along the same chain only: when the chain no longer holds
        the event the file records, the file stays as it is (the loss keeps showing)."""
        path = head_file_of(self.database_file)
        if head is None:
            self._warn_once("the audit log no longer ends where its head says")
            return
        if path is None:
            return
        kept = read_head_file(path)
        if kept is not None:
            if kept.head is None:
                self._warn_once(f"the head file {path} is unreadable ({kept.problem})")
                return
            if kept.head.seq >= head.seq:
                return  # another writer got there first
            with self.tx() as c:
                stored = audit_rows.hash_of(c, kept.head.seq) if kept.head.seq else kept.head.hash
            if stored != kept.head.hash:
                self._warn_once(f"the audit log no longer holds the event {path} records")
                return
        _write_private(path, json.dumps(head.to_json(), sort_keys=True) + "\n")

    def _warn_once(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s: events were deleted or rewritten; run `migrate audit verify`", what)

    @contextmanager
    def _snapshot(self) -> Iterator[Connection]:
        """A read of one consistent state (SQLite: one transaction, in WAL mode; PostgreSQL:
        repeatable read, so that the events and the heads are of the same moment)."""
        if self.engine.dialect.name == "sqlite":
            with self.tx() as connection:
                yield connection
            return
        options = {"isolation_level": "REPEATABLE READ"}
        with self.engine.connect().execution_options(**options) as connection, connection.begin():
            yield connection


def _require_table(connection: Connection) -> None:
    if not inspect(connection).has_table(audit_events.name):
        raise StateError(
            f"the ledger has {_DROPPED}; restore it from a backup (`migrate audit verify` "
            "says what its heads still record)"
        )


def _ledger_anchors(connection: Connection, events: list[SealedEvent]) -> list[Anchor]:
    head, problem = audit_rows.read_head(connection)
    where = "the ledger's head"
    if head is not None:
        return [Anchor(where, head, last=True)]
    if problem is not None:
        return [Anchor(where, None, problem=problem)]
    if events:
        return [
            Anchor(
                where,
                None,
                problem=f"missing, although the log holds {len(events)} events: it was "
                "deleted (or the ledger was last written before heads were kept: any command "
                "that writes to it records one)",
            )
        ]
    return []


def _run_anchors(connection: Connection) -> list[Anchor]:
    anchors = []
    for row in connection.execute(select(runs.c.id, runs.c.summary).order_by(runs.c.started_at)):
        try:
            summary = json.loads(row.summary) if row.summary else {}
        except ValueError:
            anchors.append(Anchor(f"run {row.id}", None, problem="its summary is not JSON"))
            continue
        if isinstance(summary, dict) and "audit_head" in summary:
            try:
                anchors.append(Anchor(f"run {row.id}", AuditHead.from_json(summary["audit_head"])))
            except ValueError as exc:
                anchors.append(
                    Anchor(f"run {row.id}", None, problem=f"its head is not one ({exc})")
                )
    return anchors


def _write_private(path: Path, text: str) -> None:
    """Through a temporary file and a rename: a reader never sees half a head."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(name, path)
    except OSError as exc:
        Path(name).unlink(missing_ok=True)
        log.warning("cannot write the audit head file %s: %s", path, exc.strerror)
