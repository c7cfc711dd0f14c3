"""The object work of a service: a resumable listing into the ledger, and parallel copies
that start as soon as the first page is in it.

Only the thread that runs the service writes its results, in batches; copies run on the
shared worker pool, or on a cluster (a :class:`~migrate.executor.batches.BatchRunner`) in
batches whose results this thread commits as they come back. Claims are committed before any
byte moves (pending -> copying), results after the write check (copying -> done | failed); a
run that dies leaves rows 'copying', which the next run puts back to pending.

While the listing pass runs (on a thread of its own), copies claim only rows that pass has
already listed: it never lists them again, so a row's upsert never races its copy. Rows the
pass has not reached yet wait for it, or for its end. Names need no page-by-page collision
check: the mapping to target keys is the identity on every name it accepts, and the names a
stack would resolve to another key (``a//b``, ``a/./b``, a trailing ``/`` or ``.``) are
refused by name, before any read (``migrate.objectrules.key_problem``): two source names
never share a target key, whatever page each is on.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Sized
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import dataclass, field, replace

from migrate.audit import AuditEvent
from migrate.errors import StorageError
from migrate.executor.batches import (
    DEFAULT_LIMITS,
    BatchLimits,
    BatchOutcome,
    BatchRunner,
    ObjectBatch,
    Upload,
    cut_batches,
)
from migrate.executor.copy import Copier, Interrupted, Route
from migrate.executor.progress import Progress
from migrate.executor.retry import DEFAULT_RETRY, RetryPolicy, retrying
from migrate.filters import NO_FILTER, KeyFilter
from migrate.ledger import CopyResult, Ledger, ListingCounts, ObjectCounts, ObjectTask
from migrate.ports import ListingPage, SourceStore
from migrate.redact import redact

FLUSH_EVERY = 256
FLUSH_SECONDS = 1.0
WINDOW_PER_WORKER = 4  # copies claimed per worker: the pool never waits on a claim
LISTING_POLL = 0.05
"""While the listing runs: how long the copies wait for its next page, or for a copy to
end, before they claim again."""


@dataclass
class ListingSummary:
    generation: int = 0
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    excluded: int = 0
    """Listed at the source, left out by the service's ``include``/``exclude``."""

    def add(self, counts: ListingCounts) -> None:
        self.new += counts.new
        self.changed += counts.changed
        self.unchanged += counts.unchanged


