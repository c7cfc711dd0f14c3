"""A target that sends each bucket's requests through the client of the bucket's project.

When the inventory names credentials for a project, they are the only ones used for that
project's buckets; other buckets use the default client. Dispatch is by bucket name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager

from migrate.ports import (
    BucketSettings,
    Encryption,
    ListingPage,
    ObjectAttributes,
    ObjectInfo,
    ObjectReader,
    PartInfo,
    Payload,
    TargetStore,
    WriteResult,
)


class ProjectRoutedTarget:
    def __init__(self, default: TargetStore, by_bucket: Mapping[str, TargetStore]) -> None:
        self._default = default
        self._by_bucket = dict(by_bucket)
        self.capabilities = default.capabilities

    def _for(self, bucket: str) -> TargetStore:
        return self._by_bucket.get(bucket, self._default)

    def ensure_bucket(self, bucket: str, settings: BucketSettings) -> bool:
        return self._for(bucket).ensure_bucket(bucket, settings)

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        return self._for(bucket).head(bucket, key)

    def put(
        self,
        bucket: str,
        key: str,
        body: Payload,
        md5_hex: str,
        attributes: ObjectAttributes,
        encryption: Encryption,
    ) -> WriteResult:
        return self._for(bucket).put(bucket, key, body, md5_hex, attributes, encryption)

    def create_multipart(
        self, bucket: str, key: str, attributes: ObjectAttributes, encryption: Encryption
    ) -> str:
        return self._for(bucket).create_multipart(bucket, key, attributes, encryption)

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: Payload,
        md5_hex: str,
    ) -> str:
        return self._for(bucket).upload_part(bucket, key, upload_id, number, body, md5_hex)

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        return self._for(bucket).list_parts(bucket, key, upload_id)

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[PartInfo]
    ) -> WriteResult:
        return self._for(bucket).complete_multipart(bucket, key, upload_id, parts)

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        self._for(bucket).abort_multipart(bucket, key, upload_id)

    def list_multipart_uploads(self, bucket: str) -> list[tuple[str, str]]:
        return self._for(bucket).list_multipart_uploads(bucket)

    def list_page(self, bucket: str, prefix: str, marker: str | None) -> ListingPage:
        return self._for(bucket).list_page(bucket, prefix, marker)

    def open(
        self, bucket: str, key: str, expected_etag: str | None = None
    ) -> AbstractContextManager[ObjectReader]:
        return self._for(bucket).open(bucket, key, expected_etag)

    def delete(self, bucket: str, key: str) -> None:
        self._for(bucket).delete(bucket, key)

    def delete_bucket(self, bucket: str) -> None:
        self._for(bucket).delete_bucket(bucket)
