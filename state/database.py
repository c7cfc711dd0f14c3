"""The connection every repository of the ledger shares: one engine, one writer mutex, the
audit actor. Each state transition is its own short transaction (SQLite: BEGIN IMMEDIATE, so a
read-modify-write never races another writer)."""

from __future__ import annotations

import getpass
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, CursorResult, Engine

from migrate.errors import StateError
from state.audit import PENDING_HEAD

_NOTHING = object()


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._mutex = threading.RLock()
        self._actor = (getpass.getuser(), socket.gethostname())
        self._audit_key: bytes | None = None
        self._fresh_listing: dict[str, int] = {}
        self._pinned: tuple[int, Connection] | None = None

    @contextmanager
    def consistent_reads(self) -> Iterator[None]:
        """Every read this thread makes in the block sees the ledger as it was at the first
        one: one read transaction (SQLite: a deferred BEGIN on a read-only store, which WAL
        serves without holding up writers; PostgreSQL: REPEATABLE READ). For the dry run,
        whose figures must add up while an apply goes on."""
        connection = self.engine.connect()
        if self.engine.dialect.name == "postgresql":
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        transaction = connection.begin()
        self._pinned = (threading.get_ident(), connection)
        try:
            yield
        finally:
            self._pinned = None
            transaction.rollback()
            connection.close()

    def set_actor(self, operator: str, host: str, audit_key: bytes | None) -> None:
        """Who the audit events are from, and the key that signs them (if any)."""
        self._actor = (operator, host)
        self._audit_key = audit_key

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        pinned = self._pinned
        if pinned is not None and pinned[0] == threading.get_ident():
            yield pinned[1]  # inside consistent_reads(): its one transaction
            return
        with self._mutex:
            with self.engine.begin() as connection:
                try:
                    yield connection
                finally:
                    pending = connection.info.pop(PENDING_HEAD, _NOTHING)
            if pending is not _NOTHING:  # committed: what the audit log wrote
                self.audit_committed(pending)

    def audit_committed(self, head: Any) -> None:
        """Called once a transaction that appended audit events is committed, with the new
        head (None when the log no longer ends where its head said)."""


def touched(result: CursorResult[Any], what: str, expected: int = 1) -> None:
    """A state-changing statement that did not touch the rows it meant to is a ledger out of
    step with the plan (a service row missing, a row changed under us): stop, never go on."""
    if result.rowcount != expected:
        raise StateError(
            f"the ledger changed {result.rowcount} rows for {what}, {expected} expected: "
            "is another tool writing to this state database?"
        )
