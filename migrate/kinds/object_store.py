"""Object stores: prepare (bucket with default encryption and tags), replicate (listing into
the ledger, then copies), verify (every listed object done and checked), freeze (sync rounds
until what is left fits the downtime budget), sync (list again under the freeze, copy what is
new or changed, then deletions), validate (every listed object copied and checked)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace

from migrate.audit import AuditEvent
from migrate.errors import StorageError, UnsupportedFeature
from migrate.executor.copy import Interrupted, Route
from migrate.executor.objects import ListingSummary
from migrate.executor.retry import retrying
from migrate.executor.verify import record_verification, verify_service
from migrate.kinds.base import (
    DATA_STEPS,
    Action,
    ApprovalNeeded,
    KindSteps,
    ServiceKind,
    StepContext,
    StepFailed,
    StepResources,
)
from migrate.ledger import ObjectCounts
from migrate.ports import BucketSettings
from migrate.units import format_bytes

MAX_CONVERGE_ROUNDS = 5


class ObjectStoreSteps:
    def __init__(self, resources: StepResources) -> None:
        self.ledger = resources.ledger
        self.target = resources.target
        self.mover = resources.mover
        self.policy = resources.policy
        self.bandwidth = resources.bandwidth

    def actions(self) -> Mapping[str, Action]:
        return {
            "prepare": self._prepare,
            "replicate": self._replicate,
            "verify": self._verify,
            "freeze": self._converge,
            "sync": self._sync,
            "validate": self._check_all_done,
        }

    def freeze_blocker(self, ctx: StepContext) -> str | None:
        return None

    def _prepare(self, ctx: StepContext) -> str:
        """The bucket, its default encryption and tags. A feature the provider declares
        absent is not asked for; one it may lack (only a probe can tell) is tried, and the
        step goes on with a warning when the server does not implement it."""
        route = _route(ctx)
        features = dict(ctx.target_features or {})
        settings = BucketSettings(
            route.encryption,
            ctx.tags if features.get("bucket_tagging") is not False else {},
            default_encryption=features.get("bucket_encryption") is not False,
        )
        lacking = [name for name in _FEATURE_WARNINGS if features.get(name) is False]
        while True:
            try:
                created = self._ensure_bucket(route.bucket, settings)
                break
            except UnsupportedFeature as missing:
                if features.get(missing.feature) is not None or missing.feature in lacking:
                    raise StepFailed(f"bucket '{route.bucket}': {missing}") from None
                lacking.append(missing.feature)
                settings = _without(settings, missing.feature)
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
                            "service": ctx.name,
                            "encryption": route.encryption.mode,
                            "tags": dict(settings.tags),
                        },
                    )
                ]
            )
        verb = "created" if created else "checked"
        detail = f"bucket '{route.bucket}' {verb} (encryption {route.encryption.mode})"
        return detail + "".join(f"; warning: {_FEATURE_WARNINGS[name]}" for name in lacking)

    def _ensure_bucket(self, bucket: str, settings: BucketSettings) -> bool:
        for attempt in retrying(self.policy):
            with attempt:
                return self.target.ensure_bucket(bucket, settings)
        raise AssertionError("unreachable: retrying() raises when attempts run out")

    def _replicate(self, ctx: StepContext) -> str:
        before = self.ledger.counts(ctx.name).done
        listing, counts = self._list_and_copy(ctx, _route(ctx))
        if self.ledger.service(ctx.name).listing_complete:
            # rows the complete listing no longer shows and that were never copied (a blob
            # refused by name, then renamed at the source) are retired now, not at the sync
            # this failed step would never reach; copied ones wait for the sync's decision
            self.ledger.retire_unlisted(ctx.name, listing.generation)
            counts = self.ledger.counts(ctx.name)
        detail = (
            f"listed {listing.new} new, {listing.changed} changed, {listing.unchanged} unchanged; "
            f"{counts.done}/{counts.total} objects done ({format_bytes(counts.bytes_done)}), "
            f"{max(0, counts.done - before)} copied by this run"
        )
        if listing.excluded:
            detail += f"; {listing.excluded} left out by the filter"
        if counts.failed:
            raise StepFailed(
                f"{counts.failed} of {counts.total} objects failed (see `migrate status`); fix "
                "the causes, then `migrate apply --only-failed`"
            )
        return detail

    def _list_and_copy(self, ctx: StepContext, route: Route) -> tuple[ListingSummary, ObjectCounts]:
        """List and copy at once (the copies start with the listing's first page); objects
        that changed while they were read are listed and taken again."""
        listing, counts = self._listed_copy(ctx, route)
        rounds = 0
        while counts.changed and rounds < MAX_CONVERGE_ROUNDS:
            rounds += 1
            listing, counts = self._listed_copy(ctx, route)
        return listing, counts

    def _listed_copy(self, ctx: StepContext, route: Route) -> tuple[ListingSummary, ObjectCounts]:
        outcome: list[ListingSummary] = []

        def run() -> ObjectCounts:
            listing, counts = self.mover.list_and_copy(route, ctx.prefix, ctx.key_filter)
            outcome.append(listing)
            return counts

        try:
            counts = self._copy(ctx.name, route, run)
        except StorageError as error:
            raise StepFailed(f"listing container '{route.container}': {error}") from None
        if self.mover.stop.is_set():
            raise Interrupted  # a listing cut short is never taken for a whole one
        return outcome[0], counts

    def _copy(
        self, service: str, route: Route, run: Callable[[], ObjectCounts] | None = None
    ) -> ObjectCounts:
        """Copy what is pending (or what ``run`` lists and copies); remember the throughput
        it reached (for freeze planning)."""
        before = self.ledger.counts(service).bytes_done
        counts = run() if run is not None else self.mover.copy_pending(route)
        elapsed = self.mover.busy_seconds  # the copies' own time, not the listing's
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
                ctx.name,
                route.bucket,
                self.ledger,
                self.target,
                level=ctx.verify_level,
                policy=self.policy,
                workers=self.mover.workers,
                encrypted=route.encryption.enabled,
                trust_write_checks=True,
                keep=ctx.key_filter,
                prefix=ctx.prefix,
            )
        except StorageError as error:
            raise StepFailed(f"verifying bucket '{route.bucket}': {error}") from None
        record_verification(self.ledger, ctx.name, ctx.service.project, report, ctx.run_id, "apply")
        refuted = [(d.key, d.problem) for d in report.differences if d.refuted]
        self.ledger.fail_objects(ctx.name, refuted)  # not done: --only-failed retakes
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
        budget = ctx.max_downtime
        if budget is None:
            return "no downtime budget (max_downtime): no sync round before the freeze"
        route = _route(ctx)
        rounds = 0
        while True:
            self._listing(ctx, route)
            _, left = self.ledger.pending_bytes(ctx.name)
            rate = self.ledger.service(ctx.name).throughput or self.bandwidth
            estimate = left / rate
            if estimate <= budget / 2 or rounds >= MAX_CONVERGE_ROUNDS:
                break
            rounds += 1
            self._copy(ctx.name, route)
        return (
            f"{rounds} sync rounds before the freeze; {format_bytes(left)} left, about "
            f"{estimate:.1f} s at {format_bytes(rate)}/s (budget {budget} s)"
        )

    def _listing(self, ctx: StepContext, route: Route) -> ListingSummary:
        try:
            listing = self.mover.inventory(ctx.name, route.container, ctx.prefix, ctx.key_filter)
        except StorageError as error:
            raise StepFailed(f"listing container '{route.container}': {error}") from None
        if self.mover.stop.is_set():
            raise Interrupted
        return listing

    def _sync(self, ctx: StepContext) -> str:
        """Under the freeze: the final delta, then deletions (only when asked, only clean)."""
        route = _route(ctx)
        listing, _ = self._list_and_copy(ctx, route)
        if not self.ledger.service(ctx.name).listing_complete:
            raise StepFailed(
                f"the final listing of '{route.container}' did not complete: nothing is "
                "deleted from a partial listing; apply again"
            )
        approved = ctx.propagate_deletes and self._guard_deletions(
            ctx, self.ledger.unlisted_copied(ctx.name, listing.generation)
        )
        retired = self.ledger.retire_unlisted(ctx.name, listing.generation)
        # Only names the service's filter keeps: an object it leaves out is never the
        # service's to delete (a filter change is a route change, refused; this holds anyway).
        keep = ctx.key_filter
        gone = [key for key in retired if keep.keeps(key)]
        counts = self.ledger.counts(ctx.name)
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
        self.ledger.mark_deleted(ctx.name, gone)
        if approved:
            self.ledger.release_deletion_hold(ctx.name)
        self.ledger.audit(
            [
                AuditEvent(
                    "object.deleted",
                    f"{route.bucket}/{key}",
                    project=route.project,
                    detail={"service": ctx.name, "reason": "deleted at the source"},
                )
                for key in gone
            ]
        )
        left = self.ledger.counts(ctx.name).done  # what the target holds now, as validate says
        return (
            f"final delta: {listing.new} new, {listing.changed} changed; {left} objects copied; "
            f"{len(gone)} deleted at the source, deleted on the target"
        )

    def _guard_deletions(self, ctx: StepContext, count: int) -> bool:
        """Stop before deleting more than the policy allows (``max_delete_fraction`` of the
        service's copied objects, or ``max_deletes``) unless a person approved the sync after
        it last stopped here. A truncated or empty listing would look exactly like this.
        Returns True when the deletions go ahead on such an approval."""
        copied = self.ledger.counts(ctx.name).done
        limits = ctx.policy
        share = count / copied if copied else 0.0
        if count <= limits.max_deletes and share <= limits.max_delete_fraction:
            return False
        if self.ledger.deletions_approved(ctx.name):
            return True
        self.ledger.hold_deletions(ctx.name)
        raise ApprovalNeeded(
            f"the final sync would delete {count} of the {copied} objects copied to the "
            f"target ({share:.1%}), over policy.max_delete_fraction "
            f"{limits.max_delete_fraction:.0%} or policy.max_deletes {limits.max_deletes}: "
            "nothing was deleted. A truncated or wrong source listing looks like this: check "
            f"the source; if the deletions are real, `migrate approve {ctx.name} sync`, then "
            "apply again"
        )

    def _check_all_done(self, ctx: StepContext) -> str:
        """Every listed object copied and checked, and the target still holds each of them at
        its size (its listing against the ledger: the target, not only the ledger, is looked
        at after the cutover)."""
        counts = self.ledger.counts(ctx.name)
        if counts.failed or counts.pending:
            raise StepFailed(
                f"{counts.failed} failed and {counts.pending} pending of {counts.total} objects: "
                "every listed object must be copied and checked first"
            )
        route = _route(ctx)
        try:
            report = verify_service(
                ctx.name,
                route.bucket,
                self.ledger,
                self.target,
                level="listing",
                policy=self.policy,
                keep=ctx.key_filter,
                prefix=ctx.prefix,
            )
        except StorageError as error:
            raise StepFailed(f"listing bucket '{route.bucket}' to validate: {error}") from None
        missing = [d for d in report.differences if d.cause != "target extra"]
        if missing:
            shown = "; ".join(f"{d.key!r}: {d.problem}" for d in missing[:10])
            raise StepFailed(
                f"the target does not hold {len(missing)} of the copied objects: {shown}; "
                f"`migrate verify {ctx.name}` then repair before cutting over again"
            )
        return (
            f"{counts.done} objects, {format_bytes(counts.bytes_done)}, all copied and checked; "
            f"the target lists every one of them at its size"
        )


_FEATURE_WARNINGS = {
    "bucket_tagging": "the target has no bucket tagging: the bucket is not tagged",
    "bucket_encryption": (
        "the target has no bucket default encryption: each object still carries its own "
        "encryption, checked at its write"
    ),
}


def _without(settings: BucketSettings, feature: str) -> BucketSettings:
    if feature == "bucket_tagging":
        return replace(settings, tags={})
    return replace(settings, default_encryption=False)


def _route(ctx: StepContext) -> Route:
    if ctx.route is None:
        raise StepFailed(f"{ctx.name} has no container and bucket to work on")
    return ctx.route


def _build(resources: StepResources) -> KindSteps:
    return ObjectStoreSteps(resources)


KIND = ServiceKind(
    names=("object-store",),
    steps=DATA_STEPS,
    needs_data=True,
    build=_build,
    copy_steps=("replicate", "freeze", "sync"),
    description="a container copied object by object into a bucket, resumably",
)
