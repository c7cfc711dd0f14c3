"""Compare source and target again, at the level asked, and say what each object's proof is.

Levels:
- ``listing``: reconcile the target's listing with the ledger (missing, extra, size differs);
  proof per object: size only.
- ``hash`` (default): listing, plus a HEAD of every copied object (several at a time): the
  server-side encryption the bucket requires must be reported, the target's ETag must be
  the one recorded after the copy, its ``migrate-sha256`` metadata (single PUT) the SHA-256
  computed while copying, its ``migrate-source-md5`` the Azure MD5. A blob that had no MD5 at
  Azure and went in parts has only its size and ETag here: the report says so.
  In apply's verify step (``trust_write_checks``) an object whose listing shows the ETag and
  size its write check saw, a Last-Modified no later than it recorded (with the encryption
  required, if the bucket needs it) is not HEADed again: any later write to the key (new
  bytes, metadata or encryption) gives it a later Last-Modified. A HEAD write check made the
  same comparisons; a write proven by its answer (``answer-md5``) had its bytes and
  encryption proven, not its stored metadata, and its proof says so. ``migrate verify`` on
  its own always HEADs.
- ``deep``: hash, plus a re-read of the target's bytes, hashed and compared with the SHA-256
  of the bytes read at the source: the only level that finds bytes corrupted at rest.
- ``sample``: hash, plus deep on a rotating ``PCT`` of the objects (a later run takes the next
  slice).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol, TypeVar

from migrate.audit import AuditEvent
from migrate.errors import ObjectNotFound, StorageError
from migrate.executor.retry import DEFAULT_RETRY, RetryPolicy, retry_call
from migrate.filters import NO_FILTER, KeyFilter
from migrate.ledger import CopiedObject, KnownObject, VerifyLedger
from migrate.model import PlannedService
from migrate.objectrules import SHA256_KEY, SOURCE_MD5_KEY, modified_stamp
from migrate.ports import ObjectInfo, SourceStore, TargetStore

PAGE = 1000
CHUNK = 1024 * 1024
LEVELS = ("listing", "hash", "deep")
_T = TypeVar("_T")


TARGET_LOST = "target lost"
TARGET_ALTERED = "target altered"
TARGET_EXTRA = "target extra"
SOURCE_CHANGED = "source changed"
SOURCE_ADDED = "source added"
SOURCE_DELETED = "source deleted"
NOT_COPIED = "not copied"


@dataclass(frozen=True)
class Difference:
    key: str
    problem: str
    refuted: bool = False
    """The object's copy does not hold (the target does not protect it as it must): it is
    not done, whatever the write's answer said."""
    cause: str = TARGET_ALTERED
    """Which side moved: the target lost or altered the object (repair copies it again), or
    the source changed, added or deleted it since its copy (a sync takes it)."""


@dataclass
class VerifyReport:
    service: str
    level: str
    checked: int = 0
    differences: list[Difference] = field(default_factory=list)
    proofs: Counter[str] = field(default_factory=Counter)
    not_copied: int = 0
    in_flight: int = 0
    deep_checked: int = 0
    unchanged: int = 0
    """Objects whose listing shows them as their write check saw them (not HEADed again)."""
    next_cursor: int | None = None
    against: str = "ledger"
    """What the target was compared with: ``ledger`` (what was copied) or ``source`` (the
    current source listing, too)."""

    @property
    def ok(self) -> bool:
        return not self.differences and not self.not_copied

    def summary(self) -> dict[str, object]:
        return {
            "service": self.service,
            "level": self.level,
            "checked": self.checked,
            "deep_checked": self.deep_checked,
            "unchanged_since_write_check": self.unchanged,
            "not_copied": self.not_copied,
            "in_flight": self.in_flight,
            "against": self.against,
            "differences": [
                {"key": d.key, "problem": d.problem, "cause": d.cause} for d in self.differences
            ],
            "proofs": dict(self.proofs),
        }


