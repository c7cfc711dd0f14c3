"""Verification levels against in-memory fakes: HEADs run in parallel, the report stays in
key order and names every difference."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from migrate.executor.copy import Copier, CopySettings, Route
from migrate.executor.objects import ObjectMover
from migrate.executor.progress import NullProgress
from migrate.executor.steps import StepFailed, StepHandlers
from migrate.executor.verify import verify_service
from migrate.objectrules import modified_stamp
from migrate.ports import Encryption, TargetCapabilities
from state.queries import failures
from state.store import Store
from tests.fakes import FakeSource, FakeTarget
from tests.planning import make_inventory, one_store_plan, service, step_context

ROUTE = Route("svc-data", "src", "dst", Encryption("AES256"))


@pytest.fixture
def copied(tmp_path: Path) -> tuple[Store, FakeTarget]:
    return _copy_all(tmp_path, CopySettings())


def _copy_all(tmp_path: Path, settings: CopySettings) -> tuple[Store, FakeTarget]:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.register_services(one_store_plan())
    source = FakeSource()
    source.containers["src"] = {}
    for n in range(60):
        source.add("src", f"k{n:03d}", os.urandom(200 + n))
    target = FakeTarget(TargetCapabilities(min_part_size=1024))
    target.buckets["dst"] = {}
    copier = Copier(source, target, store, settings=settings)
    with ThreadPoolExecutor(max_workers=4) as pool:
        mover = ObjectMover(source, store, copier, pool, NullProgress(), workers=4)
        mover.inventory("svc-data", "src", "")
        assert mover.copy_pending(ROUTE).done == 60
    return store, target


def _rewrite(target: FakeTarget, key: str, **changes: Any) -> None:
    """Someone writes the key again on the target after the copy: a new Last-Modified."""
    stored = target.buckets["dst"][key]
    later = datetime.now(UTC) + timedelta(seconds=2)
    stored.info = replace(stored.info, last_modified=later, **changes)


def test_the_hash_level_heads_every_object(copied: tuple[Store, FakeTarget]) -> None:
    store, target = copied
    target.faults.calls.clear()
    report = verify_service("svc-data", "dst", store, target, workers=6, encrypted=True)
    assert report.ok
    assert report.checked == 60
    assert target.faults.calls["head"] == 60
    assert sum(report.proofs.values()) == 60
    assert report.unchanged == 0


def test_every_copy_was_checked_by_a_head_and_what_it_saw_is_recorded(
    copied: tuple[Store, FakeTarget],
) -> None:
    store, target = copied
    assert target.faults.calls["head"] == 60  # the write checks
    rows = store.copied_after("svc-data", None, 100)
    assert len(rows) == 60
    for row in rows:
        info = target.buckets["dst"][row.key].info
        assert row.target_etag == info.etag
        assert row.target_modified == modified_stamp(info.last_modified)
        assert row.target_sse == "AES256"


def test_the_verify_step_heads_only_what_changed_since_its_write_check(
    copied: tuple[Store, FakeTarget],
) -> None:
    store, target = copied
    _rewrite(target, "k010", etag="0" * 32)  # other bytes
    _rewrite(target, "k020")  # same bytes, metadata or encryption rewritten
    target.faults.calls.clear()
    report = verify_service(
        "svc-data", "dst", store, target, workers=6, encrypted=True, trust_write_checks=True
    )
    assert target.faults.calls["head"] == 2
    assert (report.checked, report.unchanged) == (60, 58)
    assert [d.key for d in report.differences] == ["k010"]
    assert "recorded after the copy" in report.differences[0].problem
    assert sum(report.proofs.values()) == 60


def test_objects_proven_by_their_write_answers_are_checked_against_the_listing(
    tmp_path: Path,
) -> None:
    store, target = _copy_all(tmp_path, CopySettings(proving_answers=True))
    assert target.faults.calls.get("head", 0) == 0  # no write check by HEAD
    _rewrite(target, "k010")  # same bytes, rewritten after the copy's answer
    with store.tx() as connection:  # an answer's Date, a second after the stored version
        connection.execute(
            text("UPDATE objects SET target_modified = :later WHERE key = 'k030'").bindparams(
                later=modified_stamp(datetime.now(UTC) + timedelta(seconds=1))
            )
        )
    report = verify_service(
        "svc-data", "dst", store, target, workers=6, encrypted=True, trust_write_checks=True
    )
    assert report.ok
    assert target.faults.calls["head"] == 1  # k010 only: its listing is later than its answer
    assert (report.checked, report.unchanged) == (60, 59)


def test_a_write_check_without_encryption_is_not_trusted_where_the_bucket_encrypts(
    copied: tuple[Store, FakeTarget],
) -> None:
    store, target = copied
    with store.tx() as connection:
        connection.execute(text("UPDATE objects SET target_sse = NULL WHERE key = 'k005'"))
        connection.execute(text("UPDATE objects SET target_modified = NULL WHERE key = 'k006'"))
    target.faults.calls.clear()
    report = verify_service(
        "svc-data", "dst", store, target, workers=6, encrypted=True, trust_write_checks=True
    )
    assert report.ok
    assert target.faults.calls["head"] == 2  # k005 and k006 (a ledger from before version 4)
    unencrypted = verify_service(
        "svc-data", "dst", store, target, workers=6, encrypted=False, trust_write_checks=True
    )
    assert unencrypted.unchanged == 59


def test_deep_and_sampled_objects_are_always_read_again(
    copied: tuple[Store, FakeTarget],
) -> None:
    store, target = copied
    target.faults.calls.clear()
    deep = verify_service("svc-data", "dst", store, target, level="deep", trust_write_checks=True)
    assert (deep.deep_checked, deep.unchanged) == (60, 0)
    sampled = verify_service(
        "svc-data", "dst", store, target, sample_pct=10, trust_write_checks=True
    )
    assert (sampled.deep_checked, sampled.unchanged) == (6, 54)


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
    """The write check saw it encrypted; rewritten since, the target no longer encrypts it:
    the object is not done (failed, with the reason, for `apply --only-failed`) and the step
    fails."""
    store, target = copied
    _rewrite(target, "k013", encryption=None)
    inventory = make_inventory([service("svc-data", size=1000)])
    mover = ObjectMover(
        FakeSource(),
        store,
        Copier(FakeSource(), target, store),
        ThreadPoolExecutor(1),
        NullProgress(),
        workers=4,
    )
    context = step_context(inventory, "svc-data", "verify", ROUTE)
    with pytest.raises(StepFailed, match=r"k013.*server-side encryption"):
        StepHandlers(store, target, mover).run(context)
    counts = store.counts("svc-data")
    assert (counts.done, counts.failed) == (59, 1)
    with store.tx() as connection:
        assert failures(connection, "svc-data", 10) == [
            ("k013", "the target does not report server-side encryption at HEAD")
        ]


def test_what_the_bucket_holds_beyond_the_prefix_is_another_services(
    copied: tuple[Store, FakeTarget],
) -> None:
    """The target is listed under the service's prefix (keys map to themselves): an object
    of the bucket outside it is never "extra on the target"; one inside it is."""
    store, target = copied
    stored = target.buckets["dst"]["k000"]
    for key in ("other/x", "k999"):
        target.buckets["dst"][key] = replace(stored, info=replace(stored.info, key=key))
    scoped = verify_service("svc-data", "dst", store, target, level="listing", prefix="k")
    assert [(d.key, d.cause) for d in scoped.differences] == [("k999", "target extra")]
    whole = verify_service("svc-data", "dst", store, target, level="listing")
    assert {d.key for d in whole.differences} == {"k999", "other/x"}
