"""In-memory fakes of our own ports, with injectable failures ("the 2nd put raises ...")."""

from __future__ import annotations

import hashlib
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from migrate.databases import CopyState, Inspection, Lag, Resources, TableCheck, TableInfo
from migrate.errors import ObjectChanged, ObjectNotFound, PermanentStorageError
from migrate.ports import (
    BucketSettings,
    Encryption,
    ListingPage,
    ObjectAttributes,
    ObjectInfo,
    ObjectReader,
    PartInfo,
    Payload,
    SourceCapabilities,
    SourceStore,
    TargetCapabilities,
    TargetStore,
    WriteResult,
)


@dataclass
class Faults:
    """Raise ``error`` on calls ``at`` (1-based) of operation ``op``; count every call."""

    plan: dict[str, list[tuple[set[int], Exception]]] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def inject(self, op: str, error: Exception, at: Sequence[int] = (1,)) -> None:
        self.plan.setdefault(op, []).append((set(at), error))

    def check(self, op: str) -> None:
        with self.lock:
            self.calls[op] = self.calls.get(op, 0) + 1
            count = self.calls[op]
        for when, error in self.plan.get(op, []):
            if count in when:
                raise error


@dataclass
class _Stored:
    body: bytes
    info: ObjectInfo


class _Reader:
    def __init__(self, body: bytes, etag: str | None, faults: Faults, short: bool = False) -> None:
        self._body = body[: len(body) // 2] if short else body
        self._etag = etag
        self._faults = faults

    @property
    def etag(self) -> str | None:
        return self._etag

    def chunks(self, size: int) -> Iterator[bytes]:
        for start in range(0, len(self._body), size):
            self._faults.check("read")
            yield self._body[start : start + size]


class FakeSource:
    capabilities = SourceCapabilities(native_md5=True, page_size=3)

    def __init__(self) -> None:
        self.containers: dict[str, dict[str, _Stored]] = {}
        self.faults = Faults()
        self.short_reads: set[str] = set()
        self._etags = itertools.count(1)

    def add(
        self,
        container: str,
        key: str,
        body: bytes,
        *,
        md5: bool = True,
        attributes: ObjectAttributes | None = None,
        tier: str | None = None,
        blob_type: str | None = None,
    ) -> ObjectInfo:
        info = ObjectInfo(
            key=key,
            size=len(body),
            etag=f"0x{next(self._etags):08X}",
            md5=hashlib.md5(body).hexdigest() if md5 else None,
            last_modified=datetime.now(UTC),
            attributes=attributes or ObjectAttributes(content_type="application/octet-stream"),
            tier=tier,
            blob_type=blob_type,
        )
        self.containers.setdefault(container, {})[key] = _Stored(body, info)
        return info

    def list_containers(self) -> Iterator[str]:
        self.faults.check("containers")
        yield from sorted(self.containers, key=lambda name: name.encode())

    def list_page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        self.faults.check("list")
        if container not in self.containers:
            raise ObjectNotFound(f"container {container}")
        keys = sorted(
            (k for k in self.containers[container] if k.startswith(prefix)),
            key=lambda k: k.encode(),
        )
        start = 0 if marker is None else keys.index(marker) + 1
        page = keys[start : start + self.capabilities.page_size]
        more = start + len(page) < len(keys)
        return ListingPage(
            [self.containers[container][k].info for k in page], page[-1] if more else None
        )

    def head(self, container: str, key: str) -> ObjectInfo | None:
        stored = self.containers.get(container, {}).get(key)
        return stored.info if stored else None

    @contextmanager
    def open(self, container: str, key: str, expected_etag: str | None = None) -> Iterator[_Reader]:
        self.faults.check("open")
        stored = self.containers.get(container, {}).get(key)
        if stored is None:
            raise ObjectNotFound(key)
        if expected_etag is not None and stored.info.etag != expected_etag:
            raise ObjectChanged(key)
        yield _Reader(stored.body, stored.info.etag, self.faults, short=key in self.short_reads)


@dataclass
class _Upload:
    bucket: str
    key: str
    attributes: ObjectAttributes
    encryption: Encryption
    parts: dict[int, bytes] = field(default_factory=dict)


class FakeTarget:
    def __init__(self, capabilities: TargetCapabilities | None = None) -> None:
        self.capabilities = capabilities or TargetCapabilities(min_part_size=1024)
        self.buckets: dict[str, dict[str, _Stored]] = {}
        self.bucket_settings: dict[str, BucketSettings] = {}
        self.uploads: dict[str, _Upload] = {}
        self.faults = Faults()
        self.corrupt_keys: set[str] = set()
        self.ignore_encryption = False
        """Store objects unencrypted and say nothing about it (moto with SSE-C does so)."""
        self.mutations: list[str] = []
        self.false_answers: set[str] = set()
        """What the write answers get wrong: ``etag`` (another ETag than the one stored),
        ``encryption`` (no encryption header, though the object is encrypted)."""
        self._ids = itertools.count(1)

    def ensure_bucket(self, bucket: str, settings: BucketSettings) -> bool:
        self.faults.check("ensure_bucket")
        self.mutations.append(f"bucket {bucket}")
        created = bucket not in self.buckets
        self.buckets.setdefault(bucket, {})
        self.bucket_settings[bucket] = settings
        return created

    def _bucket(self, bucket: str) -> dict[str, _Stored]:
        if bucket not in self.buckets:
            raise ObjectNotFound(f"bucket {bucket}")
        return self.buckets[bucket]

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        self.faults.check("head")
        stored = self._bucket(bucket).get(key)
        return stored.info if stored else None

    def _store(
        self,
        bucket: str,
        key: str,
        body: bytes,
        attributes: ObjectAttributes,
        encryption: Encryption,
        etag: str,
    ) -> WriteResult:
        if key in self.corrupt_keys:
            body = body[:-1] + bytes([body[-1] ^ 0xFF]) if body else b"x"
        lowered = {k.lower(): v for k, v in attributes.metadata.items()}
        info = ObjectInfo(
            key=key,
            size=len(body),
            etag=etag,
            md5=etag if "-" not in etag else None,
            last_modified=datetime.now(UTC),
            attributes=replace(attributes, metadata=lowered),
            encryption=encryption.mode
            if encryption.enabled and not self.ignore_encryption
            else None,
        )
        self._bucket(bucket)[key] = _Stored(body, info)
        return WriteResult(
            "0" * 32 if "etag" in self.false_answers else etag,
            encryption=None if "encryption" in self.false_answers else info.encryption,
            stored_by=info.last_modified,
        )

    def put(
        self,
        bucket: str,
        key: str,
        body: Payload,
        md5_hex: str,
        attributes: ObjectAttributes,
        encryption: Encryption,
    ) -> WriteResult:
        self.faults.check("put")
        self.mutations.append(f"put {key}")
        if hashlib.md5(body).hexdigest() != md5_hex:
            raise PermanentStorageError("BadDigest")
        stored_body = bytes(body)  # a copy: the copier lends its buffers again
        if key in self.corrupt_keys:
            stored_body += b"!"
        return self._store(
            bucket, key, stored_body, attributes, encryption, hashlib.md5(stored_body).hexdigest()
        )

    def create_multipart(
        self, bucket: str, key: str, attributes: ObjectAttributes, encryption: Encryption
    ) -> str:
        self.faults.check("create_multipart")
        self.mutations.append(f"create_multipart {key}")
        self._bucket(bucket)
        upload_id = f"up{next(self._ids)}"
        self.uploads[upload_id] = _Upload(bucket, key, attributes, encryption)
        return upload_id

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: Payload,
        md5_hex: str,
    ) -> str:
        self.faults.check("upload_part")
        self.mutations.append(f"upload_part {key} {number}")
        upload = self.uploads.get(upload_id)
        if upload is None or upload.key != key:
            raise ObjectNotFound(upload_id)
        upload.parts[number] = bytes(body)
        return hashlib.md5(body).hexdigest()

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        upload = self.uploads.get(upload_id)
        if upload is None:
            raise ObjectNotFound(upload_id)
        return [
            PartInfo(n, len(b), hashlib.md5(b).hexdigest()) for n, b in sorted(upload.parts.items())
        ]

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[PartInfo]
    ) -> WriteResult:
        self.faults.check("complete_multipart")
        self.mutations.append(f"complete_multipart {key}")
        upload = self.uploads.pop(upload_id)
        body = b"".join(upload.parts[p.number] for p in parts)
        digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts)).hexdigest()
        return self._store(
            bucket, key, body, upload.attributes, upload.encryption, f"{digest}-{len(parts)}"
        )

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        self.mutations.append(f"abort_multipart {key}")
        self.uploads.pop(upload_id, None)

    def list_multipart_uploads(self, bucket: str) -> list[tuple[str, str]]:
        return sorted((u.key, i) for i, u in self.uploads.items() if u.bucket == bucket)

    def list_page(self, bucket: str, prefix: str, marker: str | None) -> ListingPage:
        keys = sorted(k for k in self._bucket(bucket) if k.startswith(prefix))
        start = 0 if marker is None else keys.index(marker) + 1
        page = keys[start : start + 3]
        more = start + len(page) < len(keys)
        return ListingPage([self.buckets[bucket][k].info for k in page], page[-1] if more else None)

    @contextmanager
    def open(self, bucket: str, key: str, expected_etag: str | None = None) -> Iterator[_Reader]:
        stored = self._bucket(bucket).get(key)
        if stored is None:
            raise ObjectNotFound(key)
        yield _Reader(stored.body, stored.info.etag, Faults())

    def delete(self, bucket: str, key: str) -> None:
        self.mutations.append(f"delete {key}")
        self._bucket(bucket).pop(key, None)

    def delete_bucket(self, bucket: str) -> None:
        if self._bucket(bucket):
            raise PermanentStorageError(f"bucket '{bucket}' is not empty")
        del self.buckets[bucket]

    def body(self, bucket: str, key: str) -> bytes:
        return self.buckets[bucket][key].body