def verify_service(
    service: str,
    bucket: str,
    ledger: VerifyLedger,
    target: TargetStore,
    *,
    level: str = "hash",
    sample_pct: float | None = None,
    cursor: int = 0,
    policy: RetryPolicy = DEFAULT_RETRY,
    workers: int = 8,
    encrypted: bool = False,
    trust_write_checks: bool = False,
    keep: KeyFilter = NO_FILTER,
    prefix: str = "",
) -> VerifyReport:
    """Verify a service's copies; HEADs and re-reads run ``workers`` at a time, the report is
    written in key order by this thread. ``encrypted``: the bucket must encrypt, so every
    object's HEAD must report server-side encryption. ``trust_write_checks``: an object the
    listing shows unchanged since its write check is not HEADed again. ``keep``: the
    service's filter; a target object it leaves out is not the service's, never "extra".
    ``prefix``: the service's prefix (keys map to themselves): the target is listed under
    it, and what the bucket holds beyond it is another service's, never "extra"."""
    report = VerifyReport(service, level if sample_pct is None else f"sample:{sample_pct:g}%")
    for key, status, error in ledger.not_copied(service, 1000):
        if status == "failed":  # pending or changed: still moving while the source is live
            report.not_copied += 1
            if report.not_copied <= 50:
                report.differences.append(
                    Difference(key, f"not copied: {error or status}", cause=NOT_COPIED)
                )
        else:
            report.in_flight += 1
    deep_ids: set[int] | None = None
    if sample_pct is not None:
        deep_ids, report.next_cursor = _sample(service, ledger, sample_pct, cursor)
    deep = level == "deep"
    examine = partial(_examine, bucket, target, policy, deep, deep_ids)
    pairs = _reconcile(service, bucket, ledger, target, report, policy, keep, prefix)
    if level == "listing" and sample_pct is None:
        for _ in pairs:
            report.checked += 1
            report.proofs["size only"] += 1
        return report
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify") as pool:
        for chunk in _chunks(pairs, max(1, workers) * 16):
            heads: list[CopiedObject] = []
            for obj, listed in chunk:
                rereads = deep or (deep_ids is not None and obj.id in deep_ids)
                if trust_write_checks and not rereads and _unchanged(obj, listed, encrypted):
                    _record_unchanged(obj, report)
                else:
                    heads.append(obj)
            for seen in pool.map(examine, heads):  # in key order; HEADs and re-reads in parallel
                _record(seen, report, encrypted=encrypted)
    return report


SOURCE_MD5_MATCHED = "source MD5 matched"
TARGET_MD5_MATCHED = "target MD5 and stored SHA-256 matched (not re-read)"
SIZE_AND_ETAG = "size and ETag only (no MD5 at the source; re-read with --deep)"
ANSWER_MD5_MATCHED = (
    "target MD5 in the write's answer (stored metadata not read; `migrate verify` HEADs it)"
)
_RECORDED_PROOFS = {
    "source-md5": SOURCE_MD5_MATCHED,
    "target-md5": TARGET_MD5_MATCHED,
    "answer-md5": ANSWER_MD5_MATCHED,
}


def _unchanged(obj: CopiedObject, listed: ObjectInfo, encrypted: bool) -> bool:
    """The listing shows the object version the write check saw: the same ETag and size, a
    Last-Modified no later than the one recorded (to the second: a HEAD's Last-Modified, or
    the write answer's Last-Modified or Date), and that check saw the encryption the bucket
    requires. Any later write to the key has a later Last-Modified."""
    listed_modified = modified_stamp(listed.last_modified)
    return (
        obj.target_etag is not None
        and obj.target_modified is not None
        and listed_modified is not None
        and listed.etag == obj.target_etag
        and listed.size == obj.size
        and listed_modified <= obj.target_modified
        and (not encrypted or obj.target_sse is not None)
    )


def _record_unchanged(obj: CopiedObject, report: VerifyReport) -> None:
    report.checked += 1
    report.unchanged += 1
    report.proofs[_RECORDED_PROOFS.get(obj.proof or "", SIZE_AND_ETAG)] += 1


def _ledger_rows(service: str, ledger: VerifyLedger) -> Iterator[CopiedObject]:
    after: str | None = None
    while True:
        rows = ledger.copied_after(service, after, PAGE)
        yield from rows
        if len(rows) < PAGE:
            return
        after = rows[-1].key


