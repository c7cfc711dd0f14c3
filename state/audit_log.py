"""The hash-chained audit log: events appended with the actor and the signing key."""

from __future__ import annotations

from collections.abc import Sequence

from migrate.audit import AuditEvent, SealedEvent
from state import audit as audit_rows
from state.database import Database


class AuditLog(Database):
    def audit(self, events: Sequence[AuditEvent]) -> None:
        with self.tx() as c:
            audit_rows.append(c, events, *self._actor, self._audit_key)

    def audit_events(self, project: str | None = None) -> list[SealedEvent]:
        with self.tx() as c:
            return list(audit_rows.read(c, project))
