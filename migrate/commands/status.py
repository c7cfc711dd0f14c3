"""``migrate status``, ``approve`` and ``unlock``: read and small writes on the ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from migrate.audit import AuditEvent
from migrate.commands.bandwidth import running_limit
from migrate.config import COMMAND_HOOKS
from migrate.errors import InvalidInput
from migrate.ledger import LockInfo, ServiceRecord
from migrate.model import Plan
from migrate.processes import process_alive
from migrate.readmodel import ApprovalRow, EvidenceRow, ServiceProgress, StepRow
from migrate.repositories import GateStore, StatusStore
from migrate.suggest import did_you_mean
from migrate.timeutil import parse_iso

STALE_HEARTBEAT_SECONDS = 60
ISO = "%Y-%m-%dT%H:%M:%S.%fZ"


SERIES_HOURS = 24


@dataclass(frozen=True)
class StatusReport:
    """One snapshot of the ledger: every view (table, JSON, dashboard, report, metrics) of it."""

    plan_sha256: str | None
    inventory_sha256: str | None
    waves: int | None
    lock: LockInfo | None
    services: list[ServiceProgress]
    plan: Plan | None = None
    rates: dict[str, float] = field(default_factory=dict)
    """Bytes per second of each service copying (see ``copy_rates``)."""
    object_rates: dict[str, float] = field(default_factory=dict)
    """Objects per second of each service copying, over the same window."""
    series: list[tuple[str, int, int]] = field(default_factory=list)
    failures: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    steps: list[StepRow] = field(default_factory=list)
    proofs: dict[str, dict[str, int]] = field(default_factory=dict)
    retries: dict[str, int] = field(default_factory=dict)
    evidence: list[EvidenceRow] = field(default_factory=list)
    approvals: list[ApprovalRow] = field(default_factory=list)
    taken_at: str = ""
    bandwidth: dict[str, Any] | None = None
    """The bandwidth limit the running apply holds (``bytes_per_s`` None: off), None when no
    apply runs or it holds none."""
    holder_gone: bool = False
    """The lock's holder ran on this host and its process is gone (killed, a crash): nothing
    is copying, whatever the ledger's last word."""

    @property
    def limit(self) -> float | None:
        """Bytes per second the running apply may read, None when it is not limited."""
        if self.bandwidth is None:
            return None
        rate = self.bandwidth.get("bytes_per_s")
        return float(rate) if isinstance(rate, int | float) and rate > 0 else None

    def _pace(self) -> float:
        """How much faster than measured the copy goes on: under a limit, at the limit (the
        measured rates lag it: they count only objects done), shared by the copying services
        in the proportions they were measured at; objects go at the same pace as bytes."""
        limit, total = self.limit, sum(self.rates.values())
        if limit is None or total <= 0:
            return 1.0
        return limit / total

    def eta_seconds(self, service: ServiceProgress) -> float | None:
        """Seconds left at the service's rates; None unless it is copying at a known rate.
        The longer of the bytes left at its byte rate and the objects left at its object
        rate: many small objects take their time whatever their bytes."""
        rate = self.rates.get(service.name)
        if rate is None or rate <= 0:
            return None
        pace = self._pace()
        return _longest(
            (service.bytes_total - service.bytes_done, rate * pace),
            (_objects_left(service), self.object_rates.get(service.name, 0.0) * pace),
        )

    def frozen_for(self, service: ServiceProgress) -> float | None:
        """Seconds the write freeze in progress has lasted; None when not frozen."""
        since = frozen_since(service)
        if since is None or not self.taken_at:
            return None
        return max(0.0, (parse_iso(self.taken_at) - parse_iso(since)).total_seconds())

    @property
    def frozen(self) -> list[ServiceProgress]:
        """Services whose writes are frozen now, longest first."""
        found = [s for s in self.services if self.frozen_for(s) is not None]
        return sorted(found, key=lambda s: -(self.frozen_for(s) or 0.0))

    def rate(self, service: ServiceProgress) -> float | None:
        """Bytes per second over the service's active copy time; None when not copying."""
        return self.rates.get(service.name)

    @property
    def total_rate(self) -> float:
        return sum(self.rates.values())

    @property
    def eta_total(self) -> float | None:
        if not self.services:
            return None
        left = sum(s.bytes_total - s.bytes_done for s in self.services)
        if left <= 0:
            return 0.0
        if self.total_rate <= 0:
            return None
        objects = sum(_objects_left(s) for s in self.services)
        pace = self._pace()
        return _longest(
            (left, self.total_rate * pace), (objects, sum(self.object_rates.values()) * pace)
        )

    def heartbeat_age(self, now: datetime | None = None) -> float | None:
        if self.lock is None:
            return None
        moment = now or datetime.now(UTC)
        return (moment - parse_iso(self.lock.heartbeat_at)).total_seconds()

    def to_json(self) -> dict[str, Any]:
        age = self.heartbeat_age()
        lock = None
        if self.lock is not None:
            lock = {
                "run": self.lock.run_id,
                "host": self.lock.host,
                "pid": self.lock.pid,
                "operator": self.lock.operator,
                "started_at": self.lock.started_at,
                "heartbeat_at": self.lock.heartbeat_at,
                "stale": self.holder_gone or (age is not None and age > STALE_HEARTBEAT_SECONDS),
                "alive": not self.holder_gone
                and not (age is not None and age > STALE_HEARTBEAT_SECONDS),
                "bandwidth_limit": self.bandwidth,
            }
        return {
            "plan": {
                "inventory_sha256": self.inventory_sha256,
                "plan_sha256": self.plan_sha256,
                "waves": self.waves,
            }
            if self.plan_sha256
            else None,
            "lock": lock,
            "services": {
                s.name: {
                    "wave": s.wave,
                    "state": s.state,
                    "step": s.step,
                    "kind": s.kind,
                    "project": s.project,
                    "objects_total": s.objects_total,
                    "objects_done": s.objects_done,
                    "objects_failed": s.objects_failed,
                    "bytes_total": s.bytes_total,
                    "bytes_done": s.bytes_done,
                    "error": s.error,
                    "frozen_since": frozen_since(s),
                    "rate_bytes_per_s": self.rate(s),
                    "eta_seconds": self.eta_seconds(s),
                    "last_verify": s.last_verify,
                    **database_fields(s),
                }
                for s in self.services
            },
        }