def _target_rows(
    bucket: str, prefix: str, target: TargetStore, policy: RetryPolicy
) -> Iterator[ObjectInfo]:
    marker: str | None = None
    while True:
        page = retry_call(policy, partial(target.list_page, bucket, prefix, marker))
        yield from page.objects
        if page.next_marker is None:
            return
        marker = page.next_marker


def _reconcile(
    service: str,
    bucket: str,
    ledger: VerifyLedger,
    target: TargetStore,
    report: VerifyReport,
    policy: RetryPolicy,
    keep: KeyFilter = NO_FILTER,
    prefix: str = "",
) -> Iterator[tuple[CopiedObject, ObjectInfo]]:
    """Merge the ledger's copied objects with the target's listing, streaming: both come in
    code-point (= UTF-8 byte) order of key, so memory stays flat whatever the count. Yields
    each copied object present on the target with the size recorded, and its listing entry."""
    expected = _ledger_rows(service, ledger)
    listed = _target_rows(bucket, prefix, target, policy)
    want = next(expected, None)
    have = next(listed, None)
    unmatched: list[str] = []
    while want is not None or have is not None:
        if want is not None and (have is None or want.key < have.key):
            report.differences.append(
                Difference(want.key, "missing on the target", cause=TARGET_LOST)
            )
            want = next(expected, None)
        elif have is not None and (want is None or have.key < want.key):
            if keep.keeps(have.key):
                unmatched.append(have.key)
            if len(unmatched) >= PAGE:
                _extra(service, ledger, unmatched, report)
            have = next(listed, None)
        elif want is not None and have is not None:
            if have.size != want.size:
                report.differences.append(
                    Difference(want.key, f"size differs: target {have.size}, source {want.size}")
                )
            else:
                yield want, have
            want = next(expected, None)
            have = next(listed, None)
    _extra(service, ledger, unmatched, report)


def _extra(service: str, ledger: VerifyLedger, keys: list[str], report: VerifyReport) -> None:
    """Target objects the ledger does not count as copied: extra, unless the ledger has them
    in flight (changed at the source, or pending: the old version stays until it is copied
    again, at the latest by the sync under the freeze). Empties ``keys``."""
    if not keys:
        return
    known = ledger.known(service, keys)
    for key in keys:
        row = known.get(key)
        if row is not None and row.status in ("pending", "copying", "changed", "failed"):
            continue  # in flight, or reported as not copied
        report.differences.append(
            Difference(key, "extra on the target (not in the source listing)", cause=TARGET_EXTRA)
        )
    keys.clear()


@dataclass(frozen=True)
class _Seen:
    """What the target said about one object: its HEAD and, when asked, its bytes re-read
    (size and SHA-256, or the error that stopped the read)."""

    obj: CopiedObject
    info: ObjectInfo | None
    read: tuple[int, str] | StorageError | None = None


def _examine(
    bucket: str,
    target: TargetStore,
    policy: RetryPolicy,
    deep: bool,
    deep_ids: set[int] | None,
    obj: CopiedObject,
) -> _Seen:
    info = retry_call(policy, partial(target.head, bucket, obj.key))
    if info is None or not (deep or (deep_ids is not None and obj.id in deep_ids)):
        return _Seen(obj, info)
    try:
        read: tuple[int, str] | StorageError = retry_call(
            policy, partial(_read_sha256, target, bucket, obj.key)
        )
    except StorageError as error:
        read = error
    return _Seen(obj, info, read)


def _record(seen: _Seen, report: VerifyReport, *, encrypted: bool) -> None:
    obj = seen.obj
    report.checked += 1
    if seen.info is None:
        report.differences.append(
            Difference(obj.key, "missing on the target at HEAD", cause=TARGET_LOST)
        )
        return
    if encrypted and seen.info.encryption is None:
        report.differences.append(
            Difference(obj.key, "the target does not report server-side encryption at HEAD", True)
        )
    proof = _hash_check(obj, seen.info, report)
    if seen.read is not None:
        proof = _deep_check(obj, seen.read, report) or proof
    report.proofs[proof] += 1


