"""The copy of one object, against in-memory fakes with injected failures."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import replace
from typing import Any

import pytest

from migrate.errors import PermanentStorageError, TransientStorageError
from migrate.executor.copy import Copier, CopySettings, Route, multipart_etag
from migrate.executor.retry import RetryPolicy
from migrate.ledger import ObjectTask
from migrate.objectrules import SHA256_KEY, SOURCE_MD5_KEY, SOURCE_MODIFIED_KEY, modified_stamp
from migrate.ports import (
    Encryption,
    ObjectAttributes,
    ObjectInfo,
    PartInfo,
    Payload,
    TargetCapabilities,
    WriteResult,
)
from state.store import Store
from tests.fakes import FakeSource, FakeTarget

KiB = 1024
ROUTE = Route("svc-data", "src", "dst", Encryption("AES256"))
SETTINGS = CopySettings(multipart_threshold=8 * KiB, part_size=4 * KiB, chunk_size=1 * KiB)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def task_for(source: FakeSource, key: str, task_id: int = 1) -> ObjectTask:
    info = source.containers["src"][key].info
    return ObjectTask(
        task_id,
        "svc-data",
        key,
        info.size,
        info.etag,
        info.md5,
        info.attributes,
        0,
        tier=info.tier,
        last_modified="2026-11-01T00:00:00+00:00",
    )


def copier(
    source: FakeSource,
    target: FakeTarget,
    store: Store,
    sleeps: Sleeps | None = None,
    attempts: int = 4,
) -> Copier:
    return Copier(
        source,
        target,
        store,
        settings=SETTINGS,
        policy=RetryPolicy(attempts=attempts, max_seconds=3600),
        sleep=sleeps if sleeps is not None else Sleeps(),
    )


def test_single_put_copies_bytes_attributes_and_hashes(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    body = os.urandom(3 * KiB)
    attributes = ObjectAttributes(
        content_type="text/csv", cache_control="no-cache", metadata={"Origin": "HDH"}
    )
    source.add("src", "a.csv", body, attributes=attributes)
    result = copier(source, target, store).copy(ROUTE, task_for(source, "a.csv"))
    assert result.status == "done"
    assert result.proof == "source-md5"
    assert result.sha256 == hashlib.sha256(body).hexdigest()
    assert target.body("dst", "a.csv") == body
    stored = target.buckets["dst"]["a.csv"].info
    assert stored.attributes.content_type == "text/csv"
    assert stored.attributes.cache_control == "no-cache"
    assert stored.attributes.metadata["origin"] == "HDH"
    assert stored.attributes.metadata[SHA256_KEY] == result.sha256
    assert stored.attributes.metadata[SOURCE_MD5_KEY] == hashlib.md5(body).hexdigest()
    assert stored.encryption == "AES256"


def test_without_source_md5_the_proof_is_the_target_md5(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "blocks", b"x" * 100, md5=False)
    result = copier(source, target, store).copy(ROUTE, task_for(source, "blocks"))
    assert result.status == "done"
    assert result.proof == "target-md5"


def test_multipart_in_parts_sized_by_the_limits(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    body = os.urandom(19 * KiB)
    source.add("src", "big", body)
    c = copier(source, target, store)
    assert c.part_size_for(len(body)) == 1024 * 1024  # rounded up to whole MiB
    result = c.copy(ROUTE, task_for(source, "big"))
    assert result.status == "done"
    assert result.proof == "source-md5"
    assert target.body("dst", "big") == body
    assert store.upload_of("svc-data", "big") is None


def test_part_size_follows_max_parts() -> None:
    caps = TargetCapabilities(max_parts=1_000, min_part_size=5 * 1024 * 1024)
    c = Copier(
        FakeSource(),
        FakeTarget(caps),
        None,  # type: ignore[arg-type]
        settings=CopySettings(part_size=8 * 1024 * 1024),
    )
    assert c.part_size_for(100 * 1024**3) == 103 * 1024 * 1024  # ceil(100 GiB / 1000), in MiB
    with pytest.raises(PermanentStorageError, match="part limit"):
        c.part_size_for(6 * 1024**4)


def test_multipart_resumes_from_listed_parts(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    """A crashed run left an upload with part 1 on the target: only parts 2.. are sent."""
    body = os.urandom(3 * 1024 * 1024 + 10)
    source.add("src", "big", body)
    upload = target.create_multipart("dst", "big", ObjectAttributes(), Encryption("AES256"))
    part = body[: 1024 * 1024]
    target.upload_part("dst", "big", upload, 1, part, hashlib.md5(part).hexdigest())
    store.record_upload("svc-data", "big", upload, 1024 * 1024)
    sent_before = len(target.mutations)
    result = copier(source, target, store).copy(ROUTE, task_for(source, "big"))
    assert result.status == "done"
    assert target.body("dst", "big") == body
    sent = [m for m in target.mutations[sent_before:] if m.startswith("upload_part")]
    assert sorted(sent) == ["upload_part big 2", "upload_part big 3", "upload_part big 4"]
    assert store.upload_of("svc-data", "big") is None


def test_a_lost_upload_starts_again(source: FakeSource, target: FakeTarget, store: Store) -> None:
    body = os.urandom(20 * KiB)
    source.add("src", "big", body)
    store.record_upload("svc-data", "big", "expired-upload", 1024 * 1024)
    result = copier(source, target, store).copy(ROUTE, task_for(source, "big"))
    assert result.status == "done"
    assert target.body("dst", "big") == body


def test_a_permanent_failure_aborts_the_upload(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "big", os.urandom(20 * KiB))
    target.faults.inject("complete_multipart", PermanentStorageError("InvalidPart"), at=[1])
    result = copier(source, target, store).copy(ROUTE, task_for(source, "big"))
    assert result.status == "failed"
    assert target.uploads == {}
    assert store.upload_of("svc-data", "big") is None


def test_transient_errors_are_retried_with_backoff(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"data")
    target.faults.inject("put", TransientStorageError("SlowDown"), at=[1, 2])
    sleeps = Sleeps()
    result = copier(source, target, store, sleeps).copy(ROUTE, task_for(source, "k"))
    assert result.status == "done"
    assert result.retries == 2
    assert len(sleeps) == 2


def test_retry_after_is_honoured(source: FakeSource, target: FakeTarget, store: Store) -> None:
    source.add("src", "k", b"data")
    target.faults.inject("put", TransientStorageError("SlowDown", retry_after=7.5), at=[1])
    sleeps = Sleeps()
    assert copier(source, target, store, sleeps).copy(ROUTE, task_for(source, "k")).status == "done"
    assert sleeps == [7.5]


def test_retries_are_bounded(source: FakeSource, target: FakeTarget, store: Store) -> None:
    source.add("src", "k", b"data")
    target.faults.inject("put", TransientStorageError("503"), at=range(1, 100))
    result = copier(source, target, store, attempts=3).copy(ROUTE, task_for(source, "k"))
    assert result.status == "failed"
    assert "gave up after 3 attempts" in (result.error or "")


def test_permanent_errors_fail_at_once(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"data")
    target.faults.inject("put", PermanentStorageError("AccessDenied"), at=[1])
    sleeps = Sleeps()
    result = copier(source, target, store, sleeps).copy(ROUTE, task_for(source, "k"))
    assert result.status == "failed"
    assert "AccessDenied" in (result.error or "")
    assert sleeps == []


def test_a_target_that_stores_other_bytes_is_caught(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"precious")
    target.corrupt_keys.add("k")
    result = copier(source, target, store, attempts=2).copy(ROUTE, task_for(source, "k"))
    assert result.status == "failed"
    assert "bytes" in (result.error or "")


def test_every_write_is_checked_by_a_head_whose_answer_is_recorded(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"precious")
    result = copier(source, target, store).copy(ROUTE, task_for(source, "k"))
    assert result.status == "done"
    assert result.target_etag == hashlib.md5(b"precious").hexdigest()
    assert target.faults.calls["head"] == 1
    seen = target.buckets["dst"]["k"].info
    assert result.target_modified == modified_stamp(seen.last_modified)
    assert result.target_sse == seen.encryption


def test_source_md5_metadata_rewritten_on_the_way_is_caught(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"precious")
    original = target.put

    def put_with_other_metadata(
        bucket: str,
        key: str,
        body: Payload,
        md5_hex: str,
        attributes: ObjectAttributes,
        encryption: Encryption,
    ) -> WriteResult:
        metadata = {**attributes.metadata, "migrate-source-md5": "0" * 32}
        return original(
            bucket, key, body, md5_hex, replace(attributes, metadata=metadata), encryption
        )

    target.put = put_with_other_metadata  # type: ignore[method-assign]
    result = copier(source, target, store, attempts=2).copy(ROUTE, task_for(source, "k"))
    assert result.status == "failed"
    assert "source-MD5 metadata differs" in (result.error or "")


def test_an_answer_silent_on_encryption_is_checked_by_a_head(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"precious")
    target.ignore_encryption = True
    result = copier(source, target, store).copy(ROUTE, task_for(source, "k"))
    assert result.status == "failed"
    assert "does not report server-side encryption" in (result.error or "")
    assert target.faults.calls["head"] == 1


def test_short_reads_are_retried_then_failed(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"0123456789" * 10)
    source.short_reads.add("k")
    result = copier(source, target, store, attempts=2).copy(ROUTE, task_for(source, "k"))
    assert result.status == "failed"
    assert "read 50 bytes, the listing said 100" in (result.error or "")
    assert "k" not in target.buckets["dst"]


def test_a_source_changed_since_listing_is_not_copied(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"old")
    task = task_for(source, "k")
    source.add("src", "k", b"new!")
    result = copier(source, target, store).copy(ROUTE, task)
    assert result.status == "changed"
    assert "k" not in target.buckets["dst"]
    assert source.faults.calls.get("open") == 1  # not retried with a stale listing


def test_a_source_changed_while_read_is_not_done(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    """A long (multipart) read asks the source again at its end."""
    source.add("src", "k", b"x" * 20 * KiB)
    task = task_for(source, "k")

    original_head = source.head

    def head_after_change(container: str, key: str) -> ObjectInfo | None:
        source.add("src", "k", b"y" * 20 * KiB)  # a writer replaced it while we were reading
        return original_head(container, key)

    source.head = head_after_change  # type: ignore[method-assign]
    result = copier(source, target, store).copy(ROUTE, task)
    assert result.status == "changed"
    assert "while it was read" in (result.error or "")
    assert "k" not in target.buckets["dst"]
    assert target.uploads == {}  # the multipart upload was aborted


@pytest.mark.parametrize(
    ("key", "metadata", "tier", "fragment"),
    [
        ("é" * 600, {}, None, "key limit"),
        ("folder/", {}, None, "ends with '/'"),
        ("name.", {}, None, "ends with '.'"),
        ("ok", {"big": "x" * 2100}, None, "2048-byte limit"),
        ("ok", {"Note": "déjà"}, None, "not ASCII"),
        ("ok", {"migrate-sha256": "x"}, None, "reserves"),
        ("ok", {}, "Archive", "rehydrate"),
    ],
)
def test_objects_that_cannot_be_copied_faithfully(
    source: FakeSource,
    target: FakeTarget,
    store: Store,
    key: str,
    metadata: dict[str, str],
    tier: str | None,
    fragment: str,
) -> None:
    source.add("src", key, b"1", attributes=ObjectAttributes(metadata=metadata), tier=tier)
    result = copier(source, target, store).copy(ROUTE, task_for(source, key))
    assert result.status == "failed"
    assert fragment in (result.error or "")
    assert target.mutations == []


def test_small_copies_never_wait_for_the_memory_of_large_ones(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    """A large upload whose part fills the whole budget is stuck at the target: a small
    object is still copied, from the reserve kept for small objects."""
    source.add("src", "large", os.urandom(20 * KiB))
    source.add("src", "small", b"tiny")
    settings = replace(SETTINGS, memory_budget=12 * KiB)  # 4 KiB parts (and their chunk) fill it
    engine = Copier(source, target, store, settings=settings, policy=RetryPolicy(attempts=1))
    entered, release = threading.Event(), threading.Event()
    upload_part = target.upload_part

    def stuck_upload_part(
        bucket: str, key: str, upload_id: str, number: int, body: Payload, md5_hex: str
    ) -> str:
        entered.set()
        release.wait(30)
        return upload_part(bucket, key, upload_id, number, body, md5_hex)

    target.upload_part = stuck_upload_part  # type: ignore[method-assign]
    results: dict[str, str] = {}

    def copy(key: str, task_id: int) -> None:
        results[key] = engine.copy(ROUTE, task_for(source, key, task_id)).status

    large = threading.Thread(target=copy, args=("large", 1))
    large.start()
    assert entered.wait(10)
    small = threading.Thread(target=copy, args=("small", 2))
    small.start()
    small.join(10)
    stuck = small.is_alive()
    release.set()
    large.join(30)
    small.join(10)
    engine.close()
    assert not stuck, "the small copy waited for the large one's memory"
    assert results == {"small": "done", "large": "done"}


def test_listed_then_claimed_object_keeps_its_source_time(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    """Ingest a real listing page into the real ledger, claim it, copy it: the task the claim
    hands out carries the listing's Last-Modified, and the copy writes it as metadata (a task
    built by hand could not see that the claim dropped it)."""
    source.add("src", "dated.csv", b"a,b\n1,2\n")
    page = source.list_page("src", "", None)
    generation = store.begin_listing("svc-data")
    store.ingest_listing("svc-data", generation, page.objects, page.next_marker)
    (task,) = store.claim("svc-data", 10)
    listed = page.objects[0].last_modified
    assert listed is not None
    assert task.last_modified == listed.isoformat()
    result = copier(source, target, store).copy(ROUTE, task)
    assert result.status == "done"
    metadata = target.buckets["dst"]["dated.csv"].info.attributes.metadata
    assert metadata[SOURCE_MODIFIED_KEY] == listed.isoformat()


@pytest.mark.parametrize("key", ["a/./b", "a//b", "../x", "/lead"])
def test_a_dot_segment_name_is_refused_without_a_read(
    source: FakeSource, target: FakeTarget, store: Store, key: str
) -> None:
    """``a/./b`` reads as ``a/b`` through an HTTP stack: never read, never written."""
    source.add("src", key, b"what a/b would hold")
    reads: list[str] = []
    opened = source.open

    def spying_open(container: str, name: str, expected_etag: str | None = None) -> Any:
        reads.append(name)
        return opened(container, name, expected_etag)

    source.open = spying_open  # type: ignore[method-assign, assignment]
    result = copier(source, target, store).copy(ROUTE, task_for(source, key))
    assert result.status == "failed"
    assert result.error is not None
    assert "path segment" in result.error
    assert reads == []
    assert target.buckets["dst"] == {}


PROVING = replace(SETTINGS, proving_answers=True)


def proving_copier(source: FakeSource, target: FakeTarget, store: Store) -> Copier:
    return Copier(
        source,
        target,
        store,
        settings=PROVING,
        policy=RetryPolicy(attempts=2, max_seconds=3600),
        sleep=Sleeps(),
    )


@pytest.mark.parametrize(("size", "proof"), [(3 * KiB, "answer-md5"), (10 * KiB, "parts-md5")])
def test_where_answers_prove_the_write_no_head_is_sent(
    source: FakeSource, target: FakeTarget, store: Store, size: int, proof: str
) -> None:
    body = os.urandom(size)
    source.add("src", "k", body, md5=False)
    result = proving_copier(source, target, store).copy(ROUTE, task_for(source, "k"))
    assert result.status == "done", result.error
    assert target.faults.calls.get("head", 0) == 0
    seen = target.buckets["dst"]["k"].info
    assert target.body("dst", "k") == body
    assert result.target_etag == seen.etag
    assert result.target_modified == modified_stamp(seen.last_modified)
    assert result.target_sse == "AES256"
    assert result.proof == proof


@pytest.mark.parametrize("size", [3 * KiB, 10 * KiB])
@pytest.mark.parametrize(
    ("falsehood", "reason", "retries"),
    [
        ("etag", "the target's answer gives the ETag", 1),  # taken again once, then failed
        ("encryption", "answer does not report server-side encryption", 0),
    ],
)
def test_an_answer_that_does_not_prove_the_write_fails_it_without_a_head(
    source: FakeSource,
    target: FakeTarget,
    store: Store,
    size: int,
    falsehood: str,
    reason: str,
    retries: int,
) -> None:
    source.add("src", "k", os.urandom(size))
    target.false_answers.add(falsehood)
    result = proving_copier(source, target, store).copy(ROUTE, task_for(source, "k"))
    assert result.status == "failed"
    assert reason in (result.error or "")
    assert result.retries == retries
    assert target.faults.calls.get("head", 0) == 0


def test_stored_bytes_other_than_those_sent_are_caught_by_the_answer(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"precious")
    target.corrupt_keys.add("k")
    result = proving_copier(source, target, store).copy(ROUTE, task_for(source, "k"))
    assert result.status == "failed"
    assert "the target's answer gives the ETag" in (result.error or "")


def test_under_kms_the_answer_proves_nothing_and_the_head_stays(
    source: FakeSource, target: FakeTarget, store: Store
) -> None:
    source.add("src", "k", b"precious")
    kms = replace(ROUTE, encryption=Encryption("aws:kms", "key-1"))
    result = proving_copier(source, target, store).copy(kms, task_for(source, "k"))
    assert result.status == "done", result.error
    assert target.faults.calls["head"] == 1


def test_the_expected_multipart_etag_is_s3s() -> None:
    parts = [b"a" * 5, b"b" * 3]
    md5s = [hashlib.md5(p).hexdigest() for p in parts]
    infos = [PartInfo(n, len(p), m) for n, (p, m) in enumerate(zip(parts, md5s, strict=True), 1)]
    joined = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    assert multipart_etag(infos) == f"{joined}-2"
    assert multipart_etag([*infos[:1], PartInfo(2, 3, "not-an-md5")]) is None
    assert multipart_etag([]) is None
