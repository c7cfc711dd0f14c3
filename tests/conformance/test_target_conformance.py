"""The same assertions over every target: in-memory fake, local folder, the S3 server."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from migrate.errors import ObjectNotFound, StorageError
from migrate.ports import BucketSettings, Encryption, ObjectAttributes, TargetStore
from tests.conformance.impls import make_target

KINDS = ["fake", "local", "s3"]
AES = Encryption("AES256")
MiB = 1024 * 1024


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(params=KINDS)
def target(request: pytest.FixtureRequest, tmp_path: Path) -> TargetStore:
    servers = request.getfixturevalue("servers") if request.param == "s3" else None
    return make_target(request.param, tmp_path, servers)


@pytest.fixture
def bucket(target: TargetStore, unique: str) -> str:
    assert target.ensure_bucket(unique, BucketSettings(AES, {"hdh-service": "x"})) is True
    return unique


def _read(target: TargetStore, bucket: str, key: str) -> bytes:
    with target.open(bucket, key) as reader:
        return b"".join(reader.chunks(1000))


def test_ensure_bucket_is_idempotent(target: TargetStore, bucket: str) -> None:
    assert target.ensure_bucket(bucket, BucketSettings(AES)) is False


def test_put_then_head_keeps_bytes_and_attributes(target: TargetStore, bucket: str) -> None:
    body = os.urandom(3000)
    attributes = ObjectAttributes(
        content_type="application/octet-stream",
        content_encoding="gzip",
        content_language="fr",
        content_disposition="attachment",
        cache_control="max-age=60",
        metadata={"Origin": "HDH", "migrate-sha256": hashlib.sha256(body).hexdigest()},
    )
    key = "dir/a b%#?+;é.bin"
    written = target.put(bucket, key, body, md5(body), attributes, AES)
    info = target.head(bucket, key)
    assert info is not None
    assert info.size == len(body)
    assert info.etag == written.etag
    assert info.md5 == md5(body)
    assert info.encryption == _encryption_reported(target)
    assert info.attributes.content_type == "application/octet-stream"
    assert info.attributes.content_encoding == "gzip"
    assert info.attributes.content_language == "fr"
    assert info.attributes.content_disposition == "attachment"
    assert info.attributes.cache_control == "max-age=60"
    assert {k.lower(): v for k, v in info.attributes.metadata.items()} == {
        "origin": "HDH",
        "migrate-sha256": hashlib.sha256(body).hexdigest(),
    }
    assert _read(target, bucket, key) == body


def test_zero_byte_object(target: TargetStore, bucket: str) -> None:
    target.put(bucket, "empty", b"", md5(b""), ObjectAttributes(), AES)
    info = target.head(bucket, "empty")
    assert info is not None
    assert info.size == 0
    assert _read(target, bucket, "empty") == b""


def test_multipart_upload_list_resume_complete(target: TargetStore, bucket: str) -> None:
    first, second = os.urandom(5 * MiB), os.urandom(1234)
    attributes = ObjectAttributes(content_type="application/x-parquet", metadata={"Study": "1"})
    upload = target.create_multipart(bucket, "big.parquet", attributes, AES)
    assert ("big.parquet", upload) in target.list_multipart_uploads(bucket)
    target.upload_part(bucket, "big.parquet", upload, 1, first, md5(first))
    parts = target.list_parts(bucket, "big.parquet", upload)
    assert [(p.number, p.size, p.etag) for p in parts] == [(1, len(first), md5(first))]
    target.upload_part(bucket, "big.parquet", upload, 2, second, md5(second))
    parts = target.list_parts(bucket, "big.parquet", upload)
    target.complete_multipart(bucket, "big.parquet", upload, parts)
    info = target.head(bucket, "big.parquet")
    assert info is not None
    assert info.size == len(first) + len(second)
    assert info.md5 in (None, md5(first + second))  # known only where really computed
    assert info.attributes.content_type == "application/x-parquet"
    assert info.encryption == _encryption_reported(target)
    assert _read(target, bucket, "big.parquet") == first + second
    assert target.list_multipart_uploads(bucket) == []


def test_abort_multipart(target: TargetStore, bucket: str) -> None:
    upload = target.create_multipart(bucket, "gone", ObjectAttributes(), AES)
    target.upload_part(bucket, "gone", upload, 1, b"x" * 10, md5(b"x" * 10))
    target.abort_multipart(bucket, "gone", upload)
    assert target.list_multipart_uploads(bucket) == []
    assert target.head(bucket, "gone") is None
    with pytest.raises(ObjectNotFound):
        target.list_parts(bucket, "gone", upload)


def test_listing_pages_through_everything(target: TargetStore, bucket: str) -> None:
    keys = [f"k/{i:03d}" for i in range(7)]
    for key in keys:
        target.put(bucket, key, key.encode(), md5(key.encode()), ObjectAttributes(), AES)
    found, marker = [], None
    while True:
        page = target.list_page(bucket, "k/", marker)
        found += [(o.key, o.size) for o in page.objects]
        if page.next_marker is None:
            break
        marker = page.next_marker
    assert found == [(k, len(k)) for k in keys]


def test_missing_things(target: TargetStore, bucket: str, unique: str) -> None:
    assert target.head(bucket, "nope") is None
    with pytest.raises(ObjectNotFound), target.open(bucket, "nope"):
        pass
    with pytest.raises(ObjectNotFound):
        target.put(unique + "x", "k", b"1", md5(b"1"), ObjectAttributes(), AES)


def test_delete(target: TargetStore, bucket: str) -> None:
    target.put(bucket, "k", b"1", md5(b"1"), ObjectAttributes(), AES)
    target.delete(bucket, "k")
    assert target.head(bucket, "k") is None


def test_only_an_empty_bucket_is_deleted(target: TargetStore, bucket: str) -> None:
    target.put(bucket, "d/k", b"1", md5(b"1"), ObjectAttributes(), AES)
    with pytest.raises(StorageError):
        target.delete_bucket(bucket)
    assert target.head(bucket, "d/k") is not None  # nothing of it went
    target.delete(bucket, "d/k")
    target.delete_bucket(bucket)
    assert target.ensure_bucket(bucket, BucketSettings(AES, {})) is True  # it was gone


def _encryption_reported(target: TargetStore) -> str | None:
    """What a target must report for an object written with AES256: the mode where it can
    encrypt, nothing where it cannot (a local folder writes plain files and never claims it)."""
    return "AES256" if "AES256" in target.capabilities.encryption_modes else None
