"""Run the saved plan: waves in order; the services of a wave in parallel up to a bound; in a
wave, a service cuts over only after its dependencies did; a wave starts only when the one
before is done.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from migrate.audit import AuditEvent
from migrate.config import Inventory, ServiceConfig
from migrate.executor.copy import Interrupted, Route
from migrate.executor.progress import Progress
from migrate.executor.rollback import roll_back
from migrate.executor.steps import StepContext, StepFailed, StepHandlers
from migrate.ledger import Ledger, ServiceState
from migrate.model import Plan
from migrate.ports import Encryption
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
        inventory: Inventory,
        selected: set[str],
        ledger: Ledger,
        handlers: StepHandlers,
        progress: Progress,
        settings: RunSettings,
        stop: threading.Event,
        on_wave_done: Callable[[int, list[str]], None] | None = None,
    ) -> None:
        self.plan = plan
        self.inventory = inventory
        self.selected = selected
        self.ledger = ledger
        self.handlers = handlers
        self.progress = progress
        self.settings = settings
        self.stop = stop
        self.on_wave_done = on_wave_done
        self._configs = {s.name: s for s in inventory.services}
        self._finished: dict[str, threading.Event] = {}
        self._outcomes: dict[str, ServiceOutcome] = {}

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
            if self.stop.is_set():
                outcome.interrupted = True
                break
            if any(self._outcomes[n].state != "done" for n in names):
                break  # the next wave waits for this one
            if self.on_wave_done is not None:
                self.on_wave_done(wave.index, names)
        return outcome

    def _run_wave(self, wave: int, names: list[str]) -> None:
        self._finished.update({name: threading.Event() for name in names})
        pool: Executor
        with ThreadPoolExecutor(
            max_workers=max(1, self.settings.parallel_services), thread_name_prefix="service"
        ) as pool:
            futures = [pool.submit(self._run_service, wave, name) for name in names]
            for future in futures:
                future.result()

    def _run_service(self, wave: int, name: str) -> None:
        try:
            self._outcomes[name] = self._service_steps(wave, self._configs[name])
        except Exception as error:  # a bug: the service fails, the run goes on
            message = f"internal error ({type(error).__name__}: {error}); please report it"
            self.ledger.set_service_state(name, "failed", None, message)
            self._outcomes[name] = ServiceOutcome(name, "failed", None, message)
        finally:
            self._finished[name].set()

    def _service_steps(self, wave: int, service: ServiceConfig) -> ServiceOutcome:
        name = service.name
        record = self.ledger.service(name)
        if record.state == "done":
            return ServiceOutcome(name, "done", record.step, "already done")
        planned = self.plan.services[name]
        for step in planned.steps:
            if step in record.done_steps:
                continue
            blocked = self._gate(service, step)
            if blocked is not None:
                return blocked
            self.ledger.set_service_state(name, "running", step)
            self.ledger.step_started(self.settings.run_id, name, step)
            self.progress.step(name, step, "started")
            try:
                detail = self.handlers.run(self._context(wave, service, step))
            except Interrupted:
                self.ledger.step_finished(
                    self.settings.run_id, name, step, "started", "interrupted"
                )
                self.ledger.set_service_state(name, "pending", step, "interrupted; apply resumes")
                return ServiceOutcome(name, "pending", step, "interrupted")
            except StepFailed as failure:
                message = str(failure)
                self.ledger.step_finished(self.settings.run_id, name, step, "failed", message)
                self.ledger.set_service_state(name, "failed", step, message)
                self.progress.step(name, step, "failed", message)
                return ServiceOutcome(name, "failed", step, message)
            self.ledger.step_finished(self.settings.run_id, name, step, "done", detail)
            if step == "cutover":
                self.ledger.audit(
                    [
                        AuditEvent(
                            "service.cutover",
                            name,
                            project=service.project,
                            detail={"run": self.settings.run_id},
                        )
                    ]
                )
            self.progress.step(name, step, "done", detail)
        self.ledger.set_service_state(name, "done", planned.steps[-1])
        return ServiceOutcome(name, "done", planned.steps[-1])

    def _gate(self, service: ServiceConfig, step: str) -> ServiceOutcome | None:
        """Why the service cannot run ``step`` now (stop, dependencies, approval), or None."""
        name = service.name
        if self.stop.is_set():
            self.ledger.set_service_state(name, "pending", step, "interrupted; apply resumes")
            return ServiceOutcome(name, "pending", step, "interrupted")
        if step == "cutover":
            waiting = self._dependencies_not_cut_over(service)
            if waiting:
                message = f"cutover waits for {', '.join(waiting)} to be done first"
                self.ledger.set_service_state(name, "pending", step, message)
                return ServiceOutcome(name, "pending", step, message)
            overrun = self._budget_overrun(service)
            if overrun is not None:
                return overrun
        if step in service.approval and not self.ledger.is_approved(name, step):
            message = f"waiting for `migrate approve {name} {step}`"
            self.ledger.step_finished(self.settings.run_id, name, step, "waiting-approval", message)
            self.ledger.set_service_state(name, "waiting-approval", step, message)
            self.progress.step(name, step, "waiting-approval", message)
            return ServiceOutcome(name, "waiting-approval", step, message)
        return None

    def _budget_overrun(self, service: ServiceConfig) -> ServiceOutcome | None:
        """Past the write-freeze budget before cutover: roll back, or hold for an approval
        given after the budget ran out (an earlier approval does not count)."""
        record = self.ledger.service(service.name)
        budget = service.max_downtime
        if budget is None or record.freeze_started_at is None:
            return None
        elapsed = seconds_since(record.freeze_started_at)
        if elapsed <= budget:
            return None
        name = service.name
        reason = f"the write freeze has lasted {elapsed:.0f} s, over the {budget} s budget"
        if service.on_budget_exceeded == "rollback":
            try:
                detail = roll_back(
                    self.ledger,
                    service,
                    wave=record.wave,
                    run_id=self.settings.run_id,
                    state_url=self.settings.state_url,
                    hook_timeout=self.settings.hook_timeout,
                    reason=reason,
                )
            except StepFailed as failure:
                return ServiceOutcome(name, "failed", "rollback", str(failure))
            self.progress.step(name, "rollback", "done", detail)
            return ServiceOutcome(name, "rolled-back", "rollback", detail)
        approved = self.ledger.approval_time(name, "cutover")
        ran_out = parse_iso(record.freeze_started_at).timestamp() + budget
        if approved is not None and parse_iso(approved).timestamp() > ran_out:
            return None
        message = (
            f"{reason}: `migrate approve {name} cutover` to cut over anyway, "
            f"or `migrate rollback {name}`"
        )
        self.ledger.step_finished(
            self.settings.run_id, name, "cutover", "waiting-approval", message
        )
        self.ledger.set_service_state(name, "waiting-approval", "cutover", message)
        self.progress.step(name, "cutover", "waiting-approval", message)
        return ServiceOutcome(name, "waiting-approval", "cutover", message)

    def _dependencies_not_cut_over(self, service: ServiceConfig) -> list[str]:
        unit = next((set(u.services) for u in self.plan.units if service.name in u.services), set())
        waiting = []
        for dependency in service.depends_on:
            if dependency in unit:
                continue  # a cycle cuts over together
            event = self._finished.get(dependency)
            if event is not None:
                event.wait()
            if self.ledger.service(dependency).state != "done":
                waiting.append(dependency)
        return waiting

    def _context(self, wave: int, service: ServiceConfig, step: str) -> StepContext:
        planned = self.plan.services[service.name]
        route = None
        if planned.bucket is not None and planned.container is not None:
            target = self.inventory.target
            route = Route(
                service.name,
                planned.container,
                planned.bucket,
                Encryption(target.encryption, target.kms_key_id),
                project=service.project,
            )
        tags = {"hdh-service": service.name, "hdh-managed-by": "hdh-migrate"}
        if service.project:
            tags["hdh-project"] = service.project
        return StepContext(
            service=service,
            step=step,
            wave=wave,
            run_id=self.settings.run_id,
            state_url=self.settings.state_url,
            route=route,
            prefix=planned.prefix,
            hook_timeout=self.settings.hook_timeout,
            tags=tags,
            verify_level=planned.verify,
            propagate_deletes=planned.propagate_deletes,
        )
