"""``migrate apply``: run exactly the saved plan, resumably, one run at a time."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from migrate.audit import AuditEvent, insecure_override
from migrate.bandwidth import Limit, parse_limit
from migrate.commands.evidence import wave_evidence, write_evidence
from migrate.commands.loading import LoadedPlan
from migrate.commands.probe import refuse_contradicted_target
from migrate.commands.routes import refuse_conflicts
from migrate.databases import DatabaseConnector
from migrate.errors import InvalidInput, RefusedForSafety
from migrate.executor.batches import BatchRunner
from migrate.executor.copy import Copier, CopySettings
from migrate.executor.lockwatch import LockWatch
from migrate.executor.objects import ObjectMover
from migrate.executor.progress import Progress
from migrate.executor.rehearsal import Rehearsal, rehearse
from migrate.executor.retry import RetryPolicy
from migrate.executor.runner import Runner, RunOutcome, RunSettings
from migrate.executor.steps import StepHandlers
from migrate.executor.throttle import (
    Governor,
    RateLimiter,
    Setting,
    resolve,
)
from migrate.ledger import LedgerReader, LockInfo, ObjectCounts
from migrate.model import Plan
from migrate.ports import SourceStore, TargetCapabilities, TargetStore
from migrate.repositories import ApplyStore, SnapshotReader
from migrate.timeutil import now_iso

HEARTBEAT_SECONDS = 10.0


@dataclass(frozen=True)
class ApplyOptions:
    dry_run: bool = False
    workers: int = 8
    parallel_services: int = 4
    wave: int | None = None
    only: tuple[str, ...] = ()
    only_failed: bool = False
    project: str | None = None
    hook_timeout: float = 900.0
    insecure: bool = False
    evidence_dir: Path = Path(".migrate/evidence")
    copy: CopySettings = field(default_factory=CopySettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    scheduler: str | None = None
    """The dask scheduler the copies run on (None: threads of this process)."""
    bwlimit: str | None = None
    """``--bwlimit``: a rate or a timetable, over the plan's ``policy.bandwidth_limit``."""


@dataclass(frozen=True)
class Identity:
    run_id: str
    host: str
    pid: int
    pid_start: str | None
    operator: str
    state_url: str


@dataclass
class ApplyResult:
    run_id: str
    selected: list[str]
    outcome: RunOutcome | None = None
    rehearsal: Rehearsal | None = None
    counts: dict[str, ObjectCounts] = field(default_factory=dict)
    replaced_lock: LockInfo | None = None
    resumed_objects: int = 0
    evidence: list[Path] = field(default_factory=list)

    @property
    def refusal(self) -> str | None:
        """Why the run stopped for safety (exit 3): its lock lost, or a hook left running."""
        if self.outcome is None:
            return None
        if self.outcome.lock_lost is not None:
            return self.outcome.lock_lost
        return "; ".join(self.outcome.refused) or None

    @property
    def ok(self) -> bool:
        if self.outcome is None:
            return True
        if self.outcome.interrupted or self.outcome.failed or self.outcome.refused:
            return False
        return all(s.state in ("done", "waiting-approval") for s in self.outcome.services.values())


def select_services(loaded: LoadedPlan, options: ApplyOptions, store: ApplyStore) -> list[str]:
    """The services this run touches, in plan order; refuses to skip an unfinished dependency."""
    plan = loaded.plan
    order = [name for wave in plan.waves for name in wave.services]
    unknown = [name for name in options.only if name not in plan.services]
    if unknown:
        raise InvalidInput(f"--only names services that are not in the plan: {', '.join(unknown)}")
    if options.wave is not None and not 1 <= options.wave <= len(plan.waves):
        raise InvalidInput(f"--wave {options.wave}: the plan has waves 1 to {len(plan.waves)}")
    projects = {s.project for s in plan.services.values()}
    if options.project is not None and options.project not in projects:
        raise InvalidInput(f"--project {options.project}: no service of the plan has that project")
    selected = [
        name
        for name in order
        if (not options.only or name in options.only)
        and (options.wave is None or plan.services[name].wave == options.wave)
        and (options.project is None or plan.services[name].project == options.project)
    ]
    if not selected:
        raise InvalidInput("the options select no service of the plan")
    _refuse_unfinished_dependencies(loaded, selected, store)
    return selected


