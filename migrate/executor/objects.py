"""The object work of a service: a resumable listing into the ledger, then parallel copies.

Only the thread that runs the service writes its results, in batches; copies run on the
shared worker pool. Claims are committed before any byte moves (pending -> copying), results
after the HEAD check (copying -> done | failed); a run that dies leaves rows 'copying', which
the next run puts back to pending.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field

from migrate.audit import AuditEvent
from migrate.executor.copy import Copier, Route
from migrate.executor.progress import Progress
from migrate.executor.retry import DEFAULT_RETRY, RetryPolicy, retrying
from migrate.ledger import CopyResult, Ledger, ListingCounts, ObjectCounts, ObjectTask
from migrate.ports import ListingPage, SourceStore

FLUSH_EVERY = 256
FLUSH_SECONDS = 1.0


@dataclass
class ListingSummary:
    generation: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    collisions: int = 0

    def add(self, counts: ListingCounts) -> None:
        self.new += counts.new
        self.changed += counts.changed
        self.unchanged += counts.unchanged


@dataclass
class _Batch:
    results: list[CopyResult] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    flushed_at: float = field(default_factory=time.monotonic)


class ObjectMover:
    def __init__(
        self,
        source: SourceStore,
        ledger: Ledger,
        copier: Copier,
        pool: Executor,
        progress: Progress,
        *,
        workers: int,
        policy: RetryPolicy = DEFAULT_RETRY,
        stop: threading.Event | None = None,
    ) -> None:
        self.source = source
        self.ledger = ledger
        self.copier = copier
        self.pool = pool
        self.progress = progress
        self.workers = workers
        self.policy = policy
        self.stop = stop or copier.stop

    def inventory(self, service: str, container: str, prefix: str) -> ListingSummary:
        """List the source into the ledger, page by page, resuming an interrupted pass."""
        generation = self.ledger.begin_listing(service)
        marker = self.ledger.service(service).listing_marker
        summary = ListingSummary(generation=generation)
        listed = 0
        size = 0
        while not self.stop.is_set():
            page = self._page(container, prefix, marker)
            summary.add(
                self.ledger.ingest_listing(service, generation, page.objects, page.next_marker)
            )
            listed += len(page.objects)
            size += sum(o.size for o in page.objects)
            self.progress.listed(service, listed, size)
            if page.next_marker is None:
                self.ledger.finish_listing(service)
                break
            marker = page.next_marker
        collisions = self.ledger.keys_colliding(service)
        self.ledger.fail_objects(
            service,
            [
                (
                    key,
                    f"name collides with {other!r} once '//' and '.' segments are normalised, "
                    "as some S3 stacks do; rename one of them at the source",
                )
                for key, other in collisions
            ],
        )
        summary.collisions = len(collisions)
        return summary

    def _page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        for attempt in retrying(self.policy):
            with attempt:
                return self.source.list_page(container, prefix, marker)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    def copy_pending(self, route: Route) -> ObjectCounts:
        """Copy every pending object of the service; returns the ledger's counts after."""
        inflight: dict[Future[CopyResult], ObjectTask] = {}
        batch = _Batch()
        window = self.workers * 2
        exhausted = False
        while True:
            if not exhausted and not self.stop.is_set() and len(inflight) < window:
                tasks = self.ledger.claim(route.service, window - len(inflight))
                exhausted = not tasks
                for task in tasks:
                    inflight[self.pool.submit(self.copier.copy, route, task)] = task
            if not inflight:
                break
            done, _ = wait(inflight, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                task = inflight.pop(future)
                self._collect(route, task, future, batch)
            self._flush(batch, force=False)
        self._flush(batch, force=True)
        return self.ledger.counts(route.service)

    def _collect(
        self, route: Route, task: ObjectTask, future: Future[CopyResult], batch: _Batch
    ) -> None:
        try:
            result = future.result()
        except Exception as error:  # a bug must not lose the run: the object fails, loudly
            result = CopyResult(
                task.id,
                "failed",
                task.attempts + 1,
                error=f"internal error ({type(error).__name__}: {error}); please report it",
            )
        batch.results.append(result)
        event = _audit_event(route, task, result)
        if event is not None:
            batch.events.append(event)
        self.progress.copied(route.service, task.key, task.size, result.status, result.error)

    def _flush(self, batch: _Batch, *, force: bool) -> None:
        due = len(batch.results) >= FLUSH_EVERY or (
            time.monotonic() - batch.flushed_at >= FLUSH_SECONDS
        )
        if batch.results and (force or due):
            self.ledger.record_results(batch.results, batch.events)
            batch.results = []
            batch.events = []
            batch.flushed_at = time.monotonic()


def _audit_event(route: Route, task: ObjectTask, result: CopyResult) -> AuditEvent | None:
    subject = f"{route.bucket}/{task.key}"
    if result.status == "done":
        return AuditEvent(
            "object.copied",
            subject,
            "ok",
            project=route.project,
            request_ids=tuple(v for v in (result.target_version,) if v),
            detail={
                "service": route.service,
                "size": task.size,
                "sha256": result.sha256,
                "proof": result.proof,
                "etag": result.target_etag,
            },
        )
    if result.status == "failed":
        return AuditEvent(
            "object.failed",
            subject,
            "failed",
            project=route.project,
            detail={
                "service": route.service,
                "attempts": result.attempts,
                "retries": result.retries,
                "error": result.error,
            },
        )
    return None