if TYPE_CHECKING:  # mypy checks each fake against the port it stands for
    _reader: ObjectReader = _Reader(b"", None, Faults())
    _source: SourceStore = FakeSource()
    _target: TargetStore = FakeTarget()


class FakeDatabasePair:
    """A source and a target database in memory (migrate.databases.DatabasePair): tables are
    lists of rows, replication copies the source's rows when asked to catch up."""

    def __init__(self, tables: list[TableInfo], rows: dict[str, list[tuple[object, ...]]]) -> None:
        self.tables = tables
        self.source = {name: list(found) for name, found in rows.items()}
        self.target: dict[str, list[tuple[object, ...]]] = {}
        self.inspection_overrides: dict[str, object] = {}
        self.schema_copied = False
        self.replicating = False
        self.stuck: set[str] = set()
        """Tables whose changes never reach the target (a broken subscription)."""
        self.source_columns = {t.qualified: "id integer" for t in tables}
        self.target_columns: dict[str, str] = {}
        self.calls: list[str] = []

    @property
    def resources(self) -> Resources:
        return Resources("pub", "sub", "slot", ("rpub", "rsub"))

    def inspect(self, schemas: Sequence[str]) -> Inspection:
        base: dict[str, Any] = {
            "source_version": 15,
            "target_version": 15,
            "client_version": 15,
            "logical_source": True,
            "why_not_logical": None,
            "tables": tuple(self.tables),
            "large_objects": 0,
            "extensions": (),
            "missing_extensions": (),
            "sequences": 0,
            "can_reverse": True,
            "source_bytes": 1000,
        }
        base.update(self.inspection_overrides)
        return Inspection(**base)

    def copy_schema(
        self, schemas: Sequence[str], sections: Sequence[str] = ("pre-data", "post-data")
    ) -> str:
        self.schema_copied = True
        self.target_columns = dict(self.source_columns)
        self.target = {t.qualified: [] for t in self.tables}
        return "schema copied"

    def schema_fingerprint(self, schemas: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
        return dict(self.source_columns), dict(self.target_columns)

    def start_replication(self, tables: Sequence[TableInfo]) -> str:
        self.replicating = True
        self._catch_up()
        return "replicating"

    def _catch_up(self) -> None:
        for name, found in self.source.items():
            if name not in self.stuck:
                self.target[name] = list(found)

    def copy_state(self) -> CopyState:
        rows = sum(len(found) for found in self.target.values())
        return CopyState(len(self.tables), len(self.tables), rows)

    def lag(self) -> Lag:
        return Lag(0, 0.0)

    def wait_caught_up(
        self, timeout: float, stop: Callable[[], bool], reverse: bool = False
    ) -> Lag:
        self.calls.append("catch-up")
        self._catch_up()
        return Lag(0, 0.1)

    def compare(self, table: TableInfo, chunk_rows: int | None) -> TableCheck:
        a, b = self.source.get(table.qualified, []), self.target.get(table.qualified, [])
        return TableCheck(table.qualified, len(a), len(b), repr(sorted(map(repr, a))),
                          repr(sorted(map(repr, b))))  # fmt: skip

    def copy_sequences(self, schemas: Sequence[str], reverse: bool = False) -> int:
        self.calls.append("sequences")
        return 1

    def reverse(self) -> str:
        return "reversed"

    def drop_all(self) -> list[str]:
        return ["subscription sub (target)"]

    def dump_restore(self, schemas: Sequence[str], jobs: int) -> str:
        self.calls.append("dump")
        self.target = {name: list(found) for name, found in self.source.items()}
        return "dumped"

    def close(self) -> None:
        return None