def _chunks(objects: Iterator[_T], size: int) -> Iterator[list[_T]]:
    chunk: list[_T] = []
    for obj in objects:
        chunk.append(obj)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _hash_check(obj: CopiedObject, info: ObjectInfo, report: VerifyReport) -> str:
    metadata = {k.lower(): v for k, v in info.attributes.metadata.items()}
    if obj.target_etag is not None and info.etag != obj.target_etag:
        report.differences.append(
            Difference(
                obj.key,
                f"target ETag {info.etag} is not the {obj.target_etag} recorded after the copy",
            )
        )
    stored_sha = metadata.get(SHA256_KEY)
    if stored_sha is not None and obj.sha256 is not None and stored_sha != obj.sha256:
        report.differences.append(
            Difference(obj.key, "target migrate-sha256 differs from the copy's")
        )
    stored_md5 = metadata.get(SOURCE_MD5_KEY)
    if obj.source_md5 is not None:
        if stored_md5 is not None and stored_md5 != obj.source_md5:
            report.differences.append(Difference(obj.key, "target migrate-source-md5 differs"))
        if info.md5 is not None and info.md5 != obj.source_md5:
            report.differences.append(Difference(obj.key, "target MD5 is not the source's MD5"))
        return SOURCE_MD5_MATCHED
    if info.md5 is not None and stored_sha is not None:
        return TARGET_MD5_MATCHED
    return SIZE_AND_ETAG


