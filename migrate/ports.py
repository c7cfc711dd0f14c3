"""The narrow ports between the executor and storage, and the neutral records they carry.

A source lists, stats and opens objects; a target creates buckets, stats, writes (single PUT
or multipart), lists and opens. Each adapter maps its provider's wire format into these
records in one private function. No SDK type crosses this line.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, TypeAlias

Payload: TypeAlias = bytes | bytearray | memoryview
"""Bytes to write: the copier sends the buffer it read into, as a view of the stored size."""


@dataclass(frozen=True)
class ObjectAttributes:
    """What a copy must carry over besides the bytes."""

    content_type: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None
    content_disposition: str | None = None
    cache_control: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectInfo:
    """One object as listed or stat-ed, whatever the provider.

    ``md5`` is a real MD5 of the whole content or None: an S3 multipart ETag or an Azure blob
    without Content-MD5 gives None ("unknown", never "matched").
    """

    key: str
    size: int
    etag: str | None = None
    md5: str | None = None
    last_modified: datetime | None = None
    attributes: ObjectAttributes = field(default_factory=ObjectAttributes)
    tier: str | None = None
    """Azure access tier; ``Archive`` blobs cannot be read before rehydration."""
    encryption: str | None = None
    """Server-side encryption the target reports for the object (``AES256``, ``aws:kms``)."""
    version_id: str | None = None
    blob_type: str | None = None
    """Azure blob type (``BlockBlob``, ``PageBlob``, ``AppendBlob``); None where the provider
    has no such notion."""


@dataclass(frozen=True)
class ListingPage:
    objects: list[ObjectInfo]
    next_marker: str | None
    """Continuation token for the next page; None on the last page."""


@dataclass(frozen=True)
class Encryption:
    mode: str  # AES256 | aws:kms | SSE-C | none
    kms_key_id: str | None = None
    """With SSE-C the key itself stays inside the S3 adapter, never in these records."""

    @property
    def enabled(self) -> bool:
        return self.mode != "none"


@dataclass(frozen=True)
class BucketSettings:
    encryption: Encryption
    tags: Mapping[str, str] = field(default_factory=dict)
    """Empty: no tagging request at all."""
    default_encryption: bool = True
    """Set the bucket's default encryption (objects carry their own encryption either way)."""


@dataclass(frozen=True)
class PartInfo:
    number: int
    size: int
    etag: str


@dataclass(frozen=True)
class WriteResult:
    etag: str | None
    version_id: str | None = None
    encryption: str | None = None
    """The server-side encryption the write's answer reports (None when it says nothing)."""
    stored_by: datetime | None = None
    """The latest the stored version can date from: the answer's Last-Modified, else its Date
    (None when it has neither). A later write to the key has a later Last-Modified."""


@dataclass(frozen=True)
class SourceCapabilities:
    native_md5: bool
    """The provider can carry a whole-object MD5 (Azure: only when Content-MD5 was set)."""
    page_size: int


@dataclass(frozen=True)
class TargetCapabilities:
    max_parts: int = 10_000
    min_part_size: int = 5 * 1024**2
    max_part_size: int = 5 * 1024**3
    max_single_put: int = 5 * 1024**3
    max_object_size: int = 5 * 1024**4
    max_key_bytes: int = 1024
    max_metadata_bytes: int | None = 2048
    encryption_modes: frozenset[str] = frozenset({"AES256", "aws:kms", "none"})


class ObjectReader(Protocol):
    """An open object: the exact stored bytes, in chunks."""

    @property
    def etag(self) -> str | None: ...

    def chunks(self, size: int) -> Iterator[bytes]: ...


class SourceStore(Protocol):
    capabilities: SourceCapabilities

    def list_containers(self) -> Iterator[str]:
        """Every container of the account (or folder), in byte order of their names, read
        page by page as the caller iterates."""
        ...

    def list_page(self, container: str, prefix: str, marker: str | None) -> ListingPage: ...

    def head(self, container: str, key: str) -> ObjectInfo | None: ...

    def open(
        self, container: str, key: str, expected_etag: str | None = None
    ) -> AbstractContextManager[ObjectReader]:
        """The stored bytes of exactly the version ``expected_etag`` names (a conditional read),
        or ObjectChanged when the object is no longer that version."""
        ...


class TargetStore(Protocol):
    capabilities: TargetCapabilities

    def ensure_bucket(self, bucket: str, settings: BucketSettings) -> bool:
        """Create the bucket with its settings, or check an existing one; True if created."""
        ...

    def head(self, bucket: str, key: str) -> ObjectInfo | None: ...

    def put(
        self,
        bucket: str,
        key: str,
        body: Payload,
        md5_hex: str,
        attributes: ObjectAttributes,
        encryption: Encryption,
    ) -> WriteResult: ...

    def create_multipart(
        self, bucket: str, key: str, attributes: ObjectAttributes, encryption: Encryption
    ) -> str: ...

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: Payload,
        md5_hex: str,
    ) -> str: ...

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]: ...

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[PartInfo]
    ) -> WriteResult: ...

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None: ...

    def list_multipart_uploads(self, bucket: str) -> list[tuple[str, str]]:
        """(key, upload id) of every unfinished multipart upload in the bucket."""
        ...

    def list_page(self, bucket: str, prefix: str, marker: str | None) -> ListingPage: ...

    def open(
        self, bucket: str, key: str, expected_etag: str | None = None
    ) -> AbstractContextManager[ObjectReader]: ...

    def delete(self, bucket: str, key: str) -> None: ...

    def delete_bucket(self, bucket: str) -> None:
        """Remove an empty bucket (the probe's, when the probe created it)."""
        ...
