"""Object work in batches (the dask executor's coordinator), against in-memory fakes and a
cluster made of threads."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from hypothesis import given
from hypothesis import strategies as st

from migrate.executor.batches import (
    BatchLimits,
    BatchOutcome,
    BatchRunner,
    MemoryJournal,
    ObjectBatch,
    copy_batch,
    cut_batches,
    shard_of,
)
from migrate.executor.copy import Copier, CopySettings, Route
from migrate.executor.objects import ObjectMover
from migrate.executor.progress import NullProgress
from migrate.executor.retry import RetryPolicy
from migrate.ledger import ObjectTask
from migrate.ports import Encryption, ObjectAttributes
from state.store import Store
from tests.fakes import FakeSource, FakeTarget

KiB = 1024
ROUTE = Route("svc-data", "src", "dst", Encryption("AES256"))
SETTINGS = CopySettings(multipart_threshold=8 * KiB, part_size=4 * KiB, chunk_size=1 * KiB)
POLICY = RetryPolicy(attempts=2, max_seconds=60)


class WorkerDied(Exception):
    """What a batch ends with when its worker process is gone."""


class Notes(NullProgress):
    def __init__(self) -> None:
        self.notes: list[str] = []

    def note(self, message: str) -> None:
        self.notes.append(message)


class ThreadCluster:
    """A cluster of threads with the worker side of the real one: its own copier and journal,
    no ledger. ``lose(batch)`` says whether this attempt of the batch dies with its worker."""

    def __init__(
        self, source: FakeSource, target: FakeTarget, lose: Callable[[ObjectBatch], bool]
    ) -> None:
        self.journal = MemoryJournal()
        self.copier = Copier(source, target, self.journal, settings=SETTINGS, policy=POLICY)
        self.pool = ThreadPoolExecutor(max_workers=3)
        self.lose = lose
        self.batches: list[ObjectBatch] = []

    @property
    def capacity(self) -> int:
        return 4

    @property
    def processes(self) -> int:
        return 2

    def submit(self, batch: ObjectBatch) -> Future[BatchOutcome]:
        self.batches.append(batch)
        return self.pool.submit(self._run, batch)

    def _run(self, batch: ObjectBatch) -> BatchOutcome:
        if self.lose(batch):
            raise WorkerDied(f"worker of batch {batch.number} was killed")
        return copy_batch(self.copier, self.journal, batch)


if TYPE_CHECKING:  # mypy checks the fake cluster against the port it stands for
    _cluster: BatchRunner = ThreadCluster(FakeSource(), FakeTarget(), lambda _batch: False)


def _mover(
    source: FakeSource,
    target: FakeTarget,
    store: Store,
    cluster: ThreadCluster,
    progress: NullProgress | None = None,
) -> ObjectMover:
    coordinator = Copier(source, target, store, settings=SETTINGS, policy=POLICY)
    return ObjectMover(
        source,
        store,
        coordinator,
        ThreadPoolExecutor(max_workers=1),
        progress or NullProgress(),
        workers=1,
        policy=POLICY,
        cluster=cluster,
        limits=BatchLimits(objects=8, size=64 * KiB, attempts=3),
    )


def _fill(source: FakeSource, count: int, size: int = 300) -> dict[str, bytes]:
    bodies = {f"data/{n:04d}.bin": os.urandom(size) for n in range(count)}
    for key, body in bodies.items():
        source.add("src", key, body)
    return bodies


def test_every_object_is_copied_once_in_bounded_batches(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    bodies = _fill(source, 100)
    cluster = ThreadCluster(source, target, lambda _b: False)
    mover = _mover(source, target, store, cluster)
    mover.inventory("svc-data", "src", "")
    counts = mover.copy_pending(ROUTE)
    assert (counts.done, counts.total, counts.failed) == (100, 100, 0)
    assert {k: v.body for k, v in target.buckets["dst"].items()} == bodies
    keys = [task.key for batch in cluster.batches for task in batch.tasks]
    assert sorted(keys) == sorted(bodies)
    assert all(len(batch.tasks) <= 8 for batch in cluster.batches)
    assert all(batch.attempt == 1 for batch in cluster.batches)


def test_a_lost_batch_is_submitted_again(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    bodies = _fill(source, 40)
    cluster = ThreadCluster(source, target, lambda batch: batch.attempt == 1)
    notes = Notes()
    mover = _mover(source, target, store, cluster, notes)
    mover.inventory("svc-data", "src", "")
    counts = mover.copy_pending(ROUTE)
    assert (counts.done, counts.failed) == (40, 0)
    assert set(target.buckets["dst"]) == set(bodies)
    assert notes.notes
    assert "did not come back (WorkerDied: worker of batch" in notes.notes[0]
    assert "attempt 2 of 3" in notes.notes[0]


def test_a_batch_lost_every_time_fails_its_objects_with_the_reason(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    _fill(source, 5)
    cluster = ThreadCluster(source, target, lambda _b: True)
    mover = _mover(source, target, store, cluster)
    mover.inventory("svc-data", "src", "")
    counts = mover.copy_pending(ROUTE)
    assert (counts.done, counts.failed) == (0, 5)
    assert max(batch.attempt for batch in cluster.batches) == 3
    with store.tx() as connection:
        from state.queries import failures

        reasons = [reason for _key, reason in failures(connection, "svc-data", 10)]
    assert len(reasons) == 5
    for reason in reasons:
        assert reason.startswith("the cluster failed this object's batch 3 times: WorkerDied")


def test_a_large_object_resumes_its_upload_after_a_lost_worker(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    """The coordinator starts the upload and writes it in the ledger before the batch leaves;
    the worker dies after one part; the batch taken again sends only the missing parts."""
    body = os.urandom(2 * 1024 * KiB + 100)  # parts are whole MiB: three
    source.add("src", "big.bin", body)
    target.faults.inject("upload_part", WorkerDied("killed while sending part 2"), at=[2])
    cluster = ThreadCluster(source, target, lambda _b: False)
    mover = _mover(source, target, store, cluster)
    mover.inventory("svc-data", "src", "")
    counts = mover.copy_pending(ROUTE)
    assert (counts.done, counts.failed) == (1, 0)
    assert target.buckets["dst"]["big.bin"].body == body
    assert target.mutations.count("create_multipart big.bin") == 1
    assert target.mutations.count("upload_part big.bin 1") == 1  # not sent again
    assert [b.attempt for b in cluster.batches] == [1, 2]
    assert cluster.batches[0].uploads["big.bin"] == cluster.batches[1].uploads["big.bin"]
    assert store.upload_of("svc-data", "big.bin") is None
    assert target.uploads == {}


def test_the_journal_hands_back_what_changed() -> None:
    journal = MemoryJournal()
    tasks = tuple(_task(n, f"k{n}", 10) for n in range(3))
    batch = ObjectBatch(1, ROUTE, tasks, uploads={"k0": ("up-0", 16), "k1": ("up-1", 16)})
    journal.take(batch)
    journal.forget_upload("svc-data", "k0")  # finished
    journal.record_upload("svc-data", "k2", "up-2", 16)  # started on the worker
    assert journal.give_back(batch) == {"k0": None, "k2": ("up-2", 16)}
    assert journal.upload_of("svc-data", "k1") is None  # nothing is kept after the batch


def _task(number: int, key: str, size: int) -> ObjectTask:
    return ObjectTask(number, "svc-data", key, size, f"e{number}", None, ObjectAttributes(), 0)


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=300), max_size=200),
    shards=st.integers(min_value=1, max_value=12),
    objects=st.integers(min_value=1, max_value=20),
    size_limit=st.integers(min_value=1, max_value=1000),
)
def test_batches_partition_the_claim_within_their_limits(
    sizes: list[int], shards: int, objects: int, size_limit: int
) -> None:
    tasks = [_task(n + 1, f"key-{n}", size) for n, size in enumerate(sizes)]
    batches = cut_batches(ROUTE, tasks, shards, BatchLimits(objects=objects, size=size_limit))
    assert sorted(t.id for b in batches for t in b.tasks) == [t.id for t in tasks]
    assert [b.number for b in batches] == list(range(1, len(batches) + 1))
    for batch in batches:
        assert batch.tasks
        assert len(batch.tasks) <= objects
        assert batch.size <= size_limit or len(batch.tasks) == 1
        assert len({shard_of(t.key, shards) for t in batch.tasks}) == 1


def test_the_shard_of_a_key_is_stable_across_processes() -> None:
    digest = hashlib.blake2b(b"cohort/2026/a.parquet", digest_size=8).digest()
    assert shard_of("cohort/2026/a.parquet", 7) == int.from_bytes(digest, "big") % 7


def test_each_worker_holds_its_share_of_the_bandwidth_limit(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    """The limit holds for the workers together: each batch brings the limit divided by the
    cluster's worker processes, and the worker's copier reads within it."""
    _fill(source, 20)
    cluster = ThreadCluster(source, target, lambda _b: False)
    mover = _mover(source, target, store, cluster)
    mover.copier.limiter.set_rate(8 * 1024**2)  # what the governor holds for the run
    mover.inventory("svc-data", "src", "")
    counts = mover.copy_pending(ROUTE)
    assert counts.done == 20
    assert {batch.rate_share for batch in cluster.batches} == {4 * 1024**2}  # 2 processes
    assert cluster.copier.limiter.rate == 4 * 1024**2
    mover.copier.limiter.set_rate(None)  # lifted: the next batches go unlimited
    assert mover._rate_share() is None
