"""The object work of a service in batches, for a cluster (``apply --executor dask``).

The coordinator (the process that runs apply) claims objects from the ledger, cuts them into
batches by key hash, sized by count and bytes, hands each batch to a :class:`BatchRunner`, and
commits each batch's results as they come back: it stays the only writer of the ledger.

A worker copies a batch with the same :class:`~migrate.executor.copy.Copier` as the local
executor. The multipart uploads of large objects are started by the coordinator and written in
the ledger before the batch leaves, so a batch taken again after a lost worker resumes them
from the parts the target lists; whatever a worker starts or finishes itself is kept in a
:class:`MemoryJournal` and handed back with the results.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol

from migrate.executor.copy import Copier, Route
from migrate.ledger import CopyResult, ObjectTask

MiB = 1024**2

Upload = tuple[str, int]
"""A multipart upload in flight: (upload id, part size)."""


@dataclass(frozen=True)
class BatchLimits:
    objects: int = 32
    """Objects per batch at most: results come back (and the dashboard moves) per batch."""
    size: int = 256 * MiB
    """Bytes per batch at most (a larger object goes alone)."""
    attempts: int = 3
    """Submissions of one batch (after a lost worker or a failed batch) before its objects
    are marked failed with the cluster's error."""


DEFAULT_LIMITS = BatchLimits()


@dataclass(frozen=True)
class ObjectBatch:
    number: int
    route: Route
    tasks: tuple[ObjectTask, ...]
    uploads: Mapping[str, Upload] = field(default_factory=dict)
    """The uploads in flight for the batch's keys, as the ledger knows them."""
    attempt: int = 1
    rate_share: float | None = None
    """Bytes per second the worker process that copies it may read (its share of the
    bandwidth limit; None: no limit), as the limit stood when the batch left."""

    @property
    def size(self) -> int:
        return sum(task.size for task in self.tasks)


@dataclass(frozen=True)
class BatchOutcome:
    results: tuple[CopyResult, ...]
    uploads: Mapping[str, Upload | None] = field(default_factory=dict)
    """What changed in the batch's uploads: a key's new upload, or None once it is over."""


class BatchRunner(Protocol):
    """Runs batches somewhere else (a dask cluster); every future ends with the outcome or
    with the error that lost the batch."""

    @property
    def capacity(self) -> int:
        """Batches to keep in flight so that no worker waits."""
        ...

    @property
    def processes(self) -> int:
        """The processes that copy: each takes an equal share of the bandwidth limit."""
        ...

    def submit(self, batch: ObjectBatch) -> Future[BatchOutcome]: ...


def shard_of(key: str, shards: int) -> int:
    """A stable spread of keys (same key, same shard, on every machine and run): batches mix
    prefixes rather than taking them in listing order."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % max(1, shards)


def cut_batches(
    route: Route,
    tasks: Sequence[ObjectTask],
    shards: int,
    limits: BatchLimits,
    first_number: int = 1,
) -> list[ObjectBatch]:
    """Group the claimed tasks by key hash into ``shards`` groups, then cut every group into
    batches of at most ``limits.objects`` objects and ``limits.size`` bytes."""
    groups: list[list[ObjectTask]] = [[] for _ in range(max(1, shards))]
    for task in tasks:
        groups[shard_of(task.key, shards)].append(task)
    batches: list[ObjectBatch] = []
    for group in groups:
        for chunk in _chunks(group, limits):
            batches.append(ObjectBatch(first_number + len(batches), route, tuple(chunk)))
    return batches


def _chunks(tasks: Iterable[ObjectTask], limits: BatchLimits) -> Iterable[list[ObjectTask]]:
    chunk: list[ObjectTask] = []
    size = 0
    for task in tasks:
        if chunk and (len(chunk) >= limits.objects or size + task.size > limits.size):
            yield chunk
            chunk, size = [], 0
        chunk.append(task)
        size += task.size
    if chunk:
        yield chunk


class MemoryJournal:
    """The uploads a worker process has in flight, shared by its threads (each key belongs to
    one batch at a time)."""

    def __init__(self) -> None:
        self._uploads: dict[tuple[str, str], Upload] = {}
        self._lock = threading.Lock()

    def record_upload(self, service: str, key: str, upload_id: str, part_size: int) -> None:
        with self._lock:
            self._uploads[(service, key)] = (upload_id, part_size)

    def upload_of(self, service: str, key: str) -> Upload | None:
        with self._lock:
            return self._uploads.get((service, key))

    def forget_upload(self, service: str, key: str) -> None:
        with self._lock:
            self._uploads.pop((service, key), None)

    def take(self, batch: ObjectBatch) -> None:
        """Start the batch from the coordinator's view of its uploads."""
        service = batch.route.service
        with self._lock:
            for task in batch.tasks:
                known = batch.uploads.get(task.key)
                if known is None:
                    self._uploads.pop((service, task.key), None)
                else:
                    self._uploads[(service, task.key)] = known

    def give_back(self, batch: ObjectBatch) -> dict[str, Upload | None]:
        """The changes since :meth:`take`, and the batch's keys forgotten here."""
        service = batch.route.service
        changes: dict[str, Upload | None] = {}
        with self._lock:
            for task in batch.tasks:
                now = self._uploads.pop((service, task.key), None)
                if now != batch.uploads.get(task.key):
                    changes[task.key] = now
        return changes


def copy_batch(copier: Copier, journal: MemoryJournal, batch: ObjectBatch) -> BatchOutcome:
    """Copy a batch, one object after the other (a worker runs one batch per thread)."""
    journal.take(batch)
    copier.limiter.set_rate(batch.rate_share)
    try:
        results = tuple(copier.copy(batch.route, task) for task in batch.tasks)
    finally:
        changes = journal.give_back(batch)
    return BatchOutcome(results, changes)