def _refuse_unfinished_dependencies(
    loaded: LoadedPlan, selected: list[str], store: ApplyStore
) -> None:
    chosen = set(selected)
    missing = []
    for name in selected:
        for dependency in loaded.plan.services[name].depends_on:
            if dependency in chosen:
                continue
            if store.service(dependency).state != "done":
                missing.append(f"{name} needs {dependency}")
    if missing:
        raise RefusedForSafety(
            "dependencies outside the selection are not cut over yet: "
            + "; ".join(missing)
            + ". Apply them first (or widen the selection)"
        )


def rehearse_apply(
    loaded: LoadedPlan,
    store: ApplyStore,
    source: SourceStore,
    capabilities: TargetCapabilities,
    options: ApplyOptions,
    identity: Identity,
    reader: SnapshotReader | None = None,
    databases: DatabaseConnector | None = None,
) -> ApplyResult:
    """What a run would do, from the source's listing and one moment of the ledger
    (``reader``: a read-only view, so that an apply going on meanwhile is neither held up nor
    half counted)."""
    refuse_conflicts(loaded.plan, store.recorded_routes(list(loaded.plan.services)))
    plan_id = store.record_plan(
        loaded.plan, loaded.plan_sha256, loaded.plan_text, loaded.inventory_text
    )
    store.register_services(loaded.plan)
    selected = _start_run(loaded, store, options, identity, plan_id, dry_run=True)
    events = [
        AuditEvent(
            "apply.rehearsal",
            identity.run_id,
            detail={"plan_sha256": loaded.plan_sha256, "services": selected},
        )
    ]
    if options.insecure:  # a rehearsal lists the source: it connects too
        events.append(insecure_override("apply --dry-run", identity.run_id))
    store.audit(events)
    view: LedgerReader = reader if reader is not None else store
    with reader.consistent_reads() if reader is not None else nullcontext():
        rehearsal = rehearse(
            loaded.plan,
            selected,
            source,
            view,
            capabilities,
            databases,
            estimate_rate(loaded.plan, options),
        )
    store.record_rehearsal(identity.run_id, rehearsal.summary())
    store.end_run(identity.run_id, "rehearsed", rehearsal.summary())
    return ApplyResult(identity.run_id, selected, rehearsal=rehearsal)


def apply(
    loaded: LoadedPlan,
    store: ApplyStore,
    source: SourceStore,
    target: TargetStore,
    options: ApplyOptions,
    identity: Identity,
    progress: Progress,
    stop: threading.Event,
    holder_alive: Callable[[LockInfo], bool | None],
    cluster: BatchRunner | None = None,
    databases: DatabaseConnector | None = None,
) -> ApplyResult:
    """Run the plan under the state lock. With ``cluster``, object copies run there in
    batches; this process stays the coordinator and the only writer of the ledger."""
    refuse_contradicted_target(loaded.inventory, store)
    refuse_conflicts(loaded.plan, store.recorded_routes(list(loaded.plan.services)))
    with run_lock(store, identity, holder_alive, stop) as (replaced, watch):
        # again under the lock: another run may have recorded work since the first look
        refuse_conflicts(loaded.plan, store.recorded_routes(list(loaded.plan.services)))
        plan_id = store.record_plan(
            loaded.plan, loaded.plan_sha256, loaded.plan_text, loaded.inventory_text
        )
        store.register_services(loaded.plan)
        result = _locked_apply(
            loaded,
            store,
            source,
            target,
            options,
            identity,
            progress,
            stop,
            plan_id,
            cluster,
            watch,
            databases,
        )
    result.replaced_lock = replaced
    return result


