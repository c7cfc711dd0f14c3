"""``migrate apply PLAN --repair SERVICE``: copy again, from the source, what the service's
last verification found missing or damaged at the target, without a new cutover.

What is taken is exactly the differences that verification recorded as the target's doing
(``target lost``, ``target altered``). Each is looked at again first: an object the target
holds in a version written after the cutover (another ETag than the copy's, a Last-Modified
later than the cutover) belongs to the applications that now write there, and is kept unless
``force``. The source version copied is the one the ledger recorded; a source that no longer
has it leaves the object failed, named, never silently skipped. The repair ends with a
verification at the same level and against the same side as the one it repairs, recorded like
any other: status, the dashboard and the report show what it found.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC
from functools import partial
from pathlib import Path
from typing import Any

from migrate.audit import AuditEvent
from migrate.commands.apply import ApplyOptions, Identity, limited_copier, run_lock
from migrate.commands.evidence import wave_evidence, write_evidence
from migrate.commands.loading import LoadedPlan
from migrate.errors import InvalidInput, RefusedForSafety, StorageError
from migrate.executor.copy import planned_route
from migrate.executor.objects import ObjectMover
from migrate.executor.progress import Progress
from migrate.executor.retry import RetryPolicy, retry_call
from migrate.executor.verify import (
    TARGET_ALTERED,
    TARGET_LOST,
    VerifyReport,
    compare_planned,
    record_verification,
    verify_service,
)
from migrate.ledger import CopiedObject, LockInfo
from migrate.objectrules import modified_stamp
from migrate.ports import ObjectInfo, SourceStore, TargetStore
from migrate.repositories import ApplyStore
from migrate.timeutil import parse_iso

REPAIRABLE = (TARGET_LOST, TARGET_ALTERED)

COPY = "copy again"
KEEP = "keep"


@dataclass(frozen=True)
class RepairItem:
    key: str
    problem: str
    action: str
    """``copy again`` or ``keep`` (changed at the target after the cutover, no --force)."""
    note: str = ""


@dataclass(frozen=True)
class RepairPlan:
    service: str
    verified_at: str
    level: str
    against: str
    items: tuple[RepairItem, ...]
    left: tuple[tuple[str, str, str], ...] = ()
    """Differences a repair does not take: (key, cause, what does)."""

    @property
    def to_copy(self) -> list[RepairItem]:
        return [item for item in self.items if item.action == COPY]

    @property
    def kept(self) -> list[RepairItem]:
        return [item for item in self.items if item.action == KEEP]


@dataclass
class RepairResult:
    run_id: str
    plan: RepairPlan
    repaired: list[str] = field(default_factory=list)
    not_repaired: list[tuple[str, str]] = field(default_factory=list)
    verification: VerifyReport | None = None
    evidence: list[Path] = field(default_factory=list)
    interrupted: bool = False

    @property
    def ok(self) -> bool:
        return (
            not self.interrupted
            and not self.not_repaired
            and (self.verification is None or self.verification.ok)
        )


_LEFT_TO = {
    "target extra": "left as it is: a repair copies, it never deletes at the target",
    "source changed": "the source moved after the copy: a sync takes it, not a repair",
    "source added": "the source moved after the copy: a sync takes it, not a repair",
    "source deleted": "the source moved after the copy: a sync takes it, not a repair",
    "not copied": "never copied: `migrate apply PLAN --only-failed`",
}


def plan_repair(
    loaded: LoadedPlan,
    store: ApplyStore,
    target: TargetStore,
    name: str,
    *,
    force: bool,
    policy: RetryPolicy,
) -> RepairPlan:
    """What ``--repair name`` would copy again, from the last verification on record."""
    planned = _repairable_service(loaded, store, name)
    found = store.latest_verification_summary(name)
    if found is None:
        raise InvalidInput(
            f"{name} has no verification on record: run `migrate verify {name}` first; "
            "a repair copies again what it finds missing or damaged at the target"
        )
    verified_at, summary = found
    differences = _differences(summary)
    wanted = [(key, problem) for key, problem, cause in differences if cause in REPAIRABLE]
    left = tuple(
        (key, cause, _LEFT_TO.get(cause, "not a repair's: see `migrate verify`"))
        for key, _, cause in differences
        if cause not in REPAIRABLE
    )
    bucket = planned.bucket or ""
    copies = store.copied_keys(name, [key for key, _ in wanted])
    cutover_at = store.service(name).cutover_at
    items = []
    for key, problem in wanted:
        info = retry_call(policy, partial(target.head, bucket, key))
        written = _written_after_cutover(info, copies.get(key), cutover_at)
        if written is not None and not force:
            note = f"written at the target after the cutover ({written}): kept; --force overwrites"
            items.append(RepairItem(key, problem, KEEP, note))
        else:
            note = "overwrites what the target wrote after the cutover (--force)" if written else ""
            items.append(RepairItem(key, problem, COPY, note))
    return RepairPlan(
        name,
        verified_at,
        str(summary.get("level", "hash")),
        str(summary.get("against", "ledger")),
        tuple(items),
        left,
    )


def _written_after_cutover(
    info: ObjectInfo | None, copied: CopiedObject | None, cutover_at: str | None
) -> str | None:
    """The Last-Modified of a version the target holds that is not the copy and is newer than
    the cutover: the applications' write, not damage. None otherwise."""
    if info is None or copied is None or copied.target_etag is None or cutover_at is None:
        return None
    if info.etag == copied.target_etag or info.last_modified is None:
        return None
    written = info.last_modified
    if written.tzinfo is None:
        written = written.replace(tzinfo=UTC)
    # Last-Modified has seconds only: a write in the cutover's second counts as after it
    after = written >= parse_iso(cutover_at).replace(microsecond=0)
    return modified_stamp(written) if after else None