def _read_sha256(target: TargetStore, bucket: str, key: str) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with target.open(bucket, key) as reader:
        for chunk in reader.chunks(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _deep_check(
    obj: CopiedObject, read: tuple[int, str] | StorageError, report: VerifyReport
) -> str | None:
    if isinstance(read, ObjectNotFound):
        report.differences.append(
            Difference(obj.key, "missing on the target at re-read", cause=TARGET_LOST)
        )
        return None
    if isinstance(read, StorageError):
        report.differences.append(Difference(obj.key, f"unreadable on the target: {read}"))
        return None
    size, sha256 = read
    report.deep_checked += 1
    if obj.sha256 is None:
        return "re-read, but no SHA-256 was recorded at copy time"
    if size != obj.size or sha256 != obj.sha256:
        report.differences.append(
            Difference(
                obj.key, "bytes differ: the SHA-256 of the target's bytes is not the source's"
            )
        )
        return None
    return "SHA-256 of the re-read bytes matched"


def _sample(service: str, ledger: VerifyLedger, pct: float, cursor: int) -> tuple[set[int], int]:
    total = ledger.copied_count(service)
    if total == 0:
        return set(), 0
    size = max(1, math.ceil(total * pct / 100))
    start = cursor % total
    rows = ledger.copied_slice(service, start, size)
    if len(rows) < size:
        rows += ledger.copied_slice(service, 0, size - len(rows))
    return {row.id for row in rows}, (start + size) % total


GONE_HEAD_BUDGET = 1000
"""Source HEADs spent naming copied objects the source no longer lists (the count is exact)."""


def compare_with_source(
    service: str,
    container: str,
    prefix: str,
    ledger: VerifyLedger,
    source: SourceStore,
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    limit: int = 50,
    keep: KeyFilter = NO_FILTER,
    left_out: LeftOut | None = None,
) -> list[Difference]:
    """The current source listing against what was copied: an object the source has and
    the ledger does not count as copied, one the source changed since its copy (another
    ETag or size), and the copied objects the source no longer has. Streams page by page;
    differences beyond ``limit`` are counted in one last entry."""
    found: list[Difference] = []
    extra = 0
    matched = 0
    marker: str | None = None
    while True:
        page = retry_call(policy, partial(source.list_page, container, prefix, marker))
        objects, outside = keep.split(page.objects)
        if left_out is not None:
            left_out.add(outside)
        known = ledger.known(service, [o.key for o in objects])
        for listed in objects:
            problem = _against_copy(listed, known.get(listed.key))
            if known.get(listed.key) is not None and known[listed.key].status == "done":
                matched += 1
            if problem is None:
                continue
            if len(found) < limit:
                found.append(Difference(listed.key, problem, cause=_source_cause(problem)))
            else:
                extra += 1
        if page.next_marker is None:
            break
        marker = page.next_marker
    gone = ledger.copied_count(service) - matched
    if gone > 0:
        named = _name_gone(service, container, ledger, source, policy, min(gone, limit))
        found += named
        if gone > len(named):
            found.append(
                Difference(
                    f"({gone - len(named)} more)",
                    "copied, and no longer listed at the source (deleted after the copy)",
                    cause=SOURCE_DELETED,
                )
            )
    if extra:
        found.append(Difference(f"({extra} more)", "more differences with the source"))
    return found


@dataclass
class LeftOut:
    """The source objects a service's filter leaves out (never copied): a count, their
    bytes, and the first few names."""

    count: int = 0
    bytes: int = 0
    examples: list[str] = field(default_factory=list)

    def add(self, objects: Iterable[ObjectInfo]) -> None:
        for obj in objects:
            self.count += 1
            self.bytes += obj.size
            if len(self.examples) < 5:
                self.examples.append(obj.key)


def compare_planned(
    name: str,
    planned: PlannedService,
    ledger: VerifyLedger,
    source: SourceStore,
    *,
    policy: RetryPolicy = DEFAULT_RETRY,
    left_out: LeftOut | None = None,
) -> list[Difference]:
    """:func:`compare_with_source` over the service's own scope: its container, its prefix
    and its filter (an object the filter leaves out is not the service's; ``left_out``
    counts them)."""
    if planned.container is None:
        return []
    return compare_with_source(
        name,
        planned.container,
        planned.prefix,
        ledger,
        source,
        policy=policy,
        keep=planned.key_filter,
        left_out=left_out,
    )


def _source_cause(problem: str) -> str:
    return SOURCE_CHANGED if problem.startswith("the source changed") else SOURCE_ADDED


def _against_copy(listed: ObjectInfo, row: KnownObject | None) -> str | None:
    if row is None or row.status != "done":
        status = f" ({row.status})" if row is not None else ""
        return f"at the source, not copied{status}"
    if (row.etag, row.size) != (listed.etag, listed.size):
        return "the source changed since its copy (another ETag or size): copy it again"
    return None


def _name_gone(
    service: str,
    container: str,
    ledger: VerifyLedger,
    source: SourceStore,
    policy: RetryPolicy,
    wanted: int,
) -> list[Difference]:
    named: list[Difference] = []
    for heads, row in enumerate(_ledger_rows(service, ledger)):
        if len(named) >= wanted or heads >= GONE_HEAD_BUDGET:
            break
        if retry_call(policy, partial(source.head, container, row.key)) is None:
            named.append(
                Difference(
                    row.key,
                    "copied, and no longer at the source (deleted after the copy)",
                    cause=SOURCE_DELETED,
                )
            )
    return named


class VerifyRecorder(Protocol):
    def record_verification(
        self, service: str, level: str, checked: int, differences: int, summary: str
    ) -> None: ...

    def audit(self, events: Sequence[AuditEvent]) -> None: ...


def record_verification(
    store: VerifyRecorder,
    name: str,
    project: str | None,
    report: VerifyReport,
    run_id: str,
    purpose: str,
) -> None:
    """A verification is evidence: the ledger keeps it (status, dashboard, report and
    metrics show the last one) and the audit log has an event for it, clean or not."""
    summary = {**report.summary(), "purpose": purpose}
    store.record_verification(
        name, report.level, report.checked, len(report.differences), json.dumps(summary)
    )
    causes: dict[str, int] = {}
    for difference in report.differences:
        causes[difference.cause] = causes.get(difference.cause, 0) + 1
    store.audit(
        [
            AuditEvent(
                "verify",
                name,
                "ok" if report.ok else "differences",
                project=project,
                detail={
                    "level": report.level,
                    "against": report.against,
                    "purpose": purpose,
                    "checked": report.checked,
                    "differences": len(report.differences),
                    "causes": causes,
                    "run": run_id,
                },
            )
        ]
    )
