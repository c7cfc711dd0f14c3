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

    def set_actor(self, operator: str, host: str, audit_key: bytes | None) -> None:
        """Who the audit events are from, and the key that signs them (if any)."""
        self._actor = (operator, host)
        self._audit_key = audit_key

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
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