def _repairable_service(loaded: LoadedPlan, store: ApplyStore, name: str) -> Any:
    planned = loaded.plan.services.get(name)
    if planned is None:
        raise InvalidInput(f"--repair {name}: not a service of the plan")
    if planned.container is None or planned.bucket is None:
        raise InvalidInput(f"--repair {name}: not an object store, there are no objects to copy")
    record = store.service(name)
    if record.decommissioned_at is not None:
        raise RefusedForSafety(
            f"--repair {name}: decommissioned on {record.decommissioned_at}, the source was "
            "retired: there is nothing left to copy from"
        )
    return planned


def _differences(summary: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(key, problem, cause) of a recorded verification; the ``(N more)`` lines name no key."""
    found = []
    for entry in summary.get("differences") or []:
        if not isinstance(entry, dict):
            continue
        key, problem = entry.get("key"), entry.get("problem")
        cause = entry.get("cause", TARGET_ALTERED)
        if isinstance(key, str) and isinstance(problem, str) and not key.startswith("("):
            found.append((key, problem, str(cause)))
    return found


def repair(
    loaded: LoadedPlan,
    store: ApplyStore,
    source: SourceStore,
    target: TargetStore,
    name: str,
    *,
    force: bool,
    options: ApplyOptions,
    identity: Identity,
    progress: Progress,
    stop: threading.Event,
    holder_alive: Callable[[LockInfo], bool | None],
) -> RepairResult:
    """Under the state lock: look again (the plan of the repair is made anew there), copy
    again, verify again, record."""
    with run_lock(store, identity, holder_alive, stop):
        plan = plan_repair(loaded, store, target, name, force=force, policy=options.retry)
        plan_id = store.record_plan(
            loaded.plan, loaded.plan_sha256, loaded.plan_text, loaded.inventory_text
        )
        store.start_run(
            identity.run_id,
            plan_id,
            dry_run=False,
            host=identity.host,
            pid=identity.pid,
            operator=identity.operator,
            options={"repair": name, "force": force, "workers": options.workers},
        )
        result = RepairResult(identity.run_id, plan)
        status = "failed"
        try:
            _copy_again(
                loaded, store, source, target, plan, options, progress, stop, result, identity
            )
            status = "interrupted" if result.interrupted else "succeeded" if result.ok else "failed"
        finally:
            _record(loaded, store, result, options, status)
    return result


def _copy_again(
    loaded: LoadedPlan,
    store: ApplyStore,
    source: SourceStore,
    target: TargetStore,
    plan: RepairPlan,
    options: ApplyOptions,
    progress: Progress,
    stop: threading.Event,
    result: RepairResult,
    identity: Identity,
) -> None:
    name = plan.service
    route = planned_route(loaded.plan, name)
    if route is None:  # checked by plan_repair; kept for the type
        return
    store.reset_interrupted([name])  # a repair that was killed leaves rows 'copying'
    store.requeue_for_repair(name, [(i.key, f"repair: {i.problem}") for i in plan.to_copy])
    with (
        ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="repair") as pool,
        limited_copier(loaded, store, source, target, options, identity.run_id, stop) as copier,
    ):
        mover = ObjectMover(
            source, store, copier, pool, progress, workers=options.workers, policy=options.retry
        )
        mover.copy_pending(route)
    keys = [item.key for item in plan.to_copy]
    known = store.known(name, keys)
    result.interrupted = stop.is_set()
    for key in keys:
        row = known.get(key)
        if row is not None and row.status == "done":
            result.repaired.append(key)
        else:
            status = row.status if row is not None else "no longer in the ledger"
            result.not_repaired.append((key, status))
    if not result.interrupted:
        result.verification = _verify_again(loaded, store, source, target, plan, options)


def _verify_again(
    loaded: LoadedPlan,
    store: ApplyStore,
    source: SourceStore,
    target: TargetStore,
    plan: RepairPlan,
    options: ApplyOptions,
) -> VerifyReport:
    planned = loaded.plan.services[plan.service]
    level = "deep" if plan.level == "deep" else "hash"
    try:
        report = verify_service(
            plan.service,
            planned.bucket or "",
            store,
            target,
            level=level,
            policy=options.retry,
            workers=options.workers,
            encrypted=loaded.plan.target is None or loaded.plan.target.encryption != "none",
            keep=planned.key_filter,
            prefix=planned.prefix,
        )
        if plan.against == "source" and planned.container is not None:
            report.differences += compare_planned(
                plan.service, planned, store, source, policy=options.retry
            )
            report.against = "source"
    except StorageError as error:
        raise RefusedForSafety(
            f"the repair of {plan.service} copied again, but its verification could not run: "
            f"{error}; run `migrate verify {plan.service}`"
        ) from None
    return report


def _record(
    loaded: LoadedPlan,
    store: ApplyStore,
    result: RepairResult,
    options: ApplyOptions,
    status: str,
) -> None:
    plan = result.plan
    planned = loaded.plan.services[plan.service]
    if result.verification is not None:
        record_verification(
            store, plan.service, planned.project, result.verification, result.run_id, "repair"
        )
    store.audit(
        [
            AuditEvent(
                "service.repair",
                plan.service,
                "ok" if result.ok else status,
                project=planned.project,
                detail={
                    "run": result.run_id,
                    "from_verification": plan.verified_at,
                    "repaired": len(result.repaired),
                    "not_repaired": [key for key, _ in result.not_repaired][:50],
                    "kept": [item.key for item in plan.kept][:50],
                    "differences_after": (
                        len(result.verification.differences) if result.verification else None
                    ),
                },
            )
        ]
    )
    if result.verification is not None:
        data = wave_evidence(
            store, loaded, planned.wave, [plan.service], result.run_id, kind="repair"
        )
        data["repair"] = {
            "service": plan.service,
            "from_verification": plan.verified_at,
            "repaired": result.repaired,
            "not_repaired": [{"key": k, "status": s} for k, s in result.not_repaired],
            "kept": [{"key": i.key, "why": i.note} for i in plan.kept],
            "verify": result.verification.summary(),
        }
        result.evidence.append(write_evidence(store, options.evidence_dir, data)[0])
    store.end_run(
        result.run_id,
        status,
        {"repair": plan.service, "repaired": len(result.repaired)},
    )
