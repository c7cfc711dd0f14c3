"""The ledger as the commands see it: small repositories by concern, each a Protocol (leaf
layer). ``state.Store`` implements them all over one database; a command names only those it
needs, so what it may read or change is in its signature. Only ``state/`` knows SQL.

The executor's own needs are ``migrate.ledger.Ledger``.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from migrate.audit import AuditEvent, AuditHead, SealedEvent
from migrate.ledger import (
    CopiedObject,
    Ledger,
    LedgerReader,
    LockInfo,
    ObjectCounts,
    RecordedRoute,
    ServiceRecord,
    ServiceState,
    StepStatus,
)
from migrate.model import Plan
from migrate.readmodel import ApprovalRow, LedgerSnapshot, ObjectReportRow, StepRow


class PlanRecords(Protocol):
    """Plans, the route of each service, runs."""

    def record_plan(
        self, plan: Plan, plan_sha256: str, body: str, inventory_text: str | None = None
    ) -> int: ...

    def applied_inventory(self, plan_sha256: str) -> tuple[str, str] | None:
        """(recorded_at, text) of the inventory the plan was applied with, when recorded."""
        ...

    def latest_plan(self) -> tuple[str, Plan] | None: ...

    def latest_plan_text(self) -> tuple[str, str] | None: ...

    def any_plan(self) -> tuple[str, Plan] | None: ...

    def recorded_routes(self, names: Sequence[str]) -> dict[str, RecordedRoute]: ...

    def worked_waves(self) -> dict[str, int]: ...

    def register_services(self, plan: Plan) -> None: ...

    def start_run(
        self,
        run_id: str,
        plan_id: int,
        *,
        dry_run: bool,
        host: str,
        pid: int,
        operator: str,
        options: dict[str, Any],
    ) -> None: ...

    def end_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None: ...

    def record_rehearsal(self, run_id: str, summary: dict[str, Any]) -> None: ...


class LockRecords(Protocol):
    def acquire_lock(self, info: LockInfo, *, holder_alive: Any) -> LockInfo | None: ...

    def heartbeat(self, run_id: str) -> bool:
        """False when the lock is no longer this run's."""
        ...

    def release_held(self, holder: LockInfo) -> bool:
        """Release the lock only if it is still exactly ``holder``'s."""
        ...

    def release_lock(self, run_id: str) -> None: ...

    def force_unlock(self) -> LockInfo | None: ...

    def lock_info(self) -> LockInfo | None: ...


class ServiceRecords(Protocol):
    """Services, their steps and approval gates."""

    def service(self, name: str) -> ServiceRecord: ...

    def set_service_state(
        self, name: str, state: ServiceState, step: str | None, error: str | None = None
    ) -> None: ...

    def step_finished(
        self, run_id: str, service: str, step: str, status: StepStatus, detail: str | None = None
    ) -> None: ...

    def approve(self, service: str, step: str, operator: str) -> bool: ...

    def is_approved(self, service: str, step: str) -> bool: ...

    def set_verify_cursor(self, service: str, cursor: int) -> None: ...

    def decommissioned(self, service: str) -> None: ...

    def database_progress(self, service: str) -> dict[str, Any] | None: ...


class ObjectRecords(Protocol):
    def counts(self, service: str) -> ObjectCounts: ...

    def reset_interrupted(self, names: Sequence[str]) -> int: ...

    def retry_failed(self, names: Sequence[str]) -> int: ...

    def proof_counts(self, service: str) -> dict[str, int]: ...

    def failures(self, service: str, limit: int) -> list[tuple[str, str]]:
        """(key, reason) of the service's failed objects, first ``limit``."""
        ...

    def copied_keys(self, service: str, keys: Sequence[str]) -> dict[str, CopiedObject]:
        """What the ledger recorded of these keys' copies (keys not done are absent)."""
        ...

    def requeue_for_repair(self, service: str, repairs: Sequence[tuple[str, str]]) -> int:
        """Copied objects back to pending, each with the reason; how many were requeued."""
        ...


class EvidenceRecords(Protocol):
    """Verifications, probes of the target, evidence files."""

    def record_verification(
        self, service: str, level: str, checked: int, differences: int, summary: str
    ) -> None: ...

    def latest_verification(self, service: str) -> tuple[str, int, str] | None: ...

    def latest_verification_summary(self, service: str) -> tuple[str, dict[str, Any]] | None:
        """(recorded_at, summary) of the service's last verification."""
        ...

    def record_probe(
        self, endpoint: str, preset: str, ok: bool, contradicts: bool, summary: str
    ) -> None: ...

    def latest_probe(self, endpoint: str, preset: str) -> tuple[bool, bool, str, str] | None: ...

    def record_evidence(self, wave: int, path: str, sha256: str) -> None: ...

    def approvals_of(self, service: str) -> list[ApprovalRow]:
        """The service's gates open now: who opened each, when (evidence names them)."""
        ...

    def audit_head(self) -> AuditHead | None:
        """The audit log's head, which every evidence file carries."""
        ...


class AuditTrail(Protocol):
    def audit(self, events: Sequence[AuditEvent]) -> None: ...

    def audit_events(self, project: str | None = None) -> list[SealedEvent]: ...


class SettingRecords(Protocol):
    """What an operator changes for a running apply, and what the run says it holds."""

    def setting(self, name: str) -> str | None: ...

    def set_setting(self, name: str, value: str | None) -> None: ...


class ReadSide(Protocol):
    def snapshot(self, series_since: str | None) -> LedgerSnapshot: ...

    def steps_of(self, service: str | None = None) -> list[StepRow]: ...


class ObjectReportRecords(Protocol):
    """The object rows page by page (keyset on (service, key)), for the object report."""

    def service_names(self) -> list[str]:
        """Every service the ledger has a row for, by name."""
        ...

    def next_object_service(self, after: str | None) -> str | None:
        """The first service after ``after`` (None: the first) that has object rows."""
        ...

    def object_page(self, service: str, after: str | None, limit: int) -> list[ObjectReportRow]:
        """The next ``limit`` rows of ``service`` in key order after the key ``after``."""
        ...


class SnapshotReader(LedgerReader, Protocol):
    """A read-only view of the ledger whose reads can all come from one moment."""

    def consistent_reads(self) -> AbstractContextManager[None]: ...


class StatusStore(PlanRecords, LockRecords, ReadSide, SettingRecords, Protocol):
    """What ``status`` reads."""


class GateStore(PlanRecords, ServiceRecords, AuditTrail, Protocol):
    """What ``approve`` reads and writes."""


class ProbeStore(EvidenceRecords, AuditTrail, Protocol):
    """What ``probe`` records."""


class EvidenceStore(ServiceRecords, ObjectRecords, EvidenceRecords, Protocol):
    """What an evidence file is written from."""


class LifecycleStore(
    Ledger,
    LedgerReader,
    PlanRecords,
    LockRecords,
    ServiceRecords,
    ObjectRecords,
    EvidenceRecords,
    Protocol,
):
    """What verify, rollback and decommission read and write (the executor's ``Ledger`` for
    the verification and the rollback they run)."""


class ApplyStore(
    Ledger,
    LedgerReader,
    PlanRecords,
    LockRecords,
    ServiceRecords,
    ObjectRecords,
    EvidenceRecords,
    SettingRecords,
    Protocol,
):
    """What apply (and its rehearsal) read and write."""
