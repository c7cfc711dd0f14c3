"""``migrate verify``, ``rollback`` and ``decommission``: after the copy, on the applied plan."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from migrate.audit import AuditEvent
from migrate.commands.evidence import wave_evidence, write_evidence
from migrate.commands.loading import LoadedPlan
from migrate.databases import DatabaseConnector
from migrate.errors import InvalidInput, MigrateError, RefusedForSafety
from migrate.executor.orphans import HookCall, run_recorded_hook, settle_earlier_hook
from migrate.executor.retry import RetryPolicy
from migrate.executor.rollback import roll_back
from migrate.executor.verify import (
    LeftOut,
    VerifyReport,
    compare_planned,
    record_verification,
    verify_service,
)
from migrate.kinds import kind
from migrate.kinds.base import StepFailed
from migrate.ledger import LockInfo
from migrate.ports import SourceStore, TargetStore
from migrate.repositories import LifecycleStore
from migrate.timeutil import now_iso, seconds_since
from migrate.units import format_bytes


@dataclass
class VerifyResult:
    reports: list[VerifyReport] = field(default_factory=list)
    evidence: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(report.ok for report in self.reports)


AGAINST = ("source", "ledger")


def verify(
    loaded: LoadedPlan,
    store: LifecycleStore,
    target: TargetStore,
    services: list[str],
    *,
    level: str,
    sample_pct: float | None,
    policy: RetryPolicy,
    evidence_dir: Path,
    run_id: str,
    source: SourceStore | None = None,
    against: str = "source",
) -> VerifyResult:
    """Compare the target with the current source listing (``against="source"``: each
    difference says whether the source changed, added or deleted the object since its copy,
    or the target lost or altered it), or only with what was copied (``against="ledger"``).
    Every run is recorded and is an audit event, whatever it found."""
    if against not in AGAINST:
        raise InvalidInput(f"--against {against}: choose source or ledger")
    if against == "source" and source is None:
        raise InvalidInput("verifying against the source needs the source")
    plan = loaded.plan
    stores = [n for n, s in plan.services.items() if s.bucket is not None]
    unknown = [n for n in services if n not in plan.services]
    if unknown:
        raise InvalidInput(f"not in the applied plan: {', '.join(unknown)}")
    not_stores = [n for n in services if n not in stores]
    if not_stores:
        raise InvalidInput(f"not object stores, nothing to verify: {', '.join(not_stores)}")
    chosen = services or stores
    if sample_pct is not None and not 0 < sample_pct <= 100:
        raise InvalidInput(f"--sample {sample_pct}: give a percentage above 0, at most 100")
    result = VerifyResult()
    for name in chosen:
        bucket = plan.services[name].bucket
        if bucket is None:
            continue
        record = store.service(name)
        report = verify_service(
            name,
            bucket,
            store,
            target,
            level=level,
            sample_pct=sample_pct,
            cursor=record.verify_cursor,
            policy=policy,
            encrypted=plan.target is None or plan.target.encryption != "none",
            keep=plan.services[name].key_filter,
            prefix=plan.services[name].prefix,
        )
        if report.next_cursor is not None:
            store.set_verify_cursor(name, report.next_cursor)
        planned = plan.services[name]
        if against == "source" and source is not None and planned.container is not None:
            report.differences += compare_planned(name, planned, store, source, policy=policy)
            report.against = "source"
        record_verification(store, name, planned.project, report, run_id, "verify")
        result.reports.append(report)
    waves = sorted({plan.services[n].wave for n in chosen})
    for wave in waves:
        names = [n for n in chosen if plan.services[n].wave == wave]
        data = wave_evidence(store, loaded, wave, names, run_id, kind="verify")
        data["verify"] = {r.service: r.summary() for r in result.reports if r.service in names}
        result.evidence.append(write_evidence(store, evidence_dir, data)[0])
    return result


def _dependents_cut_over(loaded: LoadedPlan, store: LifecycleStore, name: str) -> list[str]:
    found = []
    for other, planned in loaded.plan.services.items():
        if name in planned.depends_on and other != name:
            record = store.service(other)
            if "cutover" in record.done_steps and record.state != "rolled-back":
                found.append(other)
    return found


def rollback(
    loaded: LoadedPlan,
    store: LifecycleStore,
    name: str,
    *,
    cascade: bool,
    run_id: str,
    state_url: str,
    hook_timeout: float,
    lock: LockInfo,
    holder_alive: Callable[[LockInfo], bool | None],
    databases: DatabaseConnector | None = None,
) -> list[tuple[str, str]]:
    """Roll back ``name`` (and, with cascade, its cut-over dependents first)."""
    if name not in loaded.plan.services:
        raise InvalidInput(f"service '{name}' is not in the applied plan")
    order = rollback_order(loaded, store, name, cascade)
    store.acquire_lock(lock, holder_alive=holder_alive)
    done: list[tuple[str, str]] = []
    try:
        for service in order:
            record = store.service(service)
            detail = roll_back(
                store,
                service,
                loaded.plan.services[service],
                wave=record.wave,
                run_id=run_id,
                state_url=state_url,
                hook_timeout=hook_timeout,
                reason=f"`migrate rollback {name}`",
                databases=databases,
            )
            done.append((service, detail))
    except StepFailed as failure:
        raise RefusedForSafety(f"rollback stopped: {failure}") from None
    finally:
        store.release_lock(lock.run_id)
    return done


def rollback_order(
    loaded: LoadedPlan, store: LifecycleStore, name: str, cascade: bool
) -> list[str]:
    record = store.service(name)
    if record.decommissioned_at is not None:
        raise RefusedForSafety(
            f"{name} was decommissioned on {record.decommissioned_at}: there is no source "
            "side to roll back to"
        )
    if record.state == "rolled-back":
        raise RefusedForSafety(f"{name} is already rolled back")
    replicating = bool((store.database_progress(name) or {}).get("resources")) and not (
        store.database_progress(name) or {}
    ).get("removed")
    if record.freeze_started_at is None and "cutover" not in record.done_steps and not replicating:
        raise RefusedForSafety(f"{name} has not been frozen or cut over: nothing to roll back")
    order: list[str] = []
    pending = [name]
    while pending:
        current = pending.pop()
        dependents = _dependents_cut_over(loaded, store, current)
        if dependents and not cascade:
            cycle = _cycle_of(loaded, current)
            if cycle and set(dependents) <= cycle:
                raise RefusedForSafety(
                    f"{current} is in a cycle with {', '.join(sorted(cycle - {current}))}: "
                    "they depend on each other and were cut over as one unit, so they roll "
                    f"back together: `migrate rollback {name} --cascade`"
                )
            verb = "depends" if len(dependents) == 1 else "depend"
            raise RefusedForSafety(
                f"{', '.join(dependents)} {verb} on {current} and "
                f"{'is' if len(dependents) == 1 else 'are'} cut over: roll "
                f"{'it' if len(dependents) == 1 else 'them'} back first, or use --cascade"
            )
        order.append(current)
        pending.extend(d for d in dependents if d not in order)
    return _dependents_first(loaded, order)


def _cycle_of(loaded: LoadedPlan, name: str) -> set[str]:
    """The other members of the cycle (planned unit) ``name`` is in, with it; empty if none."""
    for unit in loaded.plan.units:
        if name in unit.services:
            return set(unit.services)
    return set()


def _dependents_first(loaded: LoadedPlan, names: list[str]) -> list[str]:
    """Later waves first; in a wave, the reverse of the execution order."""
    position = {n: (w.index, i) for w in loaded.plan.waves for i, n in enumerate(w.services)}
    return sorted(set(names), key=lambda n: position[n], reverse=True)


@dataclass(frozen=True)
class DecommissionResult:
    service: str
    detail: str
    verified: str = ""
    """What the verification made right before the retirement found."""


def decommission(
    loaded: LoadedPlan,
    store: LifecycleStore,
    name: str,
    *,
    source: SourceStore,
    target: TargetStore,
    policy: RetryPolicy,
    run_id: str,
    state_url: str,
    hook_timeout: float,
    lock: LockInfo,
    holder_alive: Callable[[LockInfo], bool | None],
    confirm: Callable[[str], None] | None = None,
    databases: DatabaseConnector | None = None,
    discard_left_out: bool = False,
) -> DecommissionResult:
    """Retire the source side, irreversibly: under the state lock, the service is verified
    again (hash level or deeper, every object HEADed, the target against the current source
    listing) right before the decommission hook runs; any difference refuses (exit 3). A
    verification on record, however recent, is not enough: the target may have changed.
    Source objects the service's filter leaves out were never copied: retiring the source
    would lose them, so they refuse too unless ``discard_left_out`` says they may go."""
    if name not in loaded.plan.services:
        raise InvalidInput(f"service '{name}' is not in the applied plan")
    refusals = _decommission_refusals(loaded, store, name)
    if refusals:
        raise RefusedForSafety(f"{name} cannot be decommissioned: " + "; ".join(refusals))
    if confirm is not None:
        hook = loaded.plan.services[name].hook("decommission")
        confirm(
            f"Decommission {name}, irreversibly: verify it again against the source, then "
            + (f"run its decommission hook ({hook})" if hook else "record it (no hook)")
        )
    store.acquire_lock(lock, holder_alive=holder_alive)
    try:
        verified = _verify_before_retiring(
            loaded, store, name, source, target, policy, run_id, discard_left_out
        )
        verified = _untie(loaded, store, name, databases) or verified
        detail = _retire(loaded, store, name, run_id, state_url, hook_timeout)
    finally:
        store.release_lock(lock.run_id)
    return DecommissionResult(name, detail, verified)


def _verify_before_retiring(
    loaded: LoadedPlan,
    store: LifecycleStore,
    name: str,
    source: SourceStore,
    target: TargetStore,
    policy: RetryPolicy,
    run_id: str,
    discard_left_out: bool = False,
) -> str:
    planned = loaded.plan.services[name]
    if planned.container is None or planned.bucket is None:
        return "no data to verify (not an object store)"
    left_out = LeftOut()
    level = "deep" if planned.verify == "deep" else "hash"
    report = verify_service(
        name,
        planned.bucket,
        store,
        target,
        level=level,
        policy=policy,
        encrypted=loaded.plan.target is None or loaded.plan.target.encryption != "none",
        keep=planned.key_filter,
        prefix=planned.prefix,
    )
    report.differences += compare_planned(
        name, planned, store, source, policy=policy, left_out=left_out
    )
    report.against = "source"
    record_verification(store, name, planned.project, report, run_id, "decommission")
    if left_out.count and not discard_left_out:
        raise RefusedForSafety(
            f"{name} cannot be decommissioned: the source holds {left_out.count} objects "
            f"({format_bytes(left_out.bytes)}) that the service's filter (data.include/"
            f"data.exclude) leaves out, never copied: {', '.join(map(repr, left_out.examples))}"
            f"{' ...' if left_out.count > len(left_out.examples) else ''}. Retiring the source "
            "would lose them. Move them elsewhere first, or, if they may go with the source, "
            "decommission again with --discard-left-out"
        )
    differences = report.differences
    if differences:
        shown = "; ".join(f"{d.key!r}: {d.problem}" for d in differences[:10])
        raise RefusedForSafety(
            f"{name} cannot be decommissioned: the verification made just now ({level}, "
            f"against the source) found {len(differences)} differences: {shown}. The source "
            "stays as it is; repair the target first (`migrate apply PLAN --repair "
            f"{name}`), then decommission again"
        )
    verified = f"verified just now at {level} level against the source: {report.checked} objects"
    if left_out.count:
        verified += f"; {left_out.count} left out by the filter, discarded with the source"
    return verified


def _untie(
    loaded: LoadedPlan, store: LifecycleStore, name: str, databases: DatabaseConnector | None
) -> str:
    """What the service's kind checks and removes before the source retires (a database:
    the tables compared again, then its replication removed); "" when it has nothing."""
    planned = loaded.plan.services[name]
    spec = kind(planned.kind)
    around = spec.build_rollback(store, databases) if spec.build_rollback else None
    if around is None:
        return ""
    try:
        return around.retire(name, planned)
    except StepFailed as failure:
        raise RefusedForSafety(f"{name} cannot be decommissioned: {failure}") from None


def _retire(
    loaded: LoadedPlan,
    store: LifecycleStore,
    name: str,
    run_id: str,
    state_url: str,
    hook_timeout: float,
) -> str:
    record = store.service(name)
    detail = "recorded (no hook: source data is left as it is)"
    planned = loaded.plan.services[name]
    command = planned.hook("decommission")
    if command is not None:
        call = HookCall(
            service=name,
            step="decommission",
            run_id=run_id,
            command=command,
            variables={
                "MIGRATE_SERVICE": name,
                "MIGRATE_STEP": "decommission",
                "MIGRATE_WAVE": str(record.wave),
                "MIGRATE_RUN": run_id,
                "MIGRATE_STATE_URL": state_url,
            },
            timeout=hook_timeout,
            passthrough=tuple(planned.hooks_env),
        )
        settle_earlier_hook(store, call, threading.Event())
        result = run_recorded_hook(store, call)
        if not result.ok:
            store.step_finished(run_id, name, "decommission", "failed", result.output[-2000:])
            raise MigrateError(f"decommission {result.describe()}: {result.output.strip()}")
        detail = result.describe()
    store.decommissioned(name)
    store.audit(
        [
            AuditEvent(
                "service.decommission",
                name,
                project=loaded.plan.services[name].project,
                detail={"detail": detail, "run": run_id},
            )
        ]
    )
    store.step_finished(run_id, name, "decommission", "done", f"{detail} at {now_iso()}")
    return detail


def _decommission_refusals(loaded: LoadedPlan, store: LifecycleStore, name: str) -> list[str]:
    record = store.service(name)
    refusals: list[str] = []
    if record.decommissioned_at is not None:
        refusals.append(f"it was decommissioned on {record.decommissioned_at}")
    if record.state != "done" or "validate" not in record.done_steps:
        refusals.append(f"it is not cut over and validated (state {record.state})")
    latest = store.latest_verification(name)
    if latest is not None and latest[1]:  # the fresh check below comes on top of this one
        refusals.append(
            f"its last verification ({latest[0]}, {latest[2]}) found {latest[1]} differences"
        )
    if not store.is_approved(name, "decommission"):
        refusals.append(f"no approval: `migrate approve {name} decommission`")
    notice = loaded.plan.policy.decommission_notice_seconds
    if record.cutover_at is not None:
        waited = seconds_since(record.cutover_at)
        if waited < notice:
            refusals.append(
                f"the notice period is not over: cut over {waited / 86400:.1f} days ago, "
                f"the policy asks {notice / 86400:.1f} days"
            )
    elif not refusals:
        refusals.append("no cutover time is recorded")
    return refusals
