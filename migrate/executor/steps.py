"""What each step does. The plan names the steps; this module gives them their meaning.

Object stores: prepare (bucket with default encryption and tags), replicate (listing into the
ledger, then copies), verify (every listed object done and checked), freeze (hook), sync (list
again, copy what is new or changed), cutover (hook), validate (hook, ledger check). Other
kinds: each step runs its hook, or only records itself when it has none. A hook named after a
step runs at that step, after the step's own action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from migrate.config import ServiceConfig
from migrate.errors import StorageError
from migrate.executor.copy import Interrupted, Route
from migrate.executor.hooks import run_hook
from migrate.executor.objects import ObjectMover
from migrate.executor.retry import DEFAULT_RETRY, RetryPolicy, retrying
from migrate.ledger import Ledger
from migrate.ports import BucketSettings, TargetStore
from migrate.units import format_bytes


class StepFailed(Exception):
    """The step did not succeed; the message says why and what to do."""


@dataclass(frozen=True)
class StepContext:
    service: ServiceConfig
    step: str
    wave: int
    run_id: str
    state_url: str
    route: Route | None
    prefix: str
    hook_timeout: float
    tags: dict[str, str]


class StepHandlers:
    def __init__(
        self,
        ledger: Ledger,
        target: TargetStore,
        mover: ObjectMover,
        policy: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self.ledger = ledger
        self.target = target
        self.mover = mover
        self.policy = policy

    def run(self, ctx: StepContext) -> str:
        """Run one step; returns what it did (kept in the ledger). Raises StepFailed."""
        action = self._actions(ctx).get(ctx.step)
        detail = action(ctx) if action is not None else ""
        hook = ctx.service.hooks.for_step(ctx.step)
        if hook is not None:
            detail = _join(detail, self._hook(ctx, hook))
        return detail or "recorded (no hook)"

    def _actions(self, ctx: StepContext) -> dict[str, Callable[[StepContext], str]]:
        if ctx.route is None:
            return {}
        return {
            "prepare": self._prepare,
            "replicate": self._replicate,
            "verify": self._check_all_done,
            "sync": self._replicate,
            "validate": self._check_all_done,
        }

    def _prepare(self, ctx: StepContext) -> str:
        route = _route(ctx)
        settings = BucketSettings(route.encryption, ctx.tags)
        try:
            for attempt in retrying(self.policy):
                with attempt:
                    created = self.target.ensure_bucket(route.bucket, settings)
        except StorageError as error:
            raise StepFailed(f"bucket '{route.bucket}': {error}") from None
        verb = "created" if created else "checked"
        return f"bucket '{route.bucket}' {verb} (encryption {route.encryption.mode})"

    def _replicate(self, ctx: StepContext) -> str:
        route = _route(ctx)
        try:
            listing = self.mover.inventory(ctx.service.name, route.container, ctx.prefix)
        except StorageError as error:
            raise StepFailed(f"listing container '{route.container}': {error}") from None
        if self.mover.stop.is_set():
            raise Interrupted
        counts = self.mover.copy_pending(route)
        if self.mover.stop.is_set() and counts.pending:
            raise Interrupted
        detail = (
            f"listed {listing.new} new, {listing.changed} changed, {listing.unchanged} unchanged; "
            f"{counts.done}/{counts.total} objects done ({format_bytes(counts.bytes_done)})"
        )
        if counts.failed:
            raise StepFailed(
                f"{counts.failed} of {counts.total} objects failed (see `migrate status`); fix "
                "the causes, then `migrate apply --only-failed`"
            )
        return detail

    def _check_all_done(self, ctx: StepContext) -> str:
        counts = self.ledger.counts(ctx.service.name)
        if counts.failed or counts.pending:
            raise StepFailed(
                f"{counts.failed} failed and {counts.pending} pending of {counts.total} objects: "
                "every listed object must be copied and checked first"
            )
        return f"{counts.done} objects, {format_bytes(counts.bytes_done)}, all copied and checked"

    def _hook(self, ctx: StepContext, command: str) -> str:
        variables = {
            "MIGRATE_SERVICE": ctx.service.name,
            "MIGRATE_STEP": ctx.step,
            "MIGRATE_WAVE": str(ctx.wave),
            "MIGRATE_RUN": ctx.run_id,
            "MIGRATE_STATE_URL": ctx.state_url,
        }
        result = run_hook(command, variables, ctx.hook_timeout)
        tail = result.output.strip()
        if not result.ok:
            raise StepFailed(f"{ctx.step} {result.describe()}" + (f":\n{tail}" if tail else ""))
        return f"{result.describe()}" + (f":\n{tail}" if tail else "")


def _route(ctx: StepContext) -> Route:
    if ctx.route is None:
        raise StepFailed(f"{ctx.service.name} has no container and bucket to work on")
    return ctx.route


def _join(first: str, second: str) -> str:
    return f"{first}; {second}" if first else second
