"""A folder per container or bucket, for both sides: rehearsals, tests and air-gapped moves.

Objects live at their natural path (``<root>/<bucket>/<key>``) so that a local source is any
folder tree. What a file system cannot hold natively (content type, user metadata, the MD5
of what was written) lives in a sidecar under ``<root>/<bucket>/.migrate/``, which listings
skip. Writes go through a temporary file and a rename: an object is whole or absent.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from migrate.errors import ObjectChanged, ObjectNotFound, PermanentStorageError
from migrate.ports import (
    BucketSettings,
    Encryption,
    ListingPage,
    ObjectAttributes,
    ObjectInfo,
    PartInfo,
    Payload,
    SourceCapabilities,
    TargetCapabilities,
    WriteResult,
)

SIDECAR = ".migrate"
PAGE_SIZE = 1000


class _FileReader:
    def __init__(self, handle: BinaryIO, etag: str | None) -> None:
        self._handle = handle
        self._etag = etag

    @property
    def etag(self) -> str | None:
        return self._etag

    def chunks(self, size: int) -> Iterator[bytes]:
        while chunk := self._handle.read(size):
            yield chunk


class _Folder:
    """What both sides share: paths, sidecars, listing, stat and read."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._listing_cache: dict[tuple[str, str], list[str]] = {}

    # -- shared -----------------------------------------------------------------------------

    def _bucket_dir(self, bucket: str) -> Path:
        path = self.root / bucket
        if not path.is_dir():
            raise ObjectNotFound(f"container or bucket '{bucket}' does not exist in {self.root}")
        return path

    def _object_path(self, bucket: str, key: str) -> Path:
        segments = key.split("/")
        for segment in segments:
            if segment in ("", ".", "..") or len(segment.encode()) > 255 or "\0" in segment:
                raise PermanentStorageError(
                    f"key {key!r} cannot be stored in a folder (empty, '.' or '..' segment, "
                    "or a segment over 255 bytes)"
                )
        if segments[0] == SIDECAR:
            raise PermanentStorageError(f"key {key!r} uses the reserved folder '{SIDECAR}'")
        return self._bucket_dir(bucket).joinpath(*segments)

    def _sidecar(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / bucket / SIDECAR / "meta" / digest[:2] / f"{digest}.json"

    def _read_sidecar(self, bucket: str, key: str) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(self._sidecar(bucket, key).read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if data.get("key") == key else {}

    def _info(self, bucket: str, key: str, path: Path) -> ObjectInfo:
        stat = path.stat()
        side = self._read_sidecar(bucket, key)
        fresh = side.get("size") == stat.st_size and side.get("mtime_ns") == stat.st_mtime_ns
        attributes = ObjectAttributes(**side["attributes"]) if fresh else ObjectAttributes()
        return ObjectInfo(
            key=key,
            size=stat.st_size,
            etag=side["etag"] if fresh else f"{stat.st_mtime_ns:x}-{stat.st_size:x}",
            md5=side.get("md5") if fresh else None,
            last_modified=datetime.fromtimestamp(stat.st_mtime, UTC),
            attributes=attributes,
            encryption=side.get("encryption") if fresh else None,
        )

    def list_page(self, container: str, prefix: str, marker: str | None) -> ListingPage:
        keys = self._sorted_keys(container, prefix, fresh=marker is None)
        start = 0
        if marker is not None:
            start = _bisect_after(keys, marker)
        page = keys[start : start + PAGE_SIZE]
        objects = []
        for key in page:
            path = self.root / container / key
            if path.is_file():
                objects.append(self._info(container, key, path))
        more = start + PAGE_SIZE < len(keys)
        return ListingPage(objects, page[-1] if more and page else None)

    def _sorted_keys(self, container: str, prefix: str, *, fresh: bool) -> list[str]:
        cache_key = (container, prefix)
        if fresh or cache_key not in self._listing_cache:
            base = self._bucket_dir(container)
            keys = []
            for folder, dirs, files in os.walk(base):
                rel = Path(folder).relative_to(base)
                if rel == Path("."):
                    dirs[:] = [d for d in dirs if d != SIDECAR]
                for name in files:
                    key = (rel / name).as_posix() if rel != Path(".") else name
                    if key.startswith(prefix):
                        keys.append(key)
            keys.sort(key=lambda k: k.encode())
            self._listing_cache[cache_key] = keys
        return self._listing_cache[cache_key]

    def head(self, bucket: str, key: str) -> ObjectInfo | None:
        path = self._object_path(bucket, key)
        return self._info(bucket, key, path) if path.is_file() else None

    @contextmanager
    def open(
        self, bucket: str, key: str, expected_etag: str | None = None
    ) -> Iterator[_FileReader]:
        info = self.head(bucket, key)
        if info is None:
            raise ObjectNotFound(f"object {key!r} does not exist in '{bucket}'")
        if expected_etag is not None and info.etag != expected_etag:
            raise ObjectChanged(f"object {key!r} changed since it was listed")
        with self._object_path(bucket, key).open("rb") as handle:
            yield _FileReader(handle, info.etag)


class LocalSource(_Folder):
    """A folder holding one folder per container."""

    capabilities = SourceCapabilities(native_md5=True, page_size=PAGE_SIZE)

    def list_containers(self) -> Iterator[str]:
        """The folders of the root, in byte order; hidden ones (``.git``) are no container."""
        try:
            entries = [entry.name for entry in os.scandir(self.root) if entry.is_dir()]
        except FileNotFoundError:
            raise ObjectNotFound(f"source folder {self.root} does not exist") from None
        except NotADirectoryError:
            raise ObjectNotFound(f"source path {self.root} is not a folder") from None
        except OSError as exc:
            raise PermanentStorageError(
                f"source folder {self.root} cannot be read ({exc.strerror})"
            ) from None
        yield from sorted((n for n in entries if not n.startswith(".")), key=lambda n: n.encode())


class LocalTarget(_Folder):
    """A folder receiving one folder per bucket."""

    capabilities = TargetCapabilities(max_metadata_bytes=None, encryption_modes=frozenset({"none"}))
    """Plain files: no encryption at rest (the plan refuses to ask a local target for any)."""

    def ensure_bucket(self, bucket: str, settings: BucketSettings) -> bool:
        path = self.root / bucket
        created = not path.exists()
        _private_folders(path / SIDECAR)
        _write_private(
            path / SIDECAR / "bucket.json", json.dumps({"tags": dict(settings.tags)}).encode()
        )
        return created

    def put(
        self,
        bucket: str,
        key: str,
        body: Payload,
        md5_hex: str,
        attributes: ObjectAttributes,
        encryption: Encryption,
    ) -> WriteResult:
        if hashlib.md5(body, usedforsecurity=False).hexdigest() != md5_hex:
            raise PermanentStorageError(f"object {key!r}: body does not match its Content-MD5")
        return self._write(bucket, key, [body], attributes, encryption, md5_hex)

    def _write(
        self,
        bucket: str,
        key: str,
        pieces: Sequence[Payload | Path],
        attributes: ObjectAttributes,
        encryption: Encryption,
        md5_hex: str | None,
    ) -> WriteResult:
        path = self._object_path(bucket, key)
        tmp_dir = self.root / bucket / SIDECAR / "tmp"
        _private_folders(tmp_dir)
        tmp = tmp_dir / uuid.uuid4().hex
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(os.open(tmp, _PRIVATE_FILE, 0o600), "wb") as out:
            for piece in pieces:
                data = piece.read_bytes() if isinstance(piece, Path) else piece
                digest.update(data)
                out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            _private_folders(path.parent)
            os.replace(tmp, path)
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
            tmp.unlink(missing_ok=True)
            raise PermanentStorageError(
                f"key {key!r} conflicts with another key in the folder layout ({exc.strerror})"
            ) from None
        etag = md5_hex if md5_hex is not None else f"{digest.hexdigest()}-{len(pieces)}"
        stat = path.stat()
        mode = None  # plain files: a local folder encrypts nothing, and never says it does
        side = {
            "key": key,
            "size": stat.st_size,
            "mtime_ns": stat.st_mtime_ns,
            "etag": etag,
            "md5": digest.hexdigest(),
            "attributes": {**asdict(attributes), "metadata": dict(attributes.metadata)},
            "encryption": mode,
        }
        sidecar = self._sidecar(bucket, key)
        _private_folders(sidecar.parent)
        _write_private(sidecar, json.dumps(side).encode())
        stored_by = datetime.fromtimestamp(stat.st_mtime, UTC)
        return WriteResult(etag=etag, encryption=mode, stored_by=stored_by)

    def _upload_dir(self, bucket: str, upload_id: str) -> Path:
        if not upload_id.isalnum():
            raise PermanentStorageError(f"invalid upload id {upload_id!r}")
        return self.root / bucket / SIDECAR / "uploads" / upload_id

    def create_multipart(
        self, bucket: str, key: str, attributes: ObjectAttributes, encryption: Encryption
    ) -> str:
        self._object_path(bucket, key)
        upload_id = uuid.uuid4().hex
        folder = self._upload_dir(bucket, upload_id)
        _private_folders(folder)
        manifest = {
            "key": key,
            "attributes": {**asdict(attributes), "metadata": dict(attributes.metadata)},
            "encryption": _public(encryption),
        }
        _write_private(folder / "manifest.json", json.dumps(manifest).encode())
        return upload_id

    def _manifest(self, bucket: str, key: str, upload_id: str) -> dict[str, Any]:
        try:
            manifest: dict[str, Any] = json.loads(
                (self._upload_dir(bucket, upload_id) / "manifest.json").read_text()
            )
        except FileNotFoundError:
            raise ObjectNotFound(f"no multipart upload {upload_id} for {key!r}") from None
        if manifest["key"] != key:
            raise ObjectNotFound(f"no multipart upload {upload_id} for {key!r}")
        return manifest

    def upload_part(
        self,
        bucket: str,
        key: str,
        upload_id: str,
        number: int,
        body: Payload,
        md5_hex: str,
    ) -> str:
        self._manifest(bucket, key, upload_id)
        if hashlib.md5(body, usedforsecurity=False).hexdigest() != md5_hex:
            raise PermanentStorageError(f"part {number} of {key!r} does not match its MD5")
        part = self._upload_dir(bucket, upload_id) / f"{number:05d}.part"
        tmp = part.with_suffix(".tmp")
        _write_private(tmp, body)
        os.replace(tmp, part)
        return md5_hex

    def list_parts(self, bucket: str, key: str, upload_id: str) -> list[PartInfo]:
        self._manifest(bucket, key, upload_id)
        parts = []
        for path in sorted(self._upload_dir(bucket, upload_id).glob("*.part")):
            data = path.read_bytes()
            parts.append(
                PartInfo(
                    int(path.stem), len(data), hashlib.md5(data, usedforsecurity=False).hexdigest()
                )
            )
        return parts

    def complete_multipart(
        self, bucket: str, key: str, upload_id: str, parts: Sequence[PartInfo]
    ) -> WriteResult:
        manifest = self._manifest(bucket, key, upload_id)
        folder = self._upload_dir(bucket, upload_id)
        files = [folder / f"{p.number:05d}.part" for p in parts]
        if any(not f.exists() for f in files):
            raise PermanentStorageError(f"multipart upload of {key!r} misses a part")
        attributes = ObjectAttributes(**manifest["attributes"])
        encryption = Encryption(**manifest["encryption"])
        result = self._write(bucket, key, files, attributes, encryption, None)
        shutil.rmtree(folder, ignore_errors=True)
        return result

    def abort_multipart(self, bucket: str, key: str, upload_id: str) -> None:
        shutil.rmtree(self._upload_dir(bucket, upload_id), ignore_errors=True)

    def list_multipart_uploads(self, bucket: str) -> list[tuple[str, str]]:
        uploads = self.root / bucket / SIDECAR / "uploads"
        found = []
        for manifest in sorted(uploads.glob("*/manifest.json")) if uploads.exists() else []:
            found.append((json.loads(manifest.read_text())["key"], manifest.parent.name))
        return found

    def delete(self, bucket: str, key: str) -> None:
        path = self._object_path(bucket, key)
        path.unlink(missing_ok=True)
        self._sidecar(bucket, key).unlink(missing_ok=True)

    def delete_bucket(self, bucket: str) -> None:
        """Only an empty bucket goes: one file in it (but its own settings) refuses, and
        nothing of it is removed."""
        try:
            folder = self._bucket_dir(bucket)
        except ObjectNotFound:
            return
        settings = folder / SIDECAR / "bucket.json"
        left = [p for p in folder.rglob("*") if not p.is_dir() and p != settings]
        if left:
            raise PermanentStorageError(
                f"bucket '{bucket}' is not empty ({len(left)} files): it stays as it is"
            )
        try:
            settings.unlink(missing_ok=True)
            for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
                path.rmdir()
            folder.rmdir()
        except OSError as exc:
            raise PermanentStorageError(f"bucket '{bucket}': {exc.strerror}") from None


_PRIVATE_FILE = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)


def _private_folders(path: Path) -> None:
    """Create ``path`` and its missing parents 0700: what the target writes is private."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue


def _write_private(path: Path, data: Payload) -> None:
    """Write a file created 0600."""
    with os.fdopen(os.open(path, _PRIVATE_FILE, 0o600), "wb") as handle:
        handle.write(data)


def _public(encryption: Encryption) -> dict[str, str | None]:
    """What may be written down about an encryption setting: never an SSE-C key."""
    return {"mode": encryption.mode, "kms_key_id": encryption.kms_key_id}


def _bisect_after(keys: list[str], marker: str) -> int:
    """Index of the first key strictly after ``marker`` in UTF-8 byte order."""
    target = marker.encode()
    low, high = 0, len(keys)
    while low < high:
        middle = (low + high) // 2
        if keys[middle].encode() <= target:
            low = middle + 1
        else:
            high = middle
    return low
