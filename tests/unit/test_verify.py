"""Verification levels against in-memory fakes: HEADs run in parallel, the report stays in
key order and names every difference."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from migrate.executor.copy import Copier, CopySettings, Route
from migrate.executor.objects import ObjectMover
from migrate.executor.progress import NullProgress
from migrate.executor.steps import StepContext, StepFailed, StepHandlers
from migrate.executor.verify import verify_service
from migrate.ports import Encryption, TargetCapabilities
from state.queries import failures
from state.store import Store
from tests.fakes import FakeSource, FakeTarget
from tests.planning import make_inventory, one_store_plan, service

ROUTE = Route("svc-data", "src", "dst", Encryption("AES256"))


@pytest.fixture
def copied(tmp_path: Path) -> tuple[Store, FakeTarget]:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.register_services(one_store_plan())
    source = FakeSource()
    source.containers["src"] = {}
    for n in range(60):
        source.add("src", f"k{n:03d}", os.urandom(200 + n))
    target = FakeTarget(TargetCapabilities(min_part_size=1024))
    target.buckets["dst"] = {}
    copier = Copier(source, target, store, settings=CopySettings())
    with ThreadPoolExecutor(max_workers=4) as pool:
        mover = ObjectMover(source, store, copier, pool, NullProgress(), workers=4)
        mover.inventory("svc-data", "src", "")
        assert mover.copy_pending(ROUTE).done == 60
    return store, target


def test_the_hash_level_heads_every_object(copied: tuple[Store, FakeTarget]) -> None:
    store, target = copied
    report = verify_service("svc-data", "dst", store, target, workers=6, encrypted=True)
    assert report.ok
    assert report.checked == 60
    assert target.faults.calls["head"] == 60
    assert sum(report.proofs.values()) == 60


def test_an_object_the_target_does_not_encrypt_is_a_difference(
    copied: tuple[Store, FakeTarget],
) -> None:
    store, target = copied
    for key in ("k007", "k042"):
        stored = target.buckets["dst"][key]
        stored.info = replace(stored.info, encryption=None)
    report = verify_service("svc-data", "dst", store, target, workers=6, encrypted=True)
    assert [d.key for d in report.differences] == ["k007", "k042"]
    assert all("server-side encryption" in d.problem for d in report.differences)


def test_deep_finds_bytes_changed_at_rest_in_key_order(copied: tuple[Store, FakeTarget]) -> None:
    store, target = copied
    for key in ("k050", "k003", "k020"):
        stored = target.buckets["dst"][key]
        stored.body = bytes([stored.body[0] ^ 1]) + stored.body[1:]
    report = verify_service("svc-data", "dst", store, target, level="deep", workers=6)
    assert [d.key for d in report.differences] == ["k003", "k020", "k050"]
    assert report.deep_checked == 60
    hashed = verify_service("svc-data", "dst", store, target, workers=6)
    assert hashed.ok  # same size and metadata: only a re-read finds it


def test_the_verify_step_takes_back_what_the_target_does_not_encrypt(
    copied: tuple[Store, FakeTarget],
) -> None:
    """The write's answer said encrypted; the HEAD of the verify step does not: the object is
    not done (failed, with the reason, for `apply --only-failed`) and the step fails."""
    store, target = copied
    stored = target.buckets["dst"]["k013"]
    stored.info = replace(stored.info, encryption=None)
    inventory = make_inventory([service("svc-data", size=1000)])
    mover = ObjectMover(
        FakeSource(),
        store,
        Copier(FakeSource(), target, store),
        ThreadPoolExecutor(1),
        NullProgress(),
        workers=4,
    )
    context = StepContext(
        service=inventory.services[0],
        step="verify",
        wave=1,
        run_id="run-1",
        state_url="sqlite://",
        route=ROUTE,
        prefix="",
        hook_timeout=10,
        tags={},
    )
    with pytest.raises(StepFailed, match=r"k013.*server-side encryption"):
        StepHandlers(store, target, mover).run(context)
    counts = store.counts("svc-data")
    assert (counts.done, counts.failed) == (59, 1)
    with store.tx() as connection:
        assert failures(connection, "svc-data", 10) == [
            ("k013", "the target does not report server-side encryption at HEAD")
        ]
