"""The same assertions over every source: in-memory fake, local folder, Azurite."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import pytest

from adapters.azure import AzureSource
from migrate.errors import ObjectChanged, ObjectNotFound
from migrate.ports import ObjectAttributes
from tests.conformance.impls import SourceUnderTest, make_source

KINDS = ["fake", "local", "azure"]
NAMES = ["plain.txt", "dir/sub/deep/file.csv", "a b%#?+;é.txt", "日本語/データ.bin", "zero"]


@pytest.fixture(params=KINDS)
def under_test(request: pytest.FixtureRequest, tmp_path: Path) -> SourceUnderTest:
    servers = request.getfixturevalue("servers") if request.param == "azure" else None
    return make_source(request.param, tmp_path, servers)


def _read(under_test: SourceUnderTest, container: str, key: str) -> bytes:
    with under_test.source.open(container, key) as reader:
        return b"".join(reader.chunks(7))


def test_lists_every_object_in_byte_order(under_test: SourceUnderTest, unique: str) -> None:
    under_test.seed.container(unique)
    for index, name in enumerate(NAMES):
        under_test.seed.add(unique, name, b"x" * index, ObjectAttributes(content_type="text/plain"))
    keys, marker, pages = [], None, 0
    while True:
        page = under_test.source.list_page(unique, "", marker)
        keys += [o.key for o in page.objects]
        pages += 1
        if page.next_marker is None:
            break
        marker = page.next_marker
    assert keys == sorted(NAMES, key=lambda k: k.encode())
    sizes = {}
    marker = None
    while True:
        page = under_test.source.list_page(unique, "", marker)
        sizes.update({o.key: o.size for o in page.objects})
        if page.next_marker is None:
            break
        marker = page.next_marker
    assert sizes == {name: index for index, name in enumerate(NAMES)}


def test_prefix_filters(under_test: SourceUnderTest, unique: str) -> None:
    under_test.seed.container(unique)
    for name in ("a/1", "a/2", "b/1"):
        under_test.seed.add(unique, name, b"1", ObjectAttributes())
    page = under_test.source.list_page(unique, "a/", None)
    assert [o.key for o in page.objects] == ["a/1", "a/2"]


def test_reads_the_stored_bytes_and_attributes(under_test: SourceUnderTest, unique: str) -> None:
    under_test.seed.container(unique)
    body = gzip.compress(b"health data " * 100)
    attributes = ObjectAttributes(
        content_type="application/json",
        content_encoding="gzip",
        content_language="fr-FR",
        content_disposition="attachment; filename=x.json",
        cache_control="no-cache",
        metadata={"Origin": "HDH"},
    )
    under_test.seed.add(unique, "gz.json", body, attributes)
    assert _read(under_test, unique, "gz.json") == body  # still compressed: the stored bytes
    info = under_test.source.head(unique, "gz.json")
    assert info is not None
    assert info.size == len(body)
    assert info.md5 == hashlib.md5(body).hexdigest()
    listed = under_test.source.list_page(unique, "", None).objects[0]
    for found in (info, listed):
        assert found.attributes.content_type == "application/json"
        assert found.attributes.content_encoding == "gzip"
        assert found.attributes.content_language == "fr-FR"
        assert found.attributes.content_disposition == "attachment; filename=x.json"
        assert found.attributes.cache_control == "no-cache"
        assert {k.lower(): v for k, v in found.attributes.metadata.items()} == {"origin": "HDH"}
        assert found.etag


def test_unicode_and_special_names_round_trip(under_test: SourceUnderTest, unique: str) -> None:
    under_test.seed.container(unique)
    for name in NAMES:
        under_test.seed.add(unique, name, name.encode(), ObjectAttributes())
    for name in NAMES:
        assert _read(under_test, unique, name) == name.encode()


def test_missing_objects_and_containers(under_test: SourceUnderTest, unique: str) -> None:
    under_test.seed.container(unique)
    assert under_test.source.head(unique, "nope") is None
    with pytest.raises(ObjectNotFound), under_test.source.open(unique, "nope"):
        pass
    with pytest.raises(ObjectNotFound):
        under_test.source.list_page(unique + "x", "", None)


def test_a_changed_object_is_detected(under_test: SourceUnderTest, unique: str) -> None:
    under_test.seed.container(unique)
    under_test.seed.add(unique, "k", b"one", ObjectAttributes())
    info = under_test.source.head(unique, "k")
    assert info is not None
    under_test.seed.add(unique, "k", b"two!", ObjectAttributes())
    with pytest.raises(ObjectChanged), under_test.source.open(unique, "k", info.etag):
        pass


def test_blobs_written_in_blocks_have_no_md5(under_test: SourceUnderTest, unique: str) -> None:
    if type(under_test.seed).__name__ == "_LocalSeeder":
        pytest.skip("a local folder has no notion of block uploads")
    under_test.seed.container(unique)
    under_test.seed.add(unique, "blocks.bin", b"b" * 3000, ObjectAttributes(), md5=False)
    info = under_test.source.head(unique, "blocks.bin")
    assert info is not None
    assert info.md5 is None
    assert info.size == 3000


def test_lists_its_containers_in_byte_order(under_test: SourceUnderTest, unique: str) -> None:
    """Every container, each once, in byte order (an emulator shared by other tests may hold
    more of them than this test made)."""
    made = [f"{unique}-b", f"{unique}-a", f"{unique}-a1"]
    for name in made:
        under_test.seed.container(name)
    under_test.seed.add(made[0], "k", b"1", ObjectAttributes())
    names = list(under_test.source.list_containers())
    assert names == sorted(set(names), key=lambda n: n.encode())
    assert [n for n in names if n.startswith(unique)] == sorted(made)


def test_a_listing_gives_the_blob_type_where_there_is_one(
    under_test: SourceUnderTest, unique: str
) -> None:
    under_test.seed.container(unique)
    under_test.seed.add(unique, "k", b"1", ObjectAttributes())
    listed = under_test.source.list_page(unique, "", None).objects[0]
    info = under_test.source.head(unique, "k")
    assert info is not None
    assert listed.blob_type == info.blob_type
    assert listed.blob_type == ("BlockBlob" if isinstance(under_test.source, AzureSource) else None)