def database_fields(service: ServiceProgress) -> dict[str, object]:
    """A database service's rows and replication lag (its objects are its tables)."""
    database = service.database
    if database is None:
        return {}
    return {
        "rows_done": database.get("rows", 0),
        "replication_lag_bytes": database.get("lag_bytes"),
        "replication_lag_seconds": database.get("lag_seconds"),
        "method": database.get("method"),
        "replication": database.get("resources"),
    }


def status(store: StatusStore, *, detail: bool = True) -> StatusReport:
    """Read the ledger once (never write); ``detail`` adds what the dashboard shows."""
    latest = store.latest_plan() or store.any_plan()
    now = datetime.now(UTC)
    since = (now - timedelta(hours=SERIES_HOURS)).strftime(ISO) if detail else None
    snapshot = store.snapshot(since)
    plan = latest[1] if latest else None
    lock = store.lock_info()
    gone = lock is not None and process_alive(lock.host, lock.pid, lock.pid_start) is False
    live = lock is not None and not gone and not _stale(lock, now)
    return StatusReport(
        plan_sha256=latest[0] if latest else None,
        inventory_sha256=plan.inventory_sha256 if plan else None,
        waves=len(plan.waves) if plan else None,
        lock=lock,
        services=snapshot.services,
        plan=plan,
        # no run alive, nothing copies: no rate, no ETA, whatever the ledger's last word
        rates=copy_rates(snapshot.services, now) if live else {},
        object_rates=copy_rates(snapshot.services, now, objects=True) if live else {},
        series=snapshot.series,
        failures=snapshot.failures,
        steps=in_plan_order(plan, snapshot.steps),
        proofs=snapshot.proofs,
        retries=snapshot.retries,
        evidence=snapshot.evidence,
        approvals=snapshot.approvals,
        taken_at=now.strftime(ISO),
        bandwidth=running_limit(store) if live else None,
        holder_gone=gone,
    )


def _stale(lock: LockInfo, now: datetime) -> bool:
    return (now - parse_iso(lock.heartbeat_at)).total_seconds() > STALE_HEARTBEAT_SECONDS