class _BusyClock:
    """Seconds with copies in flight: a throughput over them is the copies' own, not the
    listing's (a pass that lists a million names to copy ten would otherwise seem slow)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._last = time.monotonic()

    def tick(self, copying: bool) -> None:
        now = time.monotonic()
        if copying:
            self.seconds += now - self._last
        self._last = now


class _Feed:
    """The listing pass running beside the copies: its generation, a wake-up per page, and
    how it ended (its summary, or the error that stopped it)."""

    def __init__(self, generation: int, keep: KeyFilter = NO_FILTER) -> None:
        self.generation = generation
        self.keep = keep
        self.summary = ListingSummary(generation=generation)
        self.error: BaseException | None = None
        self.cancel = threading.Event()
        self._done = False
        self._pages = threading.Condition()

    @property
    def running(self) -> bool:
        with self._pages:
            return not self._done

    def page_in(self) -> None:
        with self._pages:
            self._pages.notify_all()

    def finish(self) -> None:
        with self._pages:
            self._done = True
            self._pages.notify_all()

    def wait_page(self, timeout: float) -> None:
        with self._pages:
            if not self._done:
                self._pages.wait(timeout)


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
        cluster: BatchRunner | None = None,
        limits: BatchLimits = DEFAULT_LIMITS,
    ) -> None:
        self.source = source
        self.cluster = cluster
        self.limits = limits
        self.ledger = ledger
        self.copier = copier
        self.pool = pool
        self.progress = progress
        self.workers = workers
        self.policy = policy
        self.stop = stop or copier.stop
        self.busy_seconds = 0.0
        """Seconds the last ``copy_pending`` had copies in flight."""

    def inventory(
        self, service: str, container: str, prefix: str, keep: KeyFilter = NO_FILTER
    ) -> ListingSummary:
        """List the source into the ledger, page by page, resuming an interrupted pass."""
        feed = _Feed(self.ledger.begin_listing(service), keep)
        self._list_pages(service, container, prefix, feed)
        return feed.summary

    def list_and_copy(
        self, route: Route, prefix: str, keep: KeyFilter = NO_FILTER
    ) -> tuple[ListingSummary, ObjectCounts]:
        """List the source into the ledger on a thread of its own, and copy what it has
        listed from its first page on. A listing error is raised once the copies of what
        was listed are over (and recorded)."""
        feed = _Feed(self.ledger.begin_listing(route.service), keep)
        lister = threading.Thread(
            target=self._feed, args=(route, prefix, feed), name="list", daemon=True
        )
        lister.start()
        try:
            counts = self.copy_pending(route, feed)
        finally:
            feed.cancel.set()  # only if the copies stopped first (a stop, an error)
            lister.join()
        if feed.error is not None:
            raise feed.error
        if self.stop.is_set():
            return feed.summary, counts
        return feed.summary, self.ledger.counts(route.service)

    def _feed(self, route: Route, prefix: str, feed: _Feed) -> None:
        try:
            self._list_pages(route.service, route.container, prefix, feed)
        except BaseException as error:  # raised by list_and_copy, in the service's thread
            feed.error = error
        finally:
            feed.finish()

    def _list_pages(self, service: str, container: str, prefix: str, feed: _Feed) -> None:
        marker = self.ledger.service(service).listing_marker
        listed = 0
        size = 0
        while not self.stop.is_set() and not feed.cancel.is_set():
            page = self._page(container, prefix, marker)
            kept, left_out = feed.keep.split(page.objects)
            feed.summary.excluded += len(left_out)
            page = replace(page, objects=kept)
            feed.summary.add(
                self.ledger.ingest_listing(service, feed.generation, page.objects, page.next_marker)
            )
            feed.page_in()
            listed += len(page.objects)
            size += sum(o.size for o in page.objects)
            self.progress.listed(service, listed, size)
            if page.next_marker is None:
                self.ledger.finish_listing(service)
                return
            marker = page.next_marker

    def _page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        for attempt in retrying(self.policy, sleep=self._pause):
            with attempt:
                return self.source.list_page(container, prefix, marker)
        raise AssertionError("unreachable")  # pragma: no cover - tenacity reraises

    def _pause(self, seconds: float) -> None:
        """A listing retry's wait, cut short by a stop: the run stops at once, it does not
        wait for the listing's retries (up to ``policy.retry_max_time``)."""
        if self.stop.wait(seconds):
            raise Interrupted

    def copy_pending(self, route: Route, feed: _Feed | None = None) -> ObjectCounts:
        """Copy every pending object of the service (with ``feed``, as its listing pass
        lists them, until it ends); returns the ledger's counts after."""
        before = self.ledger.counts(route.service)
        self.progress.copying(route.service, before.done, before.bytes_done)
        if self.cluster is not None:
            return self._copy_on_cluster(route, self.cluster, feed)
        inflight: dict[Future[CopyResult], ObjectTask] = {}
        finished: queue.SimpleQueue[Future[CopyResult]] = queue.SimpleQueue()
        batch = _Batch()
        window = self.workers * WINDOW_PER_WORKER
        exhausted = False
        busy = _BusyClock()
        while True:
            busy.tick(bool(inflight))
            # Refill once half the window is free: one claim (one transaction) per
            # ``2 * workers`` objects or more, not one per finished object.
            if not exhausted and not self.stop.is_set() and len(inflight) <= window // 2:
                tasks, exhausted = self._claim(route, window - len(inflight), feed, inflight)
                for task in tasks:
                    future = self.pool.submit(self.copier.copy, route, task)
                    inflight[future] = task
                    future.add_done_callback(finished.put)
            if not inflight:
                if exhausted or self.stop.is_set():
                    break
                continue
            waiting = feed is not None and not exhausted
            for future in _finished(finished, timeout=LISTING_POLL if waiting else 0.5):
                task = inflight.pop(future)
                self._collect(route, task, future, batch)
            self._flush(batch, force=False)
        self._flush(batch, force=True)
        self.busy_seconds = busy.seconds
        return self.ledger.counts(route.service)

    def _claim(
        self, route: Route, limit: int, feed: _Feed | None, inflight: Sized
    ) -> tuple[list[ObjectTask], bool]:
        """The next tasks, and whether none is left. With a listing pass, only the rows it
        has listed (a row it does not list is gone at the source): while it runs, with
        nothing to copy yet, wait for its next page; once it has ended (whole, or stopped
        by an error), until none of its rows is left."""
        if feed is None:
            tasks = self.ledger.claim(route.service, limit)
            return tasks, not tasks
        running = feed.running
        tasks = self.ledger.claim(route.service, limit, feed.generation)
        if tasks or not running:
            return tasks, not tasks
        if not inflight:
            feed.wait_page(LISTING_POLL)
        return [], False

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
        self._add(route, task, result, batch)

    def _add(self, route: Route, task: ObjectTask, result: CopyResult, batch: _Batch) -> None:
        batch.results.append(result)
        event = _audit_event(route, task, result)
        if event is not None:
            batch.events.append(event)
        self.progress.copied(route.service, task.key, task.size, result.status, result.error)

    # -- on a cluster ---------------------------------------------------------------------

    def _copy_on_cluster(
        self, route: Route, cluster: BatchRunner, feed: _Feed | None
    ) -> ObjectCounts:
        """Claim, cut into batches, submit; commit each batch's results as it comes back. A
        lost or failed batch is submitted again, up to ``limits.attempts`` times."""
        inflight: dict[Future[BatchOutcome], ObjectBatch] = {}
        results = _Batch()
        numbers = 0
        exhausted = False
        busy = _BusyClock()
        while True:
            busy.tick(bool(inflight))
            free = cluster.capacity - len(inflight)
            if not exhausted and not self.stop.is_set() and free > 0:
                tasks, exhausted = self._claim(route, free * self.limits.objects, feed, inflight)
                for batch in cut_batches(route, tasks, free, self.limits, numbers + 1):
                    numbers = batch.number
                    inflight[cluster.submit(self._with_uploads(batch))] = batch
            if not inflight:
                if exhausted or self.stop.is_set():
                    break
                continue
            if self.stop.is_set():
                for future in inflight:
                    future.cancel()  # claimed rows stay 'copying': the next run takes them
                break
            poll = LISTING_POLL if feed is not None and not exhausted else 0.5
            done, _ = wait(inflight, timeout=poll, return_when=FIRST_COMPLETED)
            for future in done:
                batch = inflight.pop(future)
                retry = self._commit_batch(batch, future, results)
                if retry is not None:
                    inflight[cluster.submit(self._with_uploads(retry))] = retry
            self._flush(results, force=False)
        self._flush(results, force=True)
        self.busy_seconds = busy.seconds
        return self.ledger.counts(route.service)

    def _with_uploads(self, batch: ObjectBatch) -> ObjectBatch:
        """The batch with its large objects' uploads started and written in the ledger, and
        the worker's share of the bandwidth limit as it stands now."""
        uploads: dict[str, Upload] = {}
        for task in batch.tasks:
            try:
                upload = self.copier.prepare_upload(batch.route, task)
            except StorageError:
                upload = None  # the worker starts it (and reports it back)
            if upload is not None:
                uploads[task.key] = upload
        return replace(batch, uploads=uploads, rate_share=self._rate_share())

    def _rate_share(self) -> float | None:
        rate = self.copier.limiter.rate
        if rate is None or self.cluster is None:
            return rate
        return rate / max(1, self.cluster.processes)

    def _commit_batch(
        self, batch: ObjectBatch, future: Future[BatchOutcome], results: _Batch
    ) -> ObjectBatch | None:
        """Commit a finished batch; the batch to submit again when it was lost."""
        route = batch.route
        try:
            outcome = future.result()
        except Exception as error:  # a lost worker, a batch that raised: the cluster's word
            reason = redact(f"{type(error).__name__}: {error}")
            if batch.attempt < self.limits.attempts:
                self.progress.note(
                    f"{route.service}: batch {batch.number} did not come back ({reason}); "
                    f"submitted again (attempt {batch.attempt + 1} of {self.limits.attempts})"
                )
                return replace(batch, attempt=batch.attempt + 1)
            outcome = BatchOutcome(
                tuple(
                    CopyResult(
                        task.id,
                        "failed",
                        task.attempts + 1,
                        error=f"the cluster failed this object's batch {batch.attempt} times: "
                        f"{reason}",
                    )
                    for task in batch.tasks
                )
            )
        for key, upload in outcome.uploads.items():
            if upload is None:
                self.ledger.forget_upload(route.service, key)
            else:
                self.ledger.record_upload(route.service, key, *upload)
        tasks = {task.id: task for task in batch.tasks}
        for result in outcome.results:
            self._add(route, tasks[result.id], result, results)
        return None

    def _flush(self, batch: _Batch, *, force: bool) -> None:
        due = len(batch.results) >= FLUSH_EVERY or (
            time.monotonic() - batch.flushed_at >= FLUSH_SECONDS
        )
        if batch.results and (force or due):
            self.ledger.record_results(batch.results, batch.events)
            batch.results = []
            batch.events = []
            batch.flushed_at = time.monotonic()


def _finished(
    finished: queue.SimpleQueue[Future[CopyResult]], *, timeout: float
) -> list[Future[CopyResult]]:
    """The copies finished since the last call, waiting up to ``timeout`` for the first: the
    futures report themselves, so a wake-up costs the same whatever the window (``wait``
    installed and removed a waiter on every future in flight at each call)."""
    try:
        done = [finished.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            done.append(finished.get_nowait())
        except queue.Empty:
            return done


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