def _locked_apply(
    loaded: LoadedPlan,
    store: ApplyStore,
    source: SourceStore,
    target: TargetStore,
    options: ApplyOptions,
    identity: Identity,
    progress: Progress,
    stop: threading.Event,
    plan_id: int,
    cluster: BatchRunner | None,
    watch: LockWatch,
    databases: DatabaseConnector | None = None,
) -> ApplyResult:
    selected = _start_run(loaded, store, options, identity, plan_id, dry_run=False)
    store.audit(_start_events(loaded, options, identity, selected))
    resumed = store.reset_interrupted(selected)
    if options.only_failed:
        store.retry_failed(selected)
    result = ApplyResult(identity.run_id, selected, resumed_objects=resumed)
    status = "failed"
    evidence_files: list[Path] = []

    def record_evidence(wave: int, names: list[str]) -> None:
        data = wave_evidence(store, loaded, wave, names, identity.run_id)
        evidence_files.append(write_evidence(store, options.evidence_dir, data)[0])

    try:
        with (
            ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="copy") as pool,
            limited_copier(loaded, store, source, target, options, identity.run_id, stop) as copier,
        ):
            mover = ObjectMover(
                source,
                store,
                copier,
                pool,
                progress,
                workers=options.workers,
                policy=options.retry,
                stop=stop,
                cluster=cluster,
            )
            bandwidth = estimate_rate(loaded.plan, options)
            handlers = StepHandlers(
                store, target, mover, options.retry, bandwidth, lock=watch, databases=databases
            )
            settings = RunSettings(
                identity.run_id, identity.state_url, options.parallel_services, options.hook_timeout
            )
            runner = Runner(
                loaded.plan,
                set(selected),
                store,
                handlers,
                progress,
                settings,
                stop,
                on_wave_done=record_evidence,
                lock=watch,
            )
            result.outcome = runner.run()
            result.evidence = evidence_files
        status = (
            "interrupted"
            if result.outcome.interrupted
            else ("succeeded" if result.ok else "failed")
        )
    finally:
        result.counts = {
            n: store.counts(n) for n in selected if loaded.plan.services[n].container is not None
        }
        store.end_run(identity.run_id, status, _summary(result))
        store.audit(
            [AuditEvent("apply.stop", identity.run_id, status, detail={"services": len(selected)})]
        )
    return result


@contextmanager
def limited_copier(
    loaded: LoadedPlan,
    store: ApplyStore,
    source: SourceStore,
    target: TargetStore,
    options: ApplyOptions,
    run_id: str,
    stop: threading.Event,
) -> Iterator[Copier]:
    """The run's copier, reading within its bandwidth limit (held by a governor for as long
    as the block runs); its part uploaders stopped at the end."""
    limiter = RateLimiter()
    governor = Governor(store, limiter, *base_limit(loaded.plan, options), run_id)
    with governor.running(stop):
        copier = Copier(
            source,
            target,
            store,
            settings=options.copy,
            policy=options.retry,
            stop=stop,
            limiter=limiter,
        )
        try:
            yield copier
        finally:
            copier.close()


def _start_events(
    loaded: LoadedPlan, options: ApplyOptions, identity: Identity, selected: list[str]
) -> list[AuditEvent]:
    events = [
        AuditEvent(
            "apply.start",
            identity.run_id,
            detail={
                "plan_sha256": loaded.plan_sha256,
                "inventory_sha256": loaded.plan.inventory_sha256,
                "services": selected,
                "options": _options(options),
            },
        )
    ]
    if options.insecure:
        events.append(insecure_override("apply", identity.run_id))
    return events


def _start_run(
    loaded: LoadedPlan,
    store: ApplyStore,
    options: ApplyOptions,
    identity: Identity,
    plan_id: int,
    *,
    dry_run: bool,
) -> list[str]:
    """Select the services (refusing an unfinished dependency) and record the run."""
    selected = select_services(loaded, options, store)
    store.start_run(
        identity.run_id,
        plan_id,
        dry_run=dry_run,
        host=identity.host,
        pid=identity.pid,
        operator=identity.operator,
        options=_options(options),
    )
    return selected