def in_plan_order(plan: Plan | None, rows: list[StepRow]) -> list[StepRow]:
    """Each service's steps in the order its plan runs them (a step run again after a
    rollback stays in its place), services as the ledger lists them."""
    position: dict[tuple[str, str], int] = {}
    if plan is not None:
        for name, planned in plan.services.items():
            position.update(((name, step), index) for index, step in enumerate(planned.steps))
    first = {row.service: index for index, row in reversed(list(enumerate(rows)))}
    return sorted(
        rows,
        key=lambda r: (first[r.service], position.get((r.service, r.step), 99), r.started_at or ""),
    )


def nothing_applied() -> StatusReport:
    """The report of a ledger that does not exist yet: no plan applied, nothing running."""
    return StatusReport(
        plan_sha256=None,
        inventory_sha256=None,
        waves=None,
        lock=None,
        services=[],
        taken_at=datetime.now(UTC).strftime(ISO),
    )


def frozen_since(service: ServiceProgress) -> str | None:
    """When the write freeze began, while it lasts (it ends at validate or a rollback)."""
    if service.freeze_started_at is None or service.freeze_seconds is not None:
        return None
    return None if service.state == "rolled-back" else service.freeze_started_at


def _objects_left(service: ServiceProgress) -> int:
    return max(0, service.objects_total - service.objects_done - service.objects_failed)


def _longest(*works: tuple[float, float]) -> float:
    """The longest of (work left, rate) pairs, each at its rate (a pair without a rate
    counts for nothing)."""
    return max(max(0.0, left) / rate if rate > 0 else 0.0 for left, rate in works)


def copy_rates(
    services: list[ServiceProgress], now: datetime, *, objects: bool = False
) -> dict[str, float]:
    """One definition of throughput for every view: the bytes (or, with ``objects``, the
    objects) a service copied since its running copy step began, over that step's elapsed
    time; only for services copying."""
    rates: dict[str, float] = {}
    for service in services:
        if service.state != "running" or service.step_started_at is None:
            continue
        if service.step not in kind_steps_copying(service.kind):
            continue
        elapsed = (now - parse_iso(service.step_started_at)).total_seconds()
        if elapsed > 0:
            done = service.objects_since_step if objects else service.bytes_since_step
            rates[service.name] = done / elapsed
    return rates


def kind_steps_copying(name: str) -> tuple[str, ...]:
    from migrate.kinds import KINDS

    spec = KINDS.get(name)
    return spec.copy_steps if spec is not None else ()


def open_gates(plan: Plan, service: str, record: ServiceRecord) -> set[str]:
    """The steps an approval of this service can open: its declared gates, decommission
    (always approved), the sync when deletions may stop for one, the cutover when a freeze
    budget may run out, and the step it waits at now."""
    planned = plan.services[service]
    gates = {*planned.approval, "decommission"}
    if planned.propagate_deletes:
        gates.add("sync")
    if planned.max_downtime_seconds is not None:
        gates.add("cutover")
    if record.state == "waiting-approval" and record.step is not None:
        gates.add(record.step)
    return gates


def approve(store: GateStore, service: str, step: str, operator: str) -> bool:
    """Open the gate; False when it was already open. Refuses unknown services and steps."""
    latest = store.latest_plan() or store.any_plan()
    if latest is None:
        raise InvalidInput("no plan has been applied to this state database yet")
    plan = latest[1]
    if service not in plan.services:
        raise InvalidInput(
            f"service '{service}' is not in the applied plan{did_you_mean(service, plan.services)}"
        )
    steps = [*plan.services[service].steps, *COMMAND_HOOKS]
    if step not in steps:
        raise InvalidInput(
            f"'{step}' is not a step of {service} ({', '.join(steps)}){did_you_mean(step, steps)}"
        )
    gates = open_gates(plan, service, store.service(service))
    if step not in gates:
        raise InvalidInput(
            f"{service} has no approval gate at '{step}' (its gates: {', '.join(sorted(gates))}): "
            "nothing would wait for this approval. Gates come from the service's `approval:` "
            "in the inventory, or from a step that stopped to ask"
        )
    opened = store.approve(service, step, operator)
    if opened:
        store.audit(
            [AuditEvent("approval", f"{service} {step}", project=plan.services[service].project)]
        )
    return opened
