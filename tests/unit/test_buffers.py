"""The large copies' buffer pool: buffers are lent again, and the budget is never passed."""

from __future__ import annotations

import os
import threading

from migrate.executor.copy import Copier, CopySettings, Route, _Buffers
from migrate.ledger import ObjectTask
from migrate.ports import Encryption
from state.store import Store
from tests.fakes import FakeSource, FakeTarget

MiB = 1024 * 1024


def test_a_returned_buffer_is_lent_again() -> None:
    pool = _Buffers(8 * MiB)
    first = pool.take(3 * MiB)
    pool.give(first)
    assert pool.take(3 * MiB) is first
    pool.give(first)
    assert pool.take(int(2.5 * MiB)) is first  # rounded up to the same 3 MiB
    pool.give(first)
    assert pool.take(1 * MiB) is not first  # too large for it: the budget would be wasted
    assert pool.held == 4 * MiB


def test_a_request_waits_until_a_buffer_is_given_back() -> None:
    pool = _Buffers(3 * MiB)
    first = pool.take(2 * MiB)
    got: list[bytearray] = []
    waiter = threading.Thread(target=lambda: got.append(pool.take(2 * MiB)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive(), "a second buffer would pass the budget"
    assert not got
    pool.give(first)
    waiter.join(10)
    assert got
    assert got[0] is first
    assert pool.held == 2 * MiB


def test_kept_buffers_of_other_sizes_make_room() -> None:
    pool = _Buffers(4 * MiB)
    buffers = [pool.take(2 * MiB), pool.take(2 * MiB)]
    for buffer in buffers:
        pool.give(buffer)
    larger = pool.take(3 * MiB)
    assert len(larger) == 3 * MiB
    assert pool.held <= 4 * MiB


def test_one_buffer_larger_than_the_budget_when_nothing_else_is_alive() -> None:
    pool = _Buffers(2 * MiB)
    huge = pool.take(5 * MiB)
    assert len(huge) == 5 * MiB
    pool.give(huge)
    small = pool.take(1 * MiB)  # the kept 5 MiB buffer is dropped to make room
    assert len(small) == 1 * MiB
    assert pool.held == 1 * MiB


def _task(source: FakeSource, key: str, task_id: int) -> ObjectTask:
    info = source.containers["src"][key].info
    return ObjectTask(task_id, "svc-data", key, info.size, info.etag, info.md5, info.attributes, 0)


def test_copies_through_reused_buffers_keep_every_object_exact(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    """Objects of several sizes, in one PUT and in parts, one after another through the same
    buffers: each target object holds its own bytes, not a later object's."""
    bodies = {
        "a": os.urandom(int(1.5 * MiB)),
        "b": os.urandom(int(1.4 * MiB)),
        "c": os.urandom(3 * MiB + 7),  # in parts
        "d": os.urandom(int(1.5 * MiB)),
    }
    for key, body in bodies.items():
        source.add("src", key, body)
    settings = CopySettings(multipart_threshold=2 * MiB, part_size=1 * MiB, memory_budget=4 * MiB)
    engine = Copier(source, target, store, settings=settings)
    route = Route("svc-data", "src", "dst", Encryption("AES256"))
    try:
        for number, key in enumerate(bodies, 1):
            result = engine.copy(route, _task(source, key, number))
            assert result.status == "done", result.error
    finally:
        engine.close()
    assert {key: target.body("dst", key) for key in bodies} == bodies
    assert engine._buffers.held <= 4 * MiB
