"""``migrate probe``: find out what the target really does, with canary objects in a scratch
prefix, before any real object is trusted to it.

Checks: a single PUT with Content-MD5 comes back with the same size, an MD5 ETag and the
server-side encryption asked for; the bytes read back are the bytes sent; a multipart upload
with the preset's part sizes completes to the right size; checksum headers of recent SDKs are
accepted (or refused) without changing the stored size; the optional bucket features (tagging,
default encryption) are implemented or not; everything is deleted afterwards.

One finding decides how apply proves each write (``findings["proving_answers"]``): whether the
answers of PUT and CompleteMultipartUpload carry the ETag the server computed over what it
stored (the MD5 sent; the MD5 of the parts' MD5s then ``-N``) and the encryption asked for.
Where they do, apply takes the answer as the write check and sends no HEAD.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from migrate.errors import PermanentStorageError, StorageError, UnsupportedFeature
from migrate.executor.copy import MD5_ETAG_MODES, multipart_etag
from migrate.ports import (
    BucketSettings,
    Encryption,
    ObjectAttributes,
    PartInfo,
    TargetStore,
    WriteResult,
)

MiB = 1024 * 1024
PREFIX = "migrate-probe/"


@dataclass
class ProbeCheck:
    name: str
    ok: bool
    detail: str
    contradicts_preset: bool = False


@dataclass
class ProbeReport:
    bucket: str
    checks: list[ProbeCheck] = field(default_factory=list)
    findings: dict[str, object] = field(default_factory=dict)
    """What apply takes from the probe: ``proving_answers`` (bool) under ``encryption``."""

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def contradictions(self) -> list[ProbeCheck]:
        return [c for c in self.checks if c.contradicts_preset]

    def summary(self) -> dict[str, object]:
        return {
            "bucket": self.bucket,
            "ok": self.ok,
            "checks": [
                {
                    "name": c.name,
                    "ok": c.ok,
                    "detail": c.detail,
                    "contradicts_preset": c.contradicts_preset,
                }
                for c in self.checks
            ],
            "findings": dict(self.findings),
        }


@dataclass
class _Canaries:
    """One probe's canary objects: where they go, with what encryption, and which were
    written (each is deleted at the end, whatever happened)."""

    target: TargetStore
    bucket: str
    prefix: str
    encryption: Encryption
    report: ProbeReport
    written: list[str] = field(default_factory=list)


def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def probe(
    target: TargetStore,
    bucket: str,
    encryption: Encryption,
    checksum_trailer: Callable[[str, str, bytes], str] | None = None,
    features: Mapping[str, bool | None] | None = None,
) -> ProbeReport:
    report = ProbeReport(bucket)
    canaries = _Canaries(target, bucket, f"{PREFIX}{uuid.uuid4().hex}/", encryption, report)
    created = False
    try:
        created = target.ensure_bucket(
            bucket, BucketSettings(encryption, {}, default_encryption=False)
        )
        _bucket_features(target, bucket, encryption, dict(features or {}), report)
        gaps = [_single(canaries), _computed_etag(canaries), _multipart(canaries)]
        _answers_finding(report, encryption, [gap for gap in gaps if gap is not None])
        if checksum_trailer is not None:
            _trailer(canaries, checksum_trailer)
    except StorageError as error:
        report.checks.append(ProbeCheck("reach the target", False, str(error), True))
    finally:
        for key in canaries.written:
            try:
                target.delete(bucket, key)
            except StorageError as error:
                report.checks.append(ProbeCheck("clean up", False, f"{key}: {error}"))
        if created:  # the probe's own bucket goes with it; one that was there stays
            try:
                target.delete_bucket(bucket)
            except StorageError as error:
                report.checks.append(ProbeCheck("clean up", False, f"bucket {bucket}: {error}"))
    return report


FEATURES = (
    ("bucket_tagging", "bucket tagging", "buckets are not tagged (apply warns)"),
    (
        "bucket_encryption",
        "bucket default encryption",
        "no bucket default (each object still carries its own encryption, checked at its write)",
    ),
)


def _bucket_features(
    target: TargetStore,
    bucket: str,
    encryption: Encryption,
    declared: dict[str, bool | None],
    report: ProbeReport,
) -> None:
    """What the preset may not know: does the server implement the optional bucket features?
    A feature the preset declares present and the server lacks contradicts the preset."""
    for feature, name, without in FEATURES:
        settings = BucketSettings(
            encryption,
            {"hdh-managed-by": "hdh-migrate"} if feature == "bucket_tagging" else {},
            default_encryption=feature == "bucket_encryption",
        )
        if feature == "bucket_encryption" and not encryption.enabled:
            continue
        try:
            target.ensure_bucket(bucket, settings)
        except UnsupportedFeature as missing:
            report.checks.append(
                ProbeCheck(
                    name,
                    declared.get(feature) is not True,
                    f"not implemented by the server ({missing}): {without}",
                    declared.get(feature) is True,
                )
            )
            continue
        report.checks.append(ProbeCheck(name, True, "implemented"))


def _single(canaries: _Canaries) -> str | None:
    """The single PUT's checks; what its answer lacks to prove the write (None: nothing)."""
    target, bucket, encryption = canaries.target, canaries.bucket, canaries.encryption
    report, written = canaries.report, canaries.written
    body = os.urandom(64 * 1024)
    key = f"{canaries.prefix}single.bin"
    answer = target.put(
        bucket,
        key,
        body,
        _md5(body),
        ObjectAttributes(content_type="application/octet-stream", metadata={"Probe": "1"}),
        encryption,
    )
    written.append(key)
    info = target.head(bucket, key)
    if info is None:
        report.checks.append(ProbeCheck("single PUT", False, "not found after the write", True))
        return "the object was not found after its PUT"
    report.checks.append(
        ProbeCheck(
            "stored size equals sent size",
            info.size == len(body),
            f"sent {len(body)}, stored {info.size}",
            info.size != len(body),
        )
    )
    report.checks.append(
        ProbeCheck(
            "ETag is the MD5 of a single PUT",
            info.md5 == _md5(body),
            f"ETag {info.etag}, MD5 {_md5(body)}",
            False,
        )
    )
    if encryption.enabled:
        echoed = info.encryption is not None
        report.checks.append(
            ProbeCheck(
                "server-side encryption echoed",
                echoed,
                f"asked {encryption.mode}, the target reports {info.encryption}",
                not echoed,
            )
        )
    with target.open(bucket, key) as reader:
        back = b"".join(reader.chunks(MiB))
    report.checks.append(
        ProbeCheck(
            "bytes read back are the bytes sent",
            back == body,
            f"SHA-256 {'matches' if back == body else 'differs'}",
            back != body,
        )
    )
    if back != body or info.size != len(body):
        return "the object stored is not the one sent"
    return _answer_gap(answer, _md5(body), encryption, "PUT")


