"""What the executor needs from the ledger, as records and a Protocol (implemented in state/).

The executor never sees SQL; the ledger never sees an SDK.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from migrate.audit import AuditEvent
from migrate.ports import ObjectAttributes, ObjectInfo

ServiceState = Literal["pending", "running", "waiting-approval", "done", "failed", "rolled-back"]
ObjectStatus = Literal["pending", "copying", "done", "failed", "deleted", "changed"]
StepStatus = Literal["started", "done", "failed", "waiting-approval", "skipped"]


@dataclass(frozen=True)
class LockInfo:
    run_id: str
    host: str
    pid: int
    pid_start: str | None
    operator: str
    started_at: str
    heartbeat_at: str


@dataclass(frozen=True)
class ObjectTask:
    """One object to copy, as the ledger knows it."""

    id: int
    service: str
    key: str
    size: int
    etag: str | None
    md5: str | None
    attributes: ObjectAttributes
    attempts: int
    tier: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class CopyResult:
    id: int
    status: ObjectStatus
    attempts: int
    error: str | None = None
    sha256: str | None = None
    md5: str | None = None
    target_etag: str | None = None
    target_version: str | None = None
    proof: str | None = None
    retries: int = 0
    target_modified: str | None = None
    """The write check's Last-Modified of the target object, UTC to the second."""
    target_sse: str | None = None
    """The server-side encryption the write check saw."""


@dataclass(frozen=True)
class ListingCounts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class ObjectCounts:
    total: int = 0
    done: int = 0
    failed: int = 0
    pending: int = 0
    changed: int = 0
    bytes_total: int = 0
    bytes_done: int = 0


@dataclass(frozen=True)
class ServiceRecord:
    name: str
    wave: int
    state: ServiceState
    step: str | None
    listing_marker: str | None
    listing_generation: int
    listing_complete: bool
    error: str | None = None
    done_steps: frozenset[str] = field(default_factory=frozenset)
    throughput: float | None = None
    freeze_started_at: str | None = None
    freeze_seconds: float | None = None
    cutover_at: str | None = None
    rolled_back_at: str | None = None
    decommissioned_at: str | None = None
    verify_cursor: int = 0


@dataclass(frozen=True)
class CopiedObject:
    """What the ledger knows of an object it counts as copied."""

    id: int
    key: str
    size: int
    sha256: str | None
    source_md5: str | None
    target_etag: str | None
    proof: str | None
    target_modified: str | None = None
    target_sse: str | None = None


class VerifyLedger(Protocol):
    def copied_after(self, service: str, after: str | None, limit: int) -> list[CopiedObject]:
        """Copied objects in UTF-8 byte order of key, after ``after``."""
        ...

    def copied_slice(self, service: str, offset: int, limit: int) -> list[CopiedObject]:
        """Copied objects by id, from ``offset`` (for rotating samples)."""
        ...

    def copied_count(self, service: str) -> int: ...

    def not_copied(self, service: str, limit: int) -> list[tuple[str, str, str | None]]:
        """(key, status, last error) of listed objects not copied (pending or failed)."""
        ...

    def known(self, service: str, keys: Sequence[str]) -> dict[str, KnownObject]:
        """What the ledger holds for these keys (any status)."""
        ...


class UploadJournal(Protocol):
    """Where the multipart uploads in flight are written down, so that a later attempt resumes
    them from the parts the target lists (the ledger; in memory on a dask worker)."""

    def record_upload(self, service: str, key: str, upload_id: str, part_size: int) -> None: ...

    def upload_of(self, service: str, key: str) -> tuple[str, int] | None: ...

    def forget_upload(self, service: str, key: str) -> None: ...


@dataclass(frozen=True)
class HookProcess:
    """A hook a run started and has not seen end: its process group (``pid`` leads it)."""

    service: str
    step: str
    run_id: str
    host: str
    pid: int
    pid_start: str | None
    started_at: str


class HookJournal(Protocol):
    """Where the hooks in flight are written down, so that a later run does not start the
    same hook again while the one a crashed run left behind still runs."""

    def hook_started(self, hook: HookProcess) -> None: ...

    def hook_ended(self, service: str, step: str, run_id: str) -> None: ...

    def hook_running(self, service: str, step: str) -> HookProcess | None:
        """The hook of that step recorded as started and not ended, by any run."""
        ...


