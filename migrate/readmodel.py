"""What the read side of the ledger gives status, the dashboard, the report and the evidence
files: plain records (leaf layer), filled by ``state`` and rendered by ``migrate.views``."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ServiceProgress:
    name: str
    wave: int
    kind: str
    project: str | None
    state: str
    step: str | None
    error: str | None
    objects_total: int
    objects_done: int
    objects_failed: int
    bytes_total: int
    bytes_done: int
    updated_at: str
    freeze_seconds: float | None = None
    freeze_budget_seconds: int | None = None
    freeze_started_at: str | None = None
    cutover_at: str | None = None
    decommissioned_at: str | None = None
    step_started_at: str | None = None
    """When the running step started (None unless the service is running)."""
    bytes_since_step: int = 0
    """Bytes of the objects done since the running step started."""
    objects_since_step: int = 0
    """Objects done since the running step started."""
    last_verify: dict[str, object] | None = None
    """The last verification: ``at``, ``level``, ``against``, ``differences``."""
    database: dict[str, object] | None = None
    """A database service's replication: ``tables_total``, ``tables_ready``, ``rows``,
    ``lag_bytes``, ``method`` and the names of what it created."""


@dataclass(frozen=True)
class StepRow:
    service: str
    step: str
    status: str
    attempts: int
    started_at: str | None
    ended_at: str | None
    detail: str | None


@dataclass(frozen=True)
class ApprovalRow:
    """A gate open now: who opened it, when."""

    service: str
    step: str
    operator: str
    approved_at: str


@dataclass(frozen=True)
class EvidenceRow:
    wave: int
    path: str
    sha256: str
    recorded_at: str


@dataclass(frozen=True)
class LedgerSnapshot:
    """One consistent read of the ledger for status and its views."""

    services: list[ServiceProgress]
    series: list[tuple[str, int, int]] = field(default_factory=list)
    failures: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    steps: list[StepRow] = field(default_factory=list)
    proofs: dict[str, dict[str, int]] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    evidence: list[EvidenceRow] = field(default_factory=list)
    approvals: list[ApprovalRow] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ObjectReportRow:
    """One object of the ledger as ``migrate report --objects`` writes it (the column names and
    their meaning: ``migrate.views.object_report.COLUMNS``). Times are the ledger's ISO UTC
    strings; the hashes, target fields and proof are those of the last copy checked."""

    service: str
    key: str
    size: int
    status: str
    proof: str | None
    sha256: str | None
    md5: str | None
    source_md5: str | None
    source_etag: str | None
    target_etag: str | None
    target_version: str | None
    target_encryption: str | None
    source_last_modified: str | None
    target_last_modified: str | None
    updated_at: str
    attempts: int
    retries: int
    last_error: str | None
