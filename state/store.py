"""The ledger: one SQLAlchemy engine behind small repositories by concern, each its own module
and each a Protocol of ``migrate.repositories`` that the commands depend on:

- ``state.plans``: plans, routes and runs;
- ``state.locks``: the apply lock;
- ``state.services``: services, steps and approval gates;
- ``state.object_records``: listings, claims, results, uploads;
- ``state.object_report``: the object rows page by page, for ``migrate report --objects``;
- ``state.evidence_records``: verifications, probes, evidence files;
- ``state.hook_processes``: the hooks in flight (their process groups);
- ``state.audit_log``: the hash-chained audit log;
- ``state.readside``: the read-only snapshot that status and its views render;
- ``state.settings``: what an operator changes for a running apply (its bandwidth limit).

A process-wide mutex serialises this process's threads on the one writer connection; readers
(status, dashboard) open their own engine.
"""

from __future__ import annotations

from state import engine as engines
from state.audit_log import AuditLog
from state.evidence_records import EvidenceRecords
from state.hook_processes import HookRecords
from state.locks import LOCK_NAME, LockRecords
from state.object_records import ObjectRecords
from state.object_report import ObjectReportRecords
from state.plans import PlanRecords
from state.readside import ReadSide
from state.services import ServiceRecords
from state.settings import SettingRecords

__all__ = ["LOCK_NAME", "Store"]


class Store(
    PlanRecords,
    LockRecords,
    ServiceRecords,
    ObjectRecords,
    ObjectReportRecords,
    EvidenceRecords,
    HookRecords,
    AuditLog,
    ReadSide,
    SettingRecords,
):
    """The composition of the repositories over one engine."""

    @classmethod
    def open(cls, url: str, *, readonly: bool = False) -> Store:
        return cls(engines.create(url, readonly=readonly))