class Ledger(VerifyLedger, UploadJournal, HookJournal, Protocol):
    def service(self, name: str) -> ServiceRecord: ...

    def set_service_state(
        self, name: str, state: ServiceState, step: str | None, error: str | None = None
    ) -> None: ...

    def step_started(self, run_id: str, service: str, step: str) -> None: ...

    def step_finished(
        self, run_id: str, service: str, step: str, status: StepStatus, detail: str | None = None
    ) -> None: ...

    def is_approved(self, service: str, step: str) -> bool: ...

    def begin_listing(self, service: str) -> int:
        """Start (or resume) a listing pass; returns its generation number."""
        ...

    def ingest_listing(
        self, service: str, generation: int, objects: Sequence[ObjectInfo], next_marker: str | None
    ) -> ListingCounts: ...

    def finish_listing(self, service: str) -> None: ...

    def fail_objects(self, service: str, failures: Sequence[tuple[str, str]]) -> None:
        """Mark objects (by key) failed with a reason that no retry will fix."""
        ...

    def claim(self, service: str, limit: int, generation: int | None = None) -> list[ObjectTask]:
        """Pending rows, claimed (-> copying). With ``generation``: only rows that listing
        pass has listed (a pass still running never lists them again, so no copy of a row
        races its upsert)."""
        ...

    def record_results(
        self, results: Sequence[CopyResult], events: Sequence[AuditEvent] = ()
    ) -> None: ...

    def audit(self, events: Sequence[AuditEvent]) -> None: ...

    def counts(self, service: str) -> ObjectCounts: ...

    def pending_bytes(self, service: str) -> tuple[int, int]:
        """(objects, bytes) still to copy."""
        ...

    def retire_unlisted(self, service: str, generation: int) -> list[str]:
        """After a complete listing: rows it did not see. Those never copied are retired at
        once; the keys of those copied are returned (deleted at the source)."""
        ...

    def mark_deleted(self, service: str, keys: Sequence[str]) -> None: ...

    def unlisted_copied(self, service: str, generation: int) -> int:
        """Copied objects the complete listing ``generation`` did not see (read only)."""
        ...

    def hold_deletions(self, service: str) -> None:
        """Record that a sync stopped before a mass deletion (earlier approvals lapse)."""
        ...

    def deletions_approved(self, service: str) -> bool: ...

    def release_deletion_hold(self, service: str) -> None: ...

    def set_throughput(self, service: str, bytes_per_second: float) -> None: ...

    def freeze_started(self, service: str, budget_seconds: int | None) -> None: ...

    def freeze_finished(self, service: str) -> float | None:
        """Record the end of the write freeze; returns its length in seconds."""
        ...

    def record_verification(
        self, service: str, level: str, checked: int, differences: int, summary: str
    ) -> None: ...

    def set_verify_cursor(self, service: str, cursor: int) -> None: ...

    def rolled_back(self, service: str, steps_to_redo: Sequence[str]) -> None: ...

    def revoke_approval(self, service: str, step: str) -> None: ...

    def approval_time(self, service: str, step: str) -> str | None: ...

    def database_progress(self, service: str) -> dict[str, Any] | None:
        """What a database service recorded of its replication (tables, rows, lag, names)."""
        ...

    def set_database_progress(self, service: str, progress: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class RecordedRoute:
    """The route a state database holds for a service, and whether work was recorded."""

    name: str
    route: dict[str, str | None] | None
    """None for a row of schema 4, which knew only its container and bucket."""
    container: str | None
    bucket: str | None
    worked: bool
    """A step of it is done or the ledger holds objects of it."""
    wave: int | None = None
    """The wave of the plan applied last, as the ledger recorded it."""


@dataclass(frozen=True)
class KnownObject:
    etag: str | None
    size: int
    status: ObjectStatus


class LedgerReader(Protocol):
    """The read-only queries a rehearsal needs."""

    def known(self, service: str, keys: Sequence[str]) -> dict[str, KnownObject]: ...

    def service(self, name: str) -> ServiceRecord: ...

    def is_approved(self, service: str, step: str) -> bool: ...

    def done_count(self, service: str) -> tuple[int, int]:
        """(objects, bytes) recorded as done for the service."""
        ...
