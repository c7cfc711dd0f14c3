"""Run the saved plan: waves in order; the services of a wave in parallel up to a bound; in a
wave, a service freezes (and so cuts over) only after its dependencies are cut over; a wave
starts only when the one before is done. The runner reads the plan and the ledger, nothing else.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from migrate.audit import AuditEvent
from migrate.executor.copy import Interrupted, planned_route
from migrate.executor.lockwatch import LockWatch
from migrate.executor.orphans import HookStillRunning
from migrate.executor.progress import Progress
from migrate.executor.rollback import roll_back
from migrate.executor.steps import StepContext, StepFailed, StepHandlers
from migrate.kinds import kind
from migrate.kinds.base import ApprovalNeeded
from migrate.ledger import Ledger, ServiceState
from migrate.model import Plan, PlannedService
from migrate.timeutil import parse_iso, seconds_since


@dataclass(frozen=True)
class RunSettings:
    run_id: str
    state_url: str
    parallel_services: int = 4
    hook_timeout: float = 900.0


@dataclass
class ServiceOutcome:
    name: str
    state: ServiceState
    step: str | None
    message: str | None = None


@dataclass
class RunOutcome:
    services: dict[str, ServiceOutcome] = field(default_factory=dict)
    interrupted: bool = False
    last_wave: int | None = None
    lock_lost: str | None = None
    """Why the run stopped when it found its state lock gone or taken."""
    refused: list[str] = field(default_factory=list)
    """Steps not run for safety (a hook a stopped run left behind still runs)."""

    @property
    def waiting(self) -> list[ServiceOutcome]:
        return [s for s in self.services.values() if s.state == "waiting-approval"]

    @property
    def failed(self) -> list[ServiceOutcome]:
        return [s for s in self.services.values() if s.state == "failed"]


class Runner:
    def __init__(
        self,
        plan: Plan,
        selected: set[str],
        ledger: Ledger,
        handlers: StepHandlers,
        progress: Progress,
        settings: RunSettings,
        stop: threading.Event,
        on_wave_done: Callable[[int, list[str]], None] | None = None,
        lock: LockWatch | None = None,
    ) -> None:
        self.plan = plan
        self.selected = selected
        self.ledger = ledger
        self.handlers = handlers
        self.progress = progress
        self.settings = settings
        self.stop = stop
        self.on_wave_done = on_wave_done
        self.lock = lock
        """Asked before each step: a run that lost its state lock stops there."""
        self._cut_over: dict[str, threading.Event] = {}
        """Set when the service's cutover is done, or its run in this wave ended."""
        self._outcomes: dict[str, ServiceOutcome] = {}
        self._refused: list[str] = []

    def run(self) -> RunOutcome:
        outcome = RunOutcome()
        for wave in self.plan.waves:
            names = [n for n in wave.services if n in self.selected]
            if not names:
                continue
            if all(self.ledger.service(n).state == "done" for n in names):
                for name in names:
                    outcome.services[name] = ServiceOutcome(name, "done", None, "already done")
                continue
            outcome.last_wave = wave.index
            self.progress.wave(wave.index, names)
            self._run_wave(wave.index, names)
            outcome.services.update({n: self._outcomes[n] for n in names})
            outcome.refused = list(self._refused)
            if self.stop.is_set():
                outcome.interrupted = True
                outcome.lock_lost = self.lock.lost if self.lock is not None else None
                break
            if any(self._outcomes[n].state != "done" for n in names):
                break  # the next wave waits for this one
            if self.on_wave_done is not None:
                self.on_wave_done(wave.index, names)
        return outcome

    def _run_wave(self, wave: int, names: list[str]) -> None:
        self._cut_over.update({name: threading.Event() for name in names})
        pool: Executor
        # submitted in execution order (dependencies first), so a service that waits for a
        # dependency's cutover never holds the thread that dependency needs
        with ThreadPoolExecutor(
            max_workers=max(1, self.settings.parallel_services), thread_name_prefix="service"
        ) as pool:
            futures = [pool.submit(self._run_service, wave, name) for name in names]
            for future in futures:
                future.result()

    def _run_service(self, wave: int, name: str) -> None:
        try:
            self._outcomes[name] = self._service_steps(wave, name)
        except Exception as error:  # a bug: the service fails, the run goes on
            message = f"internal error ({type(error).__name__}: {error}); please report it"
            self.ledger.set_service_state(name, "failed", None, message)
            self._outcomes[name] = ServiceOutcome(name, "failed", None, message)
        finally:
            self._cut_over[name].set()

    def _service_steps(self, wave: int, name: str) -> ServiceOutcome:
        record = self.ledger.service(name)
        if record.state == "done":
            return ServiceOutcome(name, "done", record.step, "already done")
        planned = self.plan.services[name]
        spec = kind(planned.kind)
        for step in planned.steps:
            if step in record.done_steps:
                continue
            blocked = self._gate(name, planned, step)
            if blocked is not None:
                return blocked
            self.ledger.set_service_state(name, "running", step)
            self.ledger.step_started(self.settings.run_id, name, step)
            self.progress.step(name, step, "started")
            try:
                detail = self.handlers.run(self._context(wave, name, step))
            except Interrupted:
                lost = self.lock.lost if self.lock is not None else None
                self.ledger.step_finished(
                    self.settings.run_id, name, step, "started", lost or "interrupted"
                )
                return self._interrupted(name, step)
            except ApprovalNeeded as needed:
                return self._wait_for_approval(name, step, str(needed))
            except HookStillRunning as running:
                message = str(running)
                self.ledger.step_finished(self.settings.run_id, name, step, "started", message)
                self._refused.append(message)
                return self._hold(name, step, message)
            except StepFailed as failure:
                message = str(failure)
                self.ledger.step_finished(self.settings.run_id, name, step, "failed", message)
                self.ledger.set_service_state(name, "failed", step, message)
                self.progress.step(name, step, "failed", message)
                return ServiceOutcome(name, "failed", step, message)
            self.ledger.step_finished(self.settings.run_id, name, step, "done", detail)
            if step == spec.cutover_step:
                self._cut_over[name].set()
                self.ledger.audit(
                    [
                        AuditEvent(
                            "service.cutover",
                            name,
                            project=planned.project,
                            detail={"run": self.settings.run_id},
                        )
                    ]
                )
            self.progress.step(name, step, "done", detail)
        self.ledger.set_service_state(name, "done", planned.steps[-1])
        return ServiceOutcome(name, "done", planned.steps[-1])

    def _gate(self, name: str, planned: PlannedService, step: str) -> ServiceOutcome | None:
        """Why the service cannot run ``step`` now (stop, dependencies, approval), or None."""
        if self.lock is not None and not self.lock.holds():
            return self._interrupted(name, step)
        if self.stop.is_set():
            return self._interrupted(name, step)
        spec = kind(planned.kind)
        if step == spec.freeze_step:
            held = self._freeze_hold(name, planned, step)
            if held is not None:
                return held
        if step == spec.cutover_step:
            waiting = self._dependencies_not_cut_over(name, planned)
            if waiting:
                return self._hold(name, step, f"cutover waits for {_waiting(waiting)}")
            overrun = self._budget_overrun(name, planned)
            if overrun is not None:
                return overrun
        if step in planned.approval and not self.ledger.is_approved(name, step):
            return self._wait_for_approval(
                name, step, f"waiting for `migrate approve {name} {step}`"
            )
        return None

    def _freeze_hold(self, name: str, planned: PlannedService, step: str) -> ServiceOutcome | None:
        """No write freeze starts until its cutover can follow at once: every service it
        depends on (in this wave too) is cut over, the gate on its cutover is open, and the
        kind has nothing left to wait for. Human approval time is never write-freeze time."""
        waiting = self._dependencies_not_cut_over(name, planned)
        if waiting:
            return self._hold(
                name, step, f"write freeze waits for {_waiting(waiting)} (not frozen yet)"
            )
        cutover = kind(planned.kind).cutover_step
        if cutover in planned.approval and not self.ledger.is_approved(name, cutover):
            return self._wait_for_approval(
                name,
                step,
                f"waiting for `migrate approve {name} {cutover}` before the write freeze "
                "(approval time is not write-freeze time; not frozen yet)",
            )
        blocker = self.handlers.kind_steps(planned.kind).freeze_blocker(
            self._context(self.ledger.service(name).wave, name, step)
        )
        if blocker is not None:
            return self._hold(name, step, f"write freeze waits: {blocker} (not frozen yet)")
        return None

    def _interrupted(self, name: str, step: str) -> ServiceOutcome:
        """Stopped before ``step`` (Ctrl-C, or the state lock lost): pending, resumable."""
        lost = self.lock.lost if self.lock is not None else None
        message = lost or "interrupted; apply resumes"
        self.ledger.set_service_state(name, "pending", step, message)
        if lost is not None:
            self.progress.step(name, step, "stopped", lost)
        return ServiceOutcome(name, "pending", step, lost or "interrupted")

    def _hold(self, name: str, step: str, message: str) -> ServiceOutcome:
        self.ledger.set_service_state(name, "pending", step, message)
        self.progress.step(name, step, "waiting", message)
        return ServiceOutcome(name, "pending", step, message)

    def _wait_for_approval(self, name: str, step: str, message: str) -> ServiceOutcome:
        self.ledger.step_finished(self.settings.run_id, name, step, "waiting-approval", message)
        self.ledger.set_service_state(name, "waiting-approval", step, message)
        self.progress.step(name, step, "waiting-approval", message)
        return ServiceOutcome(name, "waiting-approval", step, message)

    def _budget_overrun(self, name: str, planned: PlannedService) -> ServiceOutcome | None:
        """Past the write-freeze budget before cutover: roll back, or go on when the cutover
        was approved (before the freeze, or after the budget ran out), else hold for it."""
        record = self.ledger.service(name)
        budget = planned.max_downtime_seconds
        if budget is None or record.freeze_started_at is None:
            return None
        elapsed = seconds_since(record.freeze_started_at)
        if elapsed <= budget:
            return None
        reason = f"the write freeze has lasted {elapsed:.0f} s, over the {budget} s budget"
        if planned.on_budget_exceeded == "rollback":
            try:
                detail = roll_back(
                    self.ledger,
                    name,
                    planned,
                    wave=record.wave,
                    run_id=self.settings.run_id,
                    state_url=self.settings.state_url,
                    hook_timeout=self.settings.hook_timeout,
                    reason=reason,
                    databases=self.handlers.databases,
                )
            except StepFailed as failure:
                return ServiceOutcome(name, "failed", "rollback", str(failure))
            self.progress.step(name, "rollback", "done", detail)
            return ServiceOutcome(name, "rolled-back", "rollback", detail)
        cutover = kind(planned.kind).cutover_step
        approved = self.ledger.approval_time(name, cutover)
        if approved is not None:
            ran_out = parse_iso(record.freeze_started_at).timestamp() + budget
            gated = cutover in planned.approval
            if gated or parse_iso(approved).timestamp() > ran_out:
                return None
        message = (
            f"{reason}: `migrate approve {name} {cutover}` to cut over anyway, "
            f"or `migrate rollback {name}`"
        )
        return self._wait_for_approval(name, cutover, message)

    def _dependencies_not_cut_over(
        self, name: str, planned: PlannedService
    ) -> list[tuple[str, str]]:
        """(dependency, its state) of each dependency not cut over; waits for those of this
        wave to reach their cutover (or to stop) first. A cycle's members cut over together."""
        unit = next((set(u.services) for u in self.plan.units if name in u.services), set())
        waiting: list[tuple[str, str]] = []
        for dependency in planned.depends_on:
            if dependency in unit:
                continue
            event = self._cut_over.get(dependency)
            if event is not None and not event.is_set():
                self._say_waiting(name, dependency)
                event.wait()
            record = self.ledger.service(dependency)
            cutover = kind(self.plan.services[dependency].kind).cutover_step
            if cutover not in record.done_steps or record.state == "rolled-back":
                waiting.append((dependency, record.state))
        return waiting

    def _say_waiting(self, name: str, dependency: str) -> None:
        """Put on record, for status and the dashboard, whom a service of this wave waits for
        (it is not frozen while it waits)."""
        record = self.ledger.service(name)
        message = f"waits for {dependency} ({self.ledger.service(dependency).state}, this wave) "
        message += "to be cut over first (not frozen yet)"
        self.ledger.set_service_state(name, record.state, record.step, message)
        self.progress.step(name, record.step or "", "waiting", message)

    def _context(self, wave: int, name: str, step: str) -> StepContext:
        planned = self.plan.services[name]
        target = self.plan.target
        route = planned_route(self.plan, name)
        return StepContext(
            name=name,
            service=planned,
            step=step,
            wave=wave,
            run_id=self.settings.run_id,
            state_url=self.settings.state_url,
            route=route,
            hook_timeout=self.settings.hook_timeout,
            target_features=target.features if target is not None else None,
            policy=self.plan.policy,
        )


def _waiting(waiting: list[tuple[str, str]]) -> str:
    """``portal (failed), identity (pending)`` to be cut over first."""
    listed = ", ".join(f"{name} ({state})" for name, state in waiting)
    return f"{listed} to be cut over first"