def _computed_etag(canaries: _Canaries) -> str | None:
    """A PUT whose Content-MD5 is not the MD5 of its body: the server refuses it (it checks
    Content-MD5), or stores it and answers with the MD5 of what it stored (it computes its
    ETags). An answer that gives back the Content-MD5 sent only echoes it, and proves
    nothing. What that lacks to prove a write (None: nothing)."""
    body, other = os.urandom(4096), os.urandom(4096)
    key = f"{canaries.prefix}wrong-md5.bin"
    name = "Content-MD5 checked, or the ETag computed"
    try:
        answer = canaries.target.put(
            canaries.bucket, key, body, _md5(other), ObjectAttributes(), canaries.encryption
        )
    except PermanentStorageError as refused:
        canaries.report.checks.append(
            ProbeCheck(name, True, f"a wrong Content-MD5 is refused ({refused})")
        )
        return None
    canaries.written.append(key)
    if answer.etag == _md5(body):
        detail = (
            "a wrong Content-MD5 is stored, but the ETag answered is the MD5 of what was stored"
        )
        canaries.report.checks.append(ProbeCheck(name, True, detail))
        return None
    detail = (
        f"a wrong Content-MD5 is stored and the answer gives the ETag {answer.etag}, not the "
        "MD5 of what was stored"
    )
    canaries.report.checks.append(ProbeCheck(name, True, detail))
    return "the PUT answer's ETag is not computed from what the server stored"


