"""Run one step of one service: the kind's action (migrate.kinds), then the step's hook.

The plan names the steps; the service's kind gives them their meaning. A hook named after a
step runs at that step, after the step's own action. The write-freeze clock starts when the
freeze step has run and stops at validate.
"""

from __future__ import annotations

from migrate.databases import DatabaseConnector
from migrate.executor.copy import Interrupted
from migrate.executor.lockwatch import LockWatch
from migrate.executor.objects import ObjectMover
from migrate.executor.orphans import HookCall, run_recorded_hook, settle_earlier_hook
from migrate.executor.retry import DEFAULT_RETRY, RetryPolicy
from migrate.kinds import kind
from migrate.kinds.base import KindSteps, StepContext, StepFailed, StepResources
from migrate.ledger import Ledger
from migrate.ports import TargetStore

__all__ = ["StepContext", "StepFailed", "StepHandlers", "hook_variables"]


def hook_variables(ctx: StepContext, step: str | None = None) -> dict[str, str]:
    return {
        "MIGRATE_SERVICE": ctx.name,
        "MIGRATE_STEP": step or ctx.step,
        "MIGRATE_WAVE": str(ctx.wave),
        "MIGRATE_RUN": ctx.run_id,
        "MIGRATE_STATE_URL": ctx.state_url,
    }


class StepHandlers:
    def __init__(
        self,
        ledger: Ledger,
        target: TargetStore,
        mover: ObjectMover,
        policy: RetryPolicy = DEFAULT_RETRY,
        bandwidth: float = 100 * 1024**2,
        lock: LockWatch | None = None,
        databases: DatabaseConnector | None = None,
    ) -> None:
        self.ledger = ledger
        self._resources = StepResources(ledger, target, mover, policy, bandwidth, databases)
        self._stop = mover.stop
        self._lock = lock
        """Asked again right before a hook: the step's action may have lasted."""
        self._kinds: dict[str, KindSteps] = {}

    @property
    def databases(self) -> DatabaseConnector | None:
        return self._resources.databases

    def kind_steps(self, name: str) -> KindSteps:
        """The actions of kind ``name`` for this run (built once)."""
        if name not in self._kinds:
            self._kinds[name] = kind(name).build(self._resources)
        return self._kinds[name]

    def run(self, ctx: StepContext) -> str:
        """Run one step; returns what it did (kept in the ledger). Raises StepFailed."""
        spec = kind(ctx.service.kind)
        hook = ctx.service.hook(ctx.step)
        # before the action: a hook an earlier run left running is waited for (or the step
        # refused) before anything of the step is done again
        earlier = settle_earlier_hook(self.ledger, _call(ctx, hook), self._stop) if hook else ""
        action = self.kind_steps(ctx.service.kind).actions().get(ctx.step)
        detail = _join(earlier, action(ctx) if action is not None else "")
        if ctx.step == spec.freeze_step:
            self.ledger.freeze_started(ctx.name, ctx.max_downtime)
        if hook is not None:
            detail = _join(detail, self._hook(ctx, hook))
        if ctx.step == (spec.freeze_ends or spec.steps[-1]):
            detail = _join(detail, self._freeze_window(ctx))
        return detail or "recorded (no hook)"

    def _freeze_window(self, ctx: StepContext) -> str:
        seconds = self.ledger.freeze_finished(ctx.name)
        if seconds is None:
            return ""
        budget = ctx.max_downtime
        if budget is None:
            return f"write freeze lasted {seconds:.1f} s (no budget set)"
        verdict = "within" if seconds <= budget else "OVER"
        return f"write freeze lasted {seconds:.1f} s, {verdict} the {budget} s budget"

    def _hook(self, ctx: StepContext, command: str) -> str:
        if self._lock is not None and not self._lock.holds():
            raise Interrupted(self._lock.lost)
        result = run_recorded_hook(self.ledger, _call(ctx, command))
        tail = result.output.strip()
        if not result.ok:
            raise StepFailed(f"{ctx.step} {result.describe()}" + (f":\n{tail}" if tail else ""))
        return f"{result.describe()}" + (f":\n{tail}" if tail else "")


def _call(ctx: StepContext, command: str) -> HookCall:
    return HookCall(
        service=ctx.name,
        step=ctx.step,
        run_id=ctx.run_id,
        command=command,
        variables=hook_variables(ctx),
        timeout=ctx.hook_timeout,
        passthrough=tuple(ctx.service.hooks_env),
    )


def _join(first: str, second: str) -> str:
    return "; ".join(part for part in (first, second) if part)
