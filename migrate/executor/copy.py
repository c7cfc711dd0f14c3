"""Copy one object, exactly: the stored bytes, hashed while they stream, checked after.

- Objects up to the multipart threshold go in one PUT with Content-MD5; larger ones in parts
  whose size follows the target's limits (``max(min_part, chunk, ceil(size / max_parts))``).
- MD5 and SHA-256 are computed over the exact bytes read; the count must equal the listed
  size; a source MD5 (when Azure has one) must match; the source ETag must not change.
- Every write is proven before the object is done (the write check), by one of two requests:
  - the write's own answer, where the probe found that the target's answers prove it
    (``CopySettings.proving_answers``) and the bucket's encryption leaves ETags as MD5s
    (none, SSE-S3): the ETag must be the MD5 of what was sent (a single PUT) or the MD5 of
    the parts' MD5s then ``-N`` (computed here, compared with the answer of
    CompleteMultipartUpload), and the answer must report the encryption the bucket must
    apply. The server computed that MD5 over what it stored, so it proves the bytes and
    their count; no HEAD follows.
  - otherwise a HEAD right after the write: size, the encryption, the ETag (single PUT), the
    ``migrate-sha256`` and ``migrate-source-md5`` metadata.
  The ETag, the Last-Modified (a HEAD's, or the answer's Last-Modified or Date: the latest
  the version can date from) and the encryption are recorded, so that the verify step can
  tell from the target's listing that the object has not changed since. A mismatch is
  retried, then failed.
- A multipart upload is recorded in the ledger as soon as it exists; a later run resumes it
  from the parts the target lists (each part's ETag must be the MD5 of the bytes re-read).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, replace

from migrate.errors import (
    ObjectChanged,
    ObjectNotFound,
    PermanentStorageError,
    StorageError,
    TransientStorageError,
)
from migrate.executor.retry import DEFAULT_RETRY, RetryPolicy, retrying
from migrate.executor.throttle import RateLimiter
from migrate.ledger import CopyResult, ObjectTask, UploadJournal
from migrate.model import Plan
from migrate.objectrules import (
    SHA256_KEY,
    SOURCE_MD5_KEY,
    SOURCE_MODIFIED_KEY,
    modified_stamp,
    object_problem,
)
from migrate.ports import (
    Encryption,
    ObjectAttributes,
    ObjectInfo,
    ObjectReader,
    PartInfo,
    Payload,
    SourceStore,
    TargetStore,
    WriteResult,
)
from migrate.redact import redact

MiB = 1024**2


class Interrupted(Exception):
    """The run is stopping: the object is left for the next run (an upload stays resumable)."""


@dataclass(frozen=True)
class CopySettings:
    multipart_threshold: int = 32 * MiB
    """Objects up to this size go in one PUT (one buffer, one request)."""
    part_size: int = 16 * MiB
    chunk_size: int = 1 * MiB
    part_concurrency: int = 4
    """Parts of one object in flight at once, while the next part is read."""
    memory_budget: int = 128 * MiB
    """Bytes of the large copies' buffers together, whether lent or kept for reuse: RSS
    stays flat whatever the sizes (measured peak, 16 x 32 MiB: 254 MiB at 128 MiB, 319 MiB
    at 192 MiB, for the same wall time; the rest is the interpreter, the libraries and the
    allocator's per-thread arenas)."""
    small_reserve: int = 16 * MiB
    """Bytes kept for small objects (up to ``SMALL_OBJECT``), which never wait for the large
    ones: large copies can fill the whole budget, and every small copy would then wait for
    one of them to end."""
    proving_answers: bool = False
    """The target's write answers prove each write (found by ``migrate probe``): no HEAD
    after a write whose encryption leaves the ETag an MD5."""

    def footprint(self, size: int) -> int:
        """The memory a small object's buffer costs while it is filled and sent: the buffer
        itself (allocated once, at its final size) and the chunk being read into it. The
        HTTP layers send it without a copy (measured: four 32 MiB PUTs at once raise the
        peak RSS by 133 MiB)."""
        return size + min(size, self.chunk_size)


SMALL_OBJECT = 1 * MiB
"""Objects up to this size take a buffer of their own from the small objects' reserve;
larger ones (and every part) a buffer lent by the large copies' pool."""
REUSE_SLACK = 1.25
"""A kept buffer is lent again for a request down to 1/1.25 of its size."""


class _ByteBudget:
    """A counting semaphore in bytes: a copy waits until its buffer fits the budget."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._used = 0
        self._changed = threading.Condition()

    def acquire(self, size: int) -> int:
        size = min(size, self._limit)
        with self._changed:
            while self._used + size > self._limit:
                self._changed.wait()
            self._used += size
        return size

    def release(self, size: int) -> None:
        with self._changed:
            self._used -= size
            self._changed.notify_all()

    @contextmanager
    def hold(self, size: int) -> Iterator[None]:
        taken = self.acquire(size)
        try:
            yield
        finally:
            self.release(taken)


class _Buffers:
    """The large copies' buffers, kept and lent again, within a byte budget.

    A fresh large buffer is mapped by the allocator page by page as it is filled, and
    unmapped when it is freed: one page fault per 4 KiB (measured: 0.30 s of system CPU to
    read 512 MiB into fresh buffers, 0.08 s into reused ones). The budget counts every
    buffer alive, lent or kept; a kept buffer that does not fit a request is dropped when a
    new one is needed, so the peak stays within the budget. One buffer larger than the whole
    budget is lent when no other is alive (a part size the target's limits impose).
    """

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._alive = 0
        self._kept: list[bytearray] = []
        self._changed = threading.Condition()

    @property
    def held(self) -> int:
        """Bytes of the buffers alive, lent or kept."""
        with self._changed:
            return self._alive

    def take(self, size: int) -> bytearray:
        capacity = math.ceil(size / MiB) * MiB
        with self._changed:
            while True:
                reused = self._reusable(capacity)
                if reused is not None:
                    return reused
                if self._alive == 0 or self._alive + capacity <= self._limit:
                    self._alive += capacity
                    break
                if self._kept:
                    self._alive -= len(self._kept.pop(0))  # the oldest kept: freed
                else:
                    self._changed.wait()
        try:
            return bytearray(capacity)
        except MemoryError:
            self._forget(capacity)
            raise

    def give(self, buffer: bytearray) -> None:
        with self._changed:
            self._kept.append(buffer)
            self._changed.notify_all()

    @contextmanager
    def lend(self, size: int) -> Iterator[memoryview]:
        """A buffer of at least ``size`` bytes, seen as exactly ``size`` bytes."""
        buffer = self.take(size)
        try:
            yield memoryview(buffer)[:size]
        finally:
            self.give(buffer)

    def _reusable(self, capacity: int) -> bytearray | None:
        """The smallest kept buffer that fits (taken out by position: ``list.remove`` would
        compare the buffers' bytes)."""
        fitting = [
            (len(b), i)
            for i, b in enumerate(self._kept)
            if capacity <= len(b) <= capacity * REUSE_SLACK
        ]
        if not fitting:
            return None
        return self._kept.pop(min(fitting)[1])

    def _forget(self, capacity: int) -> None:
        with self._changed:
            self._alive -= capacity
            self._changed.notify_all()


@dataclass(frozen=True)
class Route:
    service: str
    container: str
    bucket: str
    encryption: Encryption
    project: str | None = None


def planned_route(plan: Plan, name: str) -> Route | None:
    """Where the plan copies a service's objects from and to (None: it has no data)."""
    planned = plan.services[name]
    if planned.container is None or planned.bucket is None:
        return None
    target = plan.target
    encryption = (
        Encryption(target.encryption, target.kms_key_id)
        if target is not None
        else Encryption("AES256")
    )
    return Route(name, planned.container, planned.bucket, encryption, project=planned.project)


DEFAULT_COPY = CopySettings()


class _Hashes:
    def __init__(self) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self.sha256 = hashlib.sha256()
        self.size = 0

    def update(self, data: Payload) -> None:
        self.md5.update(data)
        self.sha256.update(data)
        self.size += len(data)


class Copier:
    def __init__(
        self,
        source: SourceStore,
        target: TargetStore,
        journal: UploadJournal,
        *,
        settings: CopySettings = DEFAULT_COPY,
        policy: RetryPolicy = DEFAULT_RETRY,
        sleep: Callable[[float], None] | None = None,
        stop: threading.Event | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.source = source
        self.target = target
        self.journal = journal
        self.settings = settings
        self.policy = policy
        self._sleep = sleep if sleep is not None else time.sleep
        self._buffers = _Buffers(settings.memory_budget)
        self._small = _ByteBudget(settings.small_reserve)
        self._parts = ThreadPoolExecutor(
            max_workers=max(1, settings.part_concurrency), thread_name_prefix="part"
        )
        self.stop = stop or threading.Event()
        self.limiter = limiter if limiter is not None else RateLimiter()
        """The bandwidth limit every read of this copier pays into (``--bwlimit``)."""

    def close(self) -> None:
        """Stop the part uploaders (after the copies that use them are over)."""
        self._parts.shutdown(wait=True, cancel_futures=True)

    # -- entry point ----------------------------------------------------------------------

    def copy(self, route: Route, task: ObjectTask) -> CopyResult:
        attempts = task.attempts + 1
        problem = object_problem(
            task.key, task.size, task.tier, task.attributes.metadata, self.target.capabilities
        )
        if problem:
            return CopyResult(task.id, "failed", attempts, error=problem)
        retries = 0

        def count_retry(_: BaseException | None) -> None:
            nonlocal retries
            retries += 1

        controller = retrying(self.policy, sleep=self._sleep, on_retry=count_retry)
        try:
            for attempt in controller:
                with attempt:
                    result = self._copy_once(route, task)
        except Interrupted:
            return CopyResult(task.id, "pending", task.attempts, retries=retries)
        except ObjectChanged as change:
            self._abandon_upload(route, task)
            return CopyResult(
                task.id, "changed", attempts, error=redact(str(change)), retries=retries
            )
        except ObjectNotFound as error:
            return CopyResult(
                task.id,
                "failed",
                attempts,
                error=redact(f"gone at the source or target: {error}"),
                retries=retries,
            )
        except StorageError as error:
            self._abandon_upload(route, task)
            reason = redact(str(error))
            if isinstance(error, TransientStorageError):
                reason = f"gave up after {retries + 1} attempts: {reason}"
            return CopyResult(task.id, "failed", attempts, error=reason, retries=retries)
        return replace(result, attempts=attempts, retries=retries)

    def _copy_once(self, route: Route, task: ObjectTask) -> CopyResult:
        if self.stop.is_set():
            raise Interrupted
        if task.size <= self.settings.multipart_threshold:
            return self._single_put(route, task)
        return self._multipart(route, task)

    # -- single PUT -----------------------------------------------------------------------

    def _single_put(self, route: Route, task: ObjectTask) -> CopyResult:
        with self._buffer_for(task.size) as buffer:
            hashes = _Hashes()
            with self._open_source(route, task) as reader:
                self._fill(buffer, self._read(reader), hashes)
            md5 = self._check_read(route, task, hashes, confirm_unchanged=False)
            written = self.target.put(
                route.bucket,
                task.key,
                buffer,  # the filled buffer itself: no copy (boto3 sends it as is)
                md5,
                self._attributes(task, hashes),
                route.encryption,
            )
        by_answer = self._answers_prove(route)
        if by_answer:
            info = self._check_answer(route, task, hashes, written, md5, single=True)
        else:
            info = self._check_written(route, task, hashes, expect_md5_etag=True)
        return self._done(task, hashes, info, written.version_id, by_answer=by_answer)

    @contextmanager
    def _buffer_for(self, size: int) -> Iterator[memoryview]:
        """A small object's buffer of its own, from the small reserve; a larger one's lent by
        the pool (the object is read into it, then sent from it, without a copy)."""
        if size > SMALL_OBJECT:
            with self._buffers.lend(size) as view:
                yield view
            return
        with self._small.hold(self.settings.footprint(size)):
            yield memoryview(bytearray(size))

    def _read(self, reader: ObjectReader) -> Iterator[bytes]:
        """The object's bytes, chunk by chunk, within the bandwidth limit; a stop ends the
        read at the next chunk (the object stays pending), never reads on unthrottled."""
        for chunk in self.limiter.throttled(reader.chunks(self.settings.chunk_size), self.stop):
            if self.stop.is_set():
                raise Interrupted
            yield chunk

    @staticmethod
    def _fill(buffer: memoryview, chunks: Iterator[bytes], hashes: _Hashes) -> None:
        """The stored bytes, hashed, into ``buffer``. Bytes beyond its size are hashed and
        counted, not kept: the read check refuses a size that is not the listed one."""
        filled, size = 0, len(buffer)
        for chunk in chunks:
            hashes.update(chunk)
            end = min(filled + len(chunk), size)
            buffer[filled:end] = chunk[: end - filled]
            filled = end

    # -- multipart ------------------------------------------------------------------------

    def part_size_for(self, size: int) -> int:
        caps = self.target.capabilities
        wanted = max(caps.min_part_size, self.settings.part_size, math.ceil(size / caps.max_parts))
        wanted = math.ceil(wanted / MiB) * MiB
        if wanted > caps.max_part_size:
            raise PermanentStorageError(
                f"object of {size} bytes needs parts of {wanted} bytes, over the target's "
                f"{caps.max_part_size}-byte part limit"
            )
        return wanted

    def _multipart(self, route: Route, task: ObjectTask) -> CopyResult:
        upload_id, part_size, existing = self._resume_or_start(route, task)
        hashes = _Hashes()
        sending: list[Future[PartInfo]] = []
        try:
            with self._open_source(route, task) as reader:
                for number, (part, buffer) in enumerate(self._parts_of(reader, part_size), 1):
                    sending.append(
                        self._queue_part(
                            route, task, upload_id, number, part, buffer, hashes, existing
                        )
                    )
            if not sending:
                sending.append(
                    self._queue_part(
                        route, task, upload_id, 1, memoryview(b""), None, hashes, existing
                    )
                )
            parts = [future.result() for future in sending]
        except BaseException:
            for future in sending:
                future.cancel()
            wait(sending)
            raise
        self._check_read(route, task, hashes)
        written = self.target.complete_multipart(route.bucket, task.key, upload_id, parts)
        self.journal.forget_upload(route.service, task.key)
        expected = multipart_etag(parts)
        if self._answers_prove(route) and expected is not None:
            info = self._check_answer(route, task, hashes, written, expected, single=False)
        else:
            info = self._check_written(route, task, hashes, expect_md5_etag=False)
        return self._done(task, hashes, info, written.version_id)

    def _resume_or_start(
        self, route: Route, task: ObjectTask
    ) -> tuple[str, int, dict[int, PartInfo]]:
        recorded = self.journal.upload_of(route.service, task.key)
        if recorded is not None:
            upload_id, part_size = recorded
            try:
                listed = self.target.list_parts(route.bucket, task.key, upload_id)
                return upload_id, part_size, {p.number: p for p in listed}
            except ObjectNotFound:
                self.journal.forget_upload(route.service, task.key)
        upload_id, part_size = self._start_upload(route, task)
        return upload_id, part_size, {}

    def _start_upload(self, route: Route, task: ObjectTask) -> tuple[str, int]:
        part_size = self.part_size_for(task.size)
        attributes = self._attributes(task, None)
        upload_id = self.target.create_multipart(
            route.bucket, task.key, attributes, route.encryption
        )
        self.journal.record_upload(route.service, task.key, upload_id, part_size)
        return upload_id, part_size

    def prepare_upload(self, route: Route, task: ObjectTask) -> tuple[str, int] | None:
        """Start (or find) the multipart upload of a large object and write it in the journal
        before any byte moves: whoever copies the object, a lost attempt resumes from its
        parts. None for an object that goes in one PUT (or that cannot be copied)."""
        if task.size <= self.settings.multipart_threshold:
            return None
        capabilities = self.target.capabilities
        if object_problem(task.key, task.size, task.tier, task.attributes.metadata, capabilities):
            return None
        recorded = self.journal.upload_of(route.service, task.key)
        return recorded if recorded is not None else self._start_upload(route, task)

    def _parts_of(
        self, reader: ObjectReader, part_size: int
    ) -> Iterator[tuple[memoryview, bytearray]]:
        """The stored bytes in parts, each read into a buffer the pool lends before it is
        read (and takes back once the part is sent)."""
        chunks = self._read(reader)
        pending = memoryview(b"")
        while True:
            buffer = self._buffers.take(part_size)
            try:
                view = memoryview(buffer)
                filled = 0
                while filled < part_size:
                    if not pending:
                        chunk = next(chunks, None)
                        if chunk is None:
                            break
                        if self.stop.is_set():
                            raise Interrupted
                        pending = memoryview(chunk)
                    step = min(len(pending), part_size - filled)
                    view[filled : filled + step] = pending[:step]
                    pending = pending[step:]
                    filled += step
            except BaseException:
                self._buffers.give(buffer)
                raise
            if not filled:
                self._buffers.give(buffer)
                return
            yield view[:filled], buffer

    def _queue_part(
        self,
        route: Route,
        task: ObjectTask,
        upload_id: str,
        number: int,
        part: memoryview,
        buffer: bytearray | None,
        hashes: _Hashes,
        existing: dict[int, PartInfo],
    ) -> Future[PartInfo]:
        """Hash in read order here; upload on the part pool; give the buffer back after (or
        at once when the part cannot be queued: a buffer never given back would shrink the
        budget for the rest of the run)."""
        try:
            hashes.update(part)
            future = self._parts.submit(
                self._send_part, route, task, upload_id, number, part, existing
            )
        except BaseException:
            if buffer is not None:
                self._buffers.give(buffer)
            raise
        if buffer is not None:
            future.add_done_callback(lambda _: self._buffers.give(buffer))
        return future

    def _send_part(
        self,
        route: Route,
        task: ObjectTask,
        upload_id: str,
        number: int,
        body: memoryview,
        existing: dict[int, PartInfo],
    ) -> PartInfo:
        md5 = hashlib.md5(body, usedforsecurity=False).hexdigest()
        known = existing.get(number)
        if known is not None and known.size == len(body) and known.etag == md5:
            return known  # already on the target, byte for byte: resumed, not re-sent
        etag = self.target.upload_part(route.bucket, task.key, upload_id, number, body, md5)
        if _looks_like_md5(etag) and etag != md5:
            raise TransientStorageError(
                f"part {number} of {task.key!r}: the target stored other bytes (ETag {etag}, "
                f"sent MD5 {md5})"
            )
        return PartInfo(number, len(body), etag)

    def _abandon_upload(self, route: Route, task: ObjectTask) -> None:
        recorded = self.journal.upload_of(route.service, task.key)
        if recorded is None:
            return
        try:
            self.target.abort_multipart(route.bucket, task.key, recorded[0])
        except StorageError:
            return  # left for `list_multipart_uploads` clean-up; the ledger still names it
        self.journal.forget_upload(route.service, task.key)

    @contextmanager
    def _open_source(self, route: Route, task: ObjectTask) -> Iterator[ObjectReader]:
        """Open the listed object; if it is gone, it was deleted since the listing: the next
        listing retires it (a vanished object is a change, not a failure)."""
        try:
            with self.source.open(route.container, task.key, task.etag) as reader:
                yield reader
        except ObjectNotFound:
            raise ObjectChanged(
                f"{task.key!r} was deleted at the source after it was listed"
            ) from None

    # -- checks ---------------------------------------------------------------------------

    def _check_read(
        self, route: Route, task: ObjectTask, hashes: _Hashes, *, confirm_unchanged: bool = True
    ) -> str:
        """The bytes read are the object listed: same size, same MD5 when Azure has one. The
        read was conditional on the listed ETag (``open`` refuses another version); a long,
        multipart read also asks the source again at the end (``confirm_unchanged``)."""
        md5 = hashes.md5.hexdigest()
        anomaly = None
        if hashes.size != task.size:
            anomaly = f"read {hashes.size} bytes, the listing said {task.size}"
        elif task.md5 is not None and task.md5 != md5:
            anomaly = "the bytes read do not match the source's Content-MD5"
        if not confirm_unchanged:
            if anomaly is not None:
                raise TransientStorageError(f"{task.key!r}: {anomaly} (short or damaged read)")
            return md5
        now = self.source.head(route.container, task.key)
        if now is None:
            raise ObjectChanged(f"{task.key!r} was deleted at the source while it was read")
        if now.etag != task.etag or now.size != task.size:
            raise ObjectChanged(
                f"{task.key!r} changed at the source while it was read; it is taken again "
                "after the next listing"
            )
        if anomaly is not None:
            raise TransientStorageError(f"{task.key!r}: {anomaly} (short or damaged read)")
        return md5

    def _answers_prove(self, route: Route) -> bool:
        """Decided per target and route, never per call: the probe found the target's write
        answers prove the write, and the bucket's encryption keeps ETags MD5s (SSE-KMS and
        SSE-C ETags are not)."""
        return self.settings.proving_answers and route.encryption.mode in MD5_ETAG_MODES

    @staticmethod
    def _check_answer(
        route: Route,
        task: ObjectTask,
        hashes: _Hashes,
        written: WriteResult,
        expected: str,
        *,
        single: bool,
    ) -> ObjectInfo:
        """The write's answer proves it: the ETag the server computed over what it stored is
        the one computed here over what was sent, and it reports the bucket's encryption."""
        if written.etag != expected:
            raise TransientStorageError(
                f"{task.key!r}: the target's answer gives the ETag {written.etag}, not "
                f"{expected}, the one of what was sent"
            )
        if route.encryption.enabled and written.encryption is None:
            raise PermanentStorageError(
                f"{task.key!r}: the target's answer does not report server-side encryption "
                f"({route.encryption.mode}) for the object; it is not counted as done"
            )
        return ObjectInfo(
            key=task.key,
            size=hashes.size,
            etag=written.etag,
            md5=expected if single else None,
            last_modified=written.stored_by,
            encryption=written.encryption,
            version_id=written.version_id,
        )

    def _check_written(
        self, route: Route, task: ObjectTask, hashes: _Hashes, *, expect_md5_etag: bool
    ) -> ObjectInfo:
        info = self.target.head(route.bucket, task.key)
        if info is None:
            raise TransientStorageError(
                f"{task.key!r}: not found on the target right after the write"
            )
        if info.size != hashes.size:
            raise TransientStorageError(
                f"{task.key!r}: the target holds {info.size} bytes, {hashes.size} were sent"
            )
        md5 = hashes.md5.hexdigest()
        if expect_md5_etag and info.md5 is not None and info.md5 != md5:
            raise TransientStorageError(
                f"{task.key!r}: the target's ETag {info.md5} is not the MD5 {md5} of what was sent"
            )
        if route.encryption.enabled and info.encryption is None:
            raise PermanentStorageError(
                f"{task.key!r}: the target does not report server-side encryption "
                f"({route.encryption.mode}) for the object; it is not counted as done"
            )
        metadata = {k.lower(): v for k, v in info.attributes.metadata.items()}
        stored_sha = metadata.get(SHA256_KEY)
        if stored_sha is not None and stored_sha != hashes.sha256.hexdigest():
            raise TransientStorageError(f"{task.key!r}: the target's SHA-256 metadata differs")
        stored_md5 = metadata.get(SOURCE_MD5_KEY)
        if task.md5 is not None and stored_md5 is not None and stored_md5 != task.md5:
            raise TransientStorageError(f"{task.key!r}: the target's source-MD5 metadata differs")
        return info

    def _attributes(self, task: ObjectTask, hashes: _Hashes | None) -> ObjectAttributes:
        metadata = dict(task.attributes.metadata)
        if hashes is not None:
            metadata[SHA256_KEY] = hashes.sha256.hexdigest()
        if task.md5 is not None:
            metadata[SOURCE_MD5_KEY] = task.md5
        if task.last_modified is not None:
            metadata[SOURCE_MODIFIED_KEY] = task.last_modified
        return replace(task.attributes, metadata=metadata)

    def _done(
        self,
        task: ObjectTask,
        hashes: _Hashes,
        checked: ObjectInfo,
        version: str | None,
        *,
        by_answer: bool = False,
    ) -> CopyResult:
        """The object is done: record what was read and what the write check saw (a HEAD,
        or the write's answer: ``answer-md5`` says the stored metadata was not read)."""
        if task.md5 is not None:
            proof = "source-md5"
        elif checked.md5 is not None:
            proof = "answer-md5" if by_answer else "target-md5"
        else:
            proof = "parts-md5"
        return CopyResult(
            task.id,
            "done",
            task.attempts + 1,
            sha256=hashes.sha256.hexdigest(),
            md5=hashes.md5.hexdigest(),
            target_etag=checked.etag,
            target_version=version or checked.version_id,
            proof=proof,
            target_modified=modified_stamp(checked.last_modified),
            target_sse=checked.encryption,
        )


MD5_ETAG_MODES = frozenset({"none", "AES256"})
"""Encryption modes under which S3 ETags are MD5s (AWS documents it; SSE-KMS, DSSE-KMS and
SSE-C ETags are not)."""


def multipart_etag(parts: Sequence[PartInfo]) -> str | None:
    """The ETag S3 gives a completed multipart upload: the MD5 of the parts' binary MD5s, then
    ``-N``. None when a part's ETag is not an MD5 (the provider alters them)."""
    if not parts or not all(_looks_like_md5(p.etag) for p in parts):
        return None
    digest = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in parts), usedforsecurity=False)
    return f"{digest.hexdigest()}-{len(parts)}"


def _looks_like_md5(etag: str) -> bool:
    return len(etag) == 32 and all(c in "0123456789abcdef" for c in etag.lower())
