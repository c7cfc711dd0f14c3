"""The read side of the ledger: one consistent snapshot for status, the dashboard, the report
and the evidence files (never writes)."""

from __future__ import annotations

from migrate.readmodel import ApprovalRow, LedgerSnapshot, StepRow
from state import queries
from state.database import Database


class ReadSide(Database):
    def snapshot(self, series_since: str | None) -> LedgerSnapshot:
        """Progress of every service (with its running step's window and last verification);
        with ``series_since``, also what the dashboard shows (series, failures, steps)."""
        with self.tx() as connection:
            services = queries.service_progress(connection)
            if series_since is None:
                return LedgerSnapshot(services)
            return LedgerSnapshot(
                services,
                series=queries.throughput_series(connection, series_since),
                failures={
                    s.name: queries.failures(connection, s.name, 20)
                    for s in services
                    if s.objects_failed
                },
                steps=queries.steps_of(connection),
                proofs=queries.proofs(connection),
                retries=queries.retries_total(connection),
                evidence=queries.evidence_files(connection),
                approvals=queries.approvals_open(connection),
            )

    def failures(self, service: str, limit: int) -> list[tuple[str, str]]:
        """(key, reason) of the service's failed objects, first ``limit``."""
        with self.tx() as connection:
            return queries.failures(connection, service, limit)

    def approvals_of(self, service: str) -> list[ApprovalRow]:
        with self.tx() as connection:
            return queries.approvals_open(connection, service)

    def steps_of(self, service: str | None = None) -> list[StepRow]:
        with self.tx() as connection:
            return queries.steps_of(connection, service)