def _answer_gap(
    answer: WriteResult, expected: str | None, encryption: Encryption, what: str
) -> str | None:
    """What a write's answer lacks to prove the write (None: it proves it)."""
    if encryption.mode not in MD5_ETAG_MODES:
        return f"with {encryption.mode} the ETag is not an MD5"
    if expected is None or answer.etag != expected:
        return f"the {what} answer's ETag {answer.etag} is not {expected}"
    if encryption.enabled and answer.encryption is None:
        return f"the {what} answer does not report the encryption"
    return None


def _multipart_name(part: int, parts: int) -> str:
    return f"multipart with {part // MiB} MiB parts (limit {parts} parts)"


def _multipart(canaries: _Canaries) -> str | None:
    """The multipart checks; what the completion's answer lacks to prove it (None: nothing)."""
    target, bucket, encryption = canaries.target, canaries.bucket, canaries.encryption
    report, written = canaries.report, canaries.written
    caps = target.capabilities
    key = f"{canaries.prefix}multipart.bin"
    first, last = os.urandom(caps.min_part_size), os.urandom(1234)
    upload = target.create_multipart(bucket, key, ObjectAttributes(), encryption)
    try:
        parts = [
            PartInfo(1, len(first), target.upload_part(bucket, key, upload, 1, first, _md5(first))),
            PartInfo(2, len(last), target.upload_part(bucket, key, upload, 2, last, _md5(last))),
        ]
        listed = target.list_parts(bucket, key, upload)
        answer = target.complete_multipart(bucket, key, upload, parts)
    except StorageError as error:
        target.abort_multipart(bucket, key, upload)
        report.checks.append(
            ProbeCheck(
                _multipart_name(caps.min_part_size, caps.max_parts),
                False,
                str(error),
                True,
            )
        )
        return "the multipart upload failed"
    written.append(key)
    info = target.head(bucket, key)
    size_ok = info is not None and info.size == len(first) + len(last)
    report.checks.append(
        ProbeCheck(
            _multipart_name(caps.min_part_size, caps.max_parts),
            size_ok and len(listed) == 2,
            f"parts listed during the upload: {len(listed)}; stored size "
            f"{info.size if info else 'none'} of {len(first) + len(last)}",
            not size_ok,
        )
    )
    if not size_ok:
        return "the multipart object stored is not the one sent"
    return _answer_gap(answer, multipart_etag(parts), encryption, "CompleteMultipartUpload")


def _answers_finding(report: ProbeReport, encryption: Encryption, gaps: list[str]) -> None:
    report.findings.update(proving_answers=not gaps, encryption=encryption.mode)
    detail = (
        "yes: apply takes the PUT and CompleteMultipartUpload answers as the write check, "
        "without a HEAD"
        if not gaps
        else f"no ({'; '.join(gaps)}): apply HEADs each object after its write"
    )
    report.checks.append(ProbeCheck("write answers prove the write", True, detail))


def _trailer(canaries: _Canaries, send: Callable[[str, str, bytes], str]) -> None:
    target, bucket = canaries.target, canaries.bucket
    report, written = canaries.report, canaries.written
    body = os.urandom(10_000)
    key = f"{canaries.prefix}checksum.bin"
    outcome = send(bucket, key, body)
    if outcome != "accepted":
        report.checks.append(
            ProbeCheck(
                "CRC32 checksum headers (recent SDK defaults)",
                True,
                f"refused ({outcome}): the copy sends them only when required, as configured",
            )
        )
        return
    written.append(key)
    info = target.head(bucket, key)
    framed = info is None or info.size != len(body)
    report.checks.append(
        ProbeCheck(
            "CRC32 checksum headers (recent SDK defaults)",
            not framed,
            "accepted; stored size "
            + (
                f"{info.size} != {len(body)}: the provider kept the chunk framing"
                if framed and info
                else "matches"
            ),
            framed,
        )
    )
