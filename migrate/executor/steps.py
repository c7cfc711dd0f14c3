"""What each step does. The plan names the steps; this module gives them their meaning.

Object stores: prepare (bucket with default encryption and tags), replicate (listing into the
ledger, then copies), verify (every listed object done and checked), freeze (hook), sync (list
again, copy what is new or changed), cutover (hook), validate (hook, ledger check). Other
kinds: each step runs its hook, or only records itself when it has none. A hook named after a
step runs at that step, after the step's own action.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from migrate.audit import AuditEvent
from migrate.config import ServiceConfig
from migrate.errors import StorageError
from migrate.executor.copy import Interrupted, Route
from migrate.executor.hooks import run_hook
from migrate.executor.objects import ListingSummary, ObjectMover
from migrate.executor.retry import DEFAULT_RETRY, RetryPolicy, retrying
from migrate.executor.verify import verify_service
from migrate.ledger import Ledger, ObjectCounts
from migrate.ports import BucketSettings, TargetStore
from migrate.units import format_bytes

MAX_CONVERGE_ROUNDS = 5


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
    verify_level: str = "hash"
    propagate_deletes: bool = False


class StepHandlers:
    def __init__(
        self,
        ledger: Ledger,
        target: TargetStore,
        mover: ObjectMover,
        policy: RetryPolicy = DEFAULT_RETRY,
        bandwidth: float = 100 * 1024**2,
    ) -> None:
        self.ledger = ledger
        self.target = target
        self.mover = mover
        self.policy = policy
        self.bandwidth = bandwidth

    def run(self, ctx: StepContext) -> str:
        """Run one step; returns what it did (kept in the ledger). Raises StepFailed."""
        action = self._actions(ctx).get(ctx.step)
        detail = action(ctx) if action is not None else ""
        if ctx.step == "freeze":
            self.ledger.freeze_started(ctx.service.name, ctx.service.max_downtime)
        hook = ctx.service.hooks.for_step(ctx.step)
        if hook is not None:
            detail = _join(detail, self._hook(ctx, hook))
        if ctx.step == "validate":
            detail = _join(detail, self._freeze_window(ctx))
        return detail or "recorded (no hook)"

    def _actions(self, ctx: StepContext) -> dict[str, Callable[[StepContext], str]]:
        if ctx.route is None:
            return {}
        return {
            "prepare": self._prepare,
            "replicate": self._replicate,
            "verify": self._verify,
            "freeze": self._converge,
            "sync": self._sync,
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
        if created:
            self.ledger.audit(
                [
                    AuditEvent(
                        "bucket.created",
                        route.bucket,
                        project=route.project,
                        detail={
                            "service": ctx.service.name,
                            "encryption": route.encryption.mode,
                            "tags": ctx.tags,
                        },
                    )
                ]
            )
        verb = "created" if created else "checked"
        return f"bucket '{route.bucket}' {verb} (encryption {route.encryption.mode})"

    def _replicate(self, ctx: StepContext) -> str:
        listing, counts = self._list_and_copy(ctx, _route(ctx))
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

    def _list_and_copy(self, ctx: StepContext, route: Route) -> tuple[ListingSummary, ObjectCounts]:
        """List, copy; objects that changed while they were read are listed and taken again."""
        listing = self._listing(ctx, route)
        counts = self._copy(ctx.service.name, route)
        rounds = 0
        while counts.changed and rounds < MAX_CONVERGE_ROUNDS:
            rounds += 1
            listing = self._listing(ctx, route)
            counts = self._copy(ctx.service.name, route)
        return listing, counts

    def _copy(self, service: str, route: Route) -> ObjectCounts:
        """Copy what is pending; remember the throughput it reached (for freeze planning)."""
        before = self.ledger.counts(service).bytes_done
        started = time.monotonic()
        counts = self.mover.copy_pending(route)
        elapsed = time.monotonic() - started
        moved = counts.bytes_done - before
        if moved > 0 and elapsed > 0:
            self.ledger.set_throughput(service, moved / elapsed)
        if self.mover.stop.is_set() and counts.pending:
            raise Interrupted
        return counts

    def _verify(self, ctx: StepContext) -> str:
        route = _route(ctx)
        try:
            report = verify_service(
                ctx.service.name,
                route.bucket,
                self.ledger,
                self.target,
                level=ctx.verify_level,
                policy=self.policy,
                workers=self.mover.workers,
                encrypted=route.encryption.enabled,
                trust_write_checks=True,
            )
        except StorageError as error:
            raise StepFailed(f"verifying bucket '{route.bucket}': {error}") from None
        self.ledger.record_verification(
            ctx.service.name,
            report.level,
            report.checked,
            len(report.differences),
            json.dumps(report.summary()),
        )
        refuted = [(d.key, d.problem) for d in report.differences if d.refuted]
        self.ledger.fail_objects(ctx.service.name, refuted)  # not done: --only-failed retakes
        if not report.ok:
            shown = "; ".join(f"{d.key!r}: {d.problem}" for d in report.differences[:10])
            raise StepFailed(
                f"verify ({report.level}) found {len(report.differences)} differences: {shown}"
            )
        proofs = ", ".join(f"{n} {proof}" for proof, n in sorted(report.proofs.items()))
        heads = report.checked - report.unchanged
        return (
            f"verify ({report.level}): {report.checked} objects, no difference ({proofs}); "
            f"{report.unchanged} unchanged since their write check, {heads} HEADed"
        )

    def _converge(self, ctx: StepContext) -> str:
        """Before the write freeze: sync until what is left fits the downtime budget. Without
        a budget there is nothing to converge to: no listing (it would copy nothing, and the
        final sync lists again under the freeze)."""
        budget = ctx.service.max_downtime
        if budget is None:
            return "no downtime budget (max_downtime): no sync round before the freeze"
        route = _route(ctx)
        rounds = 0
        while True:
            self._listing(ctx, route)
            _, left = self.ledger.pending_bytes(ctx.service.name)
            rate = self.ledger.service(ctx.service.name).throughput or self.bandwidth
            estimate = left / rate
            if estimate <= budget / 2 or rounds >= MAX_CONVERGE_ROUNDS:
                break
            rounds += 1
            self._copy(ctx.service.name, route)
        return (
            f"{rounds} sync rounds before the freeze; {format_bytes(left)} left, about "
            f"{estimate:.1f} s at {format_bytes(rate)}/s (budget {budget} s)"
        )

    def _listing(self, ctx: StepContext, route: Route) -> ListingSummary:
        try:
            listing = self.mover.inventory(ctx.service.name, route.container, ctx.prefix)
        except StorageError as error:
            raise StepFailed(f"listing container '{route.container}': {error}") from None
        if self.mover.stop.is_set():
            raise Interrupted
        return listing

    def _sync(self, ctx: StepContext) -> str:
        """Under the freeze: the final delta, then deletions (only when asked, only clean)."""
        route = _route(ctx)
        listing, _ = self._list_and_copy(ctx, route)
        gone = self.ledger.retire_unlisted(ctx.service.name, listing.generation)
        counts = self.ledger.counts(ctx.service.name)
        if counts.failed or counts.pending:
            raise StepFailed(
                f"{counts.failed} failed and {counts.pending} pending objects after the final "
                "sync; deletions were not propagated. Fix them, then apply again"
            )
        detail = (
            f"final delta: {listing.new} new, {listing.changed} changed; "
            f"{counts.done} objects copied"
        )
        if not gone:
            return detail
        if not ctx.propagate_deletes:
            return detail + (
                f"; {len(gone)} deleted at the source kept on the target (propagate_deletes is off)"
            )
        for key in gone:
            try:
                for attempt in retrying(self.policy):
                    with attempt:
                        self.target.delete(route.bucket, key)
            except StorageError as error:
                raise StepFailed(f"deleting {key!r} from '{route.bucket}': {error}") from None
        self.ledger.mark_deleted(ctx.service.name, gone)
        self.ledger.audit(
            [
                AuditEvent(
                    "object.deleted",
                    f"{route.bucket}/{key}",
                    project=route.project,
                    detail={"service": ctx.service.name, "reason": "deleted at the source"},
                )
                for key in gone
            ]
        )
        return detail + f"; {len(gone)} deleted at the source, deleted on the target"

    def _freeze_window(self, ctx: StepContext) -> str:
        seconds = self.ledger.freeze_finished(ctx.service.name)
        if seconds is None:
            return ""
        budget = ctx.service.max_downtime
        if budget is None:
            return f"write freeze lasted {seconds:.1f} s (no budget set)"
        verdict = "within" if seconds <= budget else "OVER"
        return f"write freeze lasted {seconds:.1f} s, {verdict} the {budget} s budget"

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
