"""Copies start with the listing's first page, against in-memory fakes: the listing waits for a
copy of its first page before it gives its second one, so a copy that waited for the whole
listing would never come."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from migrate.errors import TransientStorageError
from migrate.executor.copy import Copier, CopySettings, Interrupted, Route
from migrate.executor.objects import ObjectMover
from migrate.executor.progress import NullProgress
from migrate.executor.retry import RetryPolicy
from migrate.ports import Encryption, ListingPage, WriteResult
from state.store import Store
from tests.fakes import FakeSource, FakeTarget
from tests.planning import one_store_plan

ROUTE = Route("svc-data", "src", "dst", Encryption("AES256"))
POLICY = RetryPolicy(attempts=2, max_seconds=60)


class GatedSource(FakeSource):
    """Gives its second page only once ``gate`` is set (by the target's first write)."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()
        self.waited: list[bool] = []

    def list_page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        if marker is not None and not self.waited:
            self.waited.append(self.gate.wait(timeout=20))
        return super().list_page(container, prefix, marker)


def opening(target: FakeTarget, gate: threading.Event) -> list[str]:
    """Each write to ``target`` opens ``gate``; returns the keys written, in order."""
    order: list[str] = []
    put = target.put

    def opening_put(bucket: str, key: str, *rest: Any) -> WriteResult:
        order.append(key)
        written = put(bucket, key, *rest)
        gate.set()
        return written

    target.put = opening_put  # type: ignore[method-assign,assignment]
    return order


@pytest.fixture
def store(tmp_path: Path) -> Store:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.register_services(one_store_plan())
    return store


def _mover(
    source: FakeSource, target: FakeTarget, store: Store, pool: ThreadPoolExecutor
) -> ObjectMover:
    copier = Copier(source, target, store, settings=CopySettings(), policy=POLICY)
    return ObjectMover(source, store, copier, pool, NullProgress(), workers=2, policy=POLICY)


def test_the_first_copy_starts_before_the_listing_ends(store: Store) -> None:
    source = GatedSource()
    source.containers["src"] = {}
    for n in range(10):  # four pages of three
        source.add("src", f"k{n:02d}", os.urandom(100 + n))
    target = FakeTarget()
    target.buckets["dst"] = {}
    order = opening(target, source.gate)
    with ThreadPoolExecutor(max_workers=2) as pool:
        listing, counts = _mover(source, target, store, pool).list_and_copy(ROUTE, "")
    assert source.waited == [True]  # page 2 was asked for after a copy of page 1 was written
    assert order[0] in {"k00", "k01", "k02"}
    assert (listing.new, counts.done, counts.total) == (10, 10, 10)
    assert store.service("svc-data").listing_complete
    for n in range(10):
        assert target.body("dst", f"k{n:02d}") == source.containers["src"][f"k{n:02d}"].body


def test_twins_on_different_pages_never_reach_one_target_key(store: Store) -> None:
    """``x//y``, ``x/./y`` and ``x/y/`` name ``x/y`` on stacks that normalise paths; each is on a
    page of its own. Only ``x/y`` itself is written, with its own bytes, whatever the order."""
    source = FakeSource()
    source.capabilities = type(source.capabilities)(native_md5=True, page_size=1)
    source.containers["src"] = {}
    twins = ["x//y", "x/./y", "x/y", "x/y/"]
    for key in twins:
        source.add("src", key, os.urandom(64))
    target = FakeTarget()
    target.buckets["dst"] = {}
    with ThreadPoolExecutor(max_workers=4) as pool:
        _, counts = _mover(source, target, store, pool).list_and_copy(ROUTE, "")
    assert set(target.buckets["dst"]) == {"x/y"}
    assert target.body("dst", "x/y") == source.containers["src"]["x/y"].body
    assert (counts.done, counts.failed) == (1, 3)
    assert not [m for m in target.mutations if m.startswith("put") and m != "put x/y"]


def test_a_listing_that_fails_midway_keeps_what_it_copied_and_raises(store: Store) -> None:
    source = FakeSource()
    source.containers["src"] = {}
    for n in range(9):
        source.add("src", f"k{n:02d}", os.urandom(50))
    source.faults.inject("list", TransientStorageError("listing broke"), at=[2, 3])
    target = FakeTarget()
    target.buckets["dst"] = {}
    with ThreadPoolExecutor(max_workers=2) as pool, pytest.raises(TransientStorageError):
        _mover(source, target, store, pool).list_and_copy(ROUTE, "")
    counts = store.counts("svc-data")
    assert (counts.total, counts.done, counts.pending) == (3, 3, 0)
    assert not store.service("svc-data").listing_complete


def test_a_row_the_pass_does_not_list_is_not_copied(store: Store) -> None:
    """An earlier pass listed six objects and copied none; one is deleted at the source since.
    The new pass copies the five it lists and leaves the sixth to be retired, unread."""
    source = FakeSource()
    source.containers["src"] = {}
    for n in range(6):
        source.add("src", f"k{n:02d}", os.urandom(40))
    earlier = store.begin_listing("svc-data")
    store.ingest_listing(
        "svc-data",
        earlier,
        [source.containers["src"][k].info for k in source.containers["src"]],
        None,
    )
    store.finish_listing("svc-data")
    del source.containers["src"]["k03"]
    target = FakeTarget()
    target.buckets["dst"] = {}
    with ThreadPoolExecutor(max_workers=2) as pool:
        listing, counts = _mover(source, target, store, pool).list_and_copy(ROUTE, "")
    assert (listing.unchanged, counts.done, counts.pending) == (5, 5, 1)
    assert "put k03" not in target.mutations
    assert source.faults.calls.get("open", 0) == 5
    assert store.retire_unlisted("svc-data", listing.generation) == []  # none was copied
    assert (store.counts("svc-data").pending, store.counts("svc-data").total) == (0, 5)


class StoppingSource(FakeSource):
    """Fails its listing, and the run is stopped meanwhile (Ctrl-C during the retry wait)."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__()
        self.stop = stop
        self.calls = 0

    def list_page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        self.calls += 1
        self.stop.set()
        raise TransientStorageError("busy")


def test_a_stop_cuts_the_listings_retry_wait_short(store: Store) -> None:
    """The listing fails and its retry waits: a stop ends the run at once, without the next
    attempts (two more, after waits of up to 30 s each, here)."""
    stop = threading.Event()
    source = StoppingSource(stop)
    source.containers["src"] = {}
    target = FakeTarget()
    target.buckets["dst"] = {}
    copier = Copier(source, target, store, settings=CopySettings(), policy=POLICY, stop=stop)
    slow = RetryPolicy(attempts=3, max_seconds=60, base_seconds=30, cap_seconds=30)
    with ThreadPoolExecutor(max_workers=2) as pool:
        mover = ObjectMover(source, store, copier, pool, NullProgress(), workers=2, policy=slow)
        with pytest.raises(Interrupted):
            mover.list_and_copy(ROUTE, "")
    assert source.calls == 1
    assert not store.service("svc-data").listing_complete