@contextmanager
def run_lock(
    store: ApplyStore,
    identity: Identity,
    holder_alive: Callable[[LockInfo], bool | None],
    stop: threading.Event,
) -> Iterator[tuple[LockInfo | None, LockWatch]]:
    """Hold the state lock for the run, heartbeat it, and stop the run (``stop``) when it is
    lost; yields the lock it replaced (a holder no longer running here) and the watch."""
    stamp = now_iso()
    info = LockInfo(
        identity.run_id,
        identity.host,
        identity.pid,
        identity.pid_start,
        identity.operator,
        stamp,
        stamp,
    )
    replaced = store.acquire_lock(info, holder_alive=holder_alive)
    if replaced is not None:
        store.audit(
            [
                AuditEvent(
                    "lock.takeover",
                    replaced.run_id,
                    detail={
                        "reason": "the holder is no longer running on this host",
                        "host": replaced.host,
                        "pid": replaced.pid,
                        "heartbeat_at": replaced.heartbeat_at,
                    },
                )
            ]
        )
    try:
        watch = LockWatch(identity.run_id, store.lock_info, stop)
        with heartbeat(store, watch):
            yield replaced, watch
    finally:
        store.release_lock(identity.run_id)


class Heart(Protocol):
    def heartbeat(self, run_id: str) -> bool: ...

    def lock_info(self) -> LockInfo | None: ...


@contextmanager
def heartbeat(store: Heart, watch: LockWatch, seconds: float = HEARTBEAT_SECONDS) -> Iterator[None]:
    """Stamp the lock every ``seconds``; a stamp that touches no row (the lock was released
    or taken) tells ``watch``, which stops the run."""
    done = threading.Event()

    def beat() -> None:
        while not done.wait(seconds):
            if not store.heartbeat(watch.run_id):
                watch.lose(store.lock_info())
                return

    thread = threading.Thread(target=beat, name="heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _options(options: ApplyOptions) -> dict[str, object]:
    return {
        "dry_run": options.dry_run,
        "workers": options.workers,
        "wave": options.wave,
        "only": list(options.only),
        "only_failed": options.only_failed,
        "project": options.project,
        "executor": "dask" if options.scheduler else "local",
        "scheduler": options.scheduler,
        "write_check": "answer" if options.copy.proving_answers else "head",
        "bwlimit": options.bwlimit,
    }


def base_limit(plan: Plan, options: ApplyOptions) -> tuple[Limit | None, str]:
    """The run's own limit (before any ``migrate bwlimit``), and where it comes from."""
    if options.bwlimit is not None:
        return parse_limit(options.bwlimit), "--bwlimit"
    if plan.policy.bandwidth_limit:
        return parse_limit(plan.policy.bandwidth_limit), "policy.bandwidth_limit"
    return None, "none"


def estimate_rate(plan: Plan, options: ApplyOptions) -> float:
    """What a run's estimates assume: the plan's rate (``policy.bandwidth``, within the
    policy's limit), and within this run's ``--bwlimit`` at its lowest: an estimate never
    promises a shorter copy than the limit allows."""
    rate = plan.policy.bandwidth
    if options.bwlimit is not None:
        lowest = parse_limit(options.bwlimit).lowest()
        if lowest is not None:
            rate = min(rate, lowest)
    return rate


def bandwidth_setting(plan: Plan, options: ApplyOptions) -> Setting:
    """What the run will hold when it starts (a `migrate bwlimit` is made for a running
    apply, so none applies yet): for the line apply prints first."""
    return resolve(*base_limit(plan, options), None, datetime.now())


def _summary(result: ApplyResult) -> dict[str, object]:
    outcome = result.outcome
    services = outcome.services if outcome else {}
    return {
        "services": {
            n: {"state": s.state, "step": s.step, "message": s.message} for n, s in services.items()
        },
        "objects": {
            n: {"total": c.total, "done": c.done, "failed": c.failed}
            for n, c in result.counts.items()
        },
    }
