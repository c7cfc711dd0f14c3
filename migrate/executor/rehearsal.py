"""``apply --dry-run``: what a run would do, computed from a real listing and the ledger.

This is the one choke point of dry runs: it reads the source (listings only) and the ledger,
never calls the target, never runs a hook, and changes nothing but the rehearsal record that
the command writes. Adapters never see a dry-run flag.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from migrate.databases import DatabaseConnector
from migrate.errors import MigrateError
from migrate.ledger import LedgerReader
from migrate.model import Plan, PlannedService
from migrate.objectrules import object_problem
from migrate.ports import SourceStore, TargetCapabilities


@dataclass
class ServiceRehearsal:
    name: str
    wave: int
    kind: str
    copy_objects: int = 0
    copy_bytes: int = 0
    skip_objects: int = 0
    skip_bytes: int = 0
    delete_objects: int = 0
    excluded_objects: int = 0
    """Listed at the source, left out by ``data.include``/``data.exclude``."""
    excluded_bytes: int = 0
    blocked: list[tuple[str, str]] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    """Hooks of the steps still to run (rollback and decommission hooks are not apply's)."""
    approvals: list[str] = field(default_factory=list)
    """Gates on the steps still to run; an open one says ``(approved)``."""
    state: str = "pending"
    database: bool = False
    """A database service: its objects are tables, its bytes the source database's size."""
    method: str | None = None
    """A database service: the method prepare would take (None: it would refuse)."""

    @property
    def changes(self) -> bool:
        """Something would be done: objects copied or deleted, or steps still to run."""
        return bool(self.copy_objects or self.delete_objects or self.steps)


@dataclass
class Rehearsal:
    services: list[ServiceRehearsal]
    bandwidth: float

    @property
    def copy_objects(self) -> int:
        return sum(s.copy_objects for s in self.services)

    @property
    def copy_bytes(self) -> int:
        return sum(s.copy_bytes for s in self.services)

    @property
    def skip_objects(self) -> int:
        return sum(s.skip_objects for s in self.services)

    @property
    def delete_objects(self) -> int:
        return sum(s.delete_objects for s in self.services)

    @property
    def blocked(self) -> int:
        return sum(len(s.blocked) for s in self.services)

    @property
    def changes(self) -> bool:
        return any(s.changes for s in self.services)

    @property
    def eta_seconds(self) -> int:
        return math.ceil(self.copy_bytes / self.bandwidth)

    def summary(self) -> dict[str, object]:
        return {
            "copy_objects": self.copy_objects,
            "copy_bytes": self.copy_bytes,
            "skip_objects": self.skip_objects,
            "delete_objects": self.delete_objects,
            "blocked_objects": self.blocked,
            "eta_seconds": self.eta_seconds,
            "services": {
                s.name: {
                    "copy_objects": s.copy_objects,
                    "copy_bytes": s.copy_bytes,
                    "skip_objects": s.skip_objects,
                    "delete_objects": s.delete_objects,
                    "blocked_objects": len(s.blocked),
                    "excluded_objects": s.excluded_objects,
                    "steps": s.steps,
                    **({"method": s.method} if s.method else {}),
                }
                for s in self.services
            },
        }


def rehearse(
    plan: Plan,
    selected: list[str],
    source: SourceStore,
    ledger: LedgerReader,
    capabilities: TargetCapabilities,
    databases: DatabaseConnector | None = None,
    bandwidth: float | None = None,
) -> Rehearsal:
    """``databases``: a database service's source is inspected read-only (its tables count
    as the objects to copy, its size as the bytes, what prepare would refuse as blocked).
    ``bandwidth``: the rate the estimate assumes (default: the plan's)."""
    result = Rehearsal([], bandwidth or plan.policy.bandwidth)
    for name in selected:
        planned = plan.services[name]
        record = ledger.service(name)
        steps = [s for s in planned.steps if s not in record.done_steps]
        entry = ServiceRehearsal(
            name,
            planned.wave,
            planned.kind,
            steps=steps,
            hooks=[s for s in steps if s in planned.hooks],
            approvals=[
                gate if not ledger.is_approved(name, gate) else f"{gate} (approved)"
                for gate in planned.approval
                if gate in steps
            ],
            state=record.state,
        )
        if planned.database is not None and databases is not None and steps:
            _database(entry, planned, databases)
        elif planned.container is not None and not steps:
            entry.skip_objects, entry.skip_bytes = ledger.done_count(name)  # done: apply skips it
        elif planned.container is not None:
            _objects(entry, planned, planned.container, source, ledger, capabilities)
        result.services.append(entry)
    return result


def _database(entry: ServiceRehearsal, planned: PlannedService, connect: DatabaseConnector) -> None:
    from migrate.kinds.database import rehearse_database

    if planned.database is None:
        return
    try:
        pair = connect(entry.name, planned.database)
        found, method, problems = rehearse_database(planned, pair)
    except MigrateError as error:  # a variable not set, a URL refused, no connection
        entry.database = True
        entry.blocked.append((entry.name, f"the databases cannot be inspected: {error}"))
        return
    entry.database = True
    entry.copy_objects = len(found.tables)
    entry.copy_bytes = found.source_bytes
    entry.method = method
    entry.blocked += [(entry.name, problem) for problem in problems]


def _objects(
    entry: ServiceRehearsal,
    planned: PlannedService,
    container: str,
    source: SourceStore,
    ledger: LedgerReader,
    capabilities: TargetCapabilities,
) -> None:
    marker: str | None = None
    matched_done = 0
    keep = planned.key_filter
    while True:
        page = source.list_page(container, planned.prefix, marker)
        kept, left_out = keep.split(page.objects)
        entry.excluded_objects += len(left_out)
        entry.excluded_bytes += sum(o.size for o in left_out)
        known = ledger.known(entry.name, [o.key for o in kept])
        for obj in kept:
            problem = object_problem(
                obj.key, obj.size, obj.tier, obj.attributes.metadata, capabilities
            )
            row = known.get(obj.key)
            if problem:
                entry.blocked.append((obj.key, problem))
            elif (
                row is not None
                and row.status == "done"
                and (row.etag, row.size) == (obj.etag, obj.size)
            ):
                entry.skip_objects += 1
                entry.skip_bytes += obj.size
            else:
                entry.copy_objects += 1
                entry.copy_bytes += obj.size
            if row is not None and row.status == "done":
                matched_done += 1
        if page.next_marker is None:
            break
        marker = page.next_marker
    if planned.propagate_deletes:
        entry.delete_objects = ledger.done_count(entry.name)[0] - matched_done
