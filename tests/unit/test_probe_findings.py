"""The probe's finding on write answers, against in-memory fakes: a target whose answers carry
the ETag it computed proves its writes; one that echoes the Content-MD5 it was sent, or says
nothing of the encryption, does not."""

from __future__ import annotations

from typing import Any

from migrate.executor.probe import probe
from migrate.ports import Encryption, Payload, WriteResult
from tests.fakes import FakeTarget

AES = Encryption("AES256")


def echoing(target: FakeTarget) -> FakeTarget:
    """A thin gateway: checks no Content-MD5 and answers with the one it was sent."""

    def put(bucket: str, key: str, body: Payload, md5_hex: str, *rest: Any) -> WriteResult:
        attributes, encryption = rest
        stored = target._store(bucket, key, bytes(body), attributes, encryption, md5_hex)
        return WriteResult(md5_hex, encryption=stored.encryption, stored_by=stored.stored_by)

    target.put = put  # type: ignore[method-assign,assignment]
    return target


def _finding(target: FakeTarget) -> tuple[dict[str, object], str]:
    report = probe(target, "probe-bucket", AES)
    (check,) = [c for c in report.checks if c.name == "write answers prove the write"]
    return report.findings, check.detail


def test_a_target_that_computes_its_etags_and_echoes_encryption_proves_its_writes() -> None:
    target = FakeTarget()
    findings, detail = _finding(target)
    assert findings == {"proving_answers": True, "encryption": "AES256"}
    assert detail.startswith("yes")
    assert target.buckets == {}  # every canary and the probe's bucket are gone


def test_a_target_that_echoes_the_content_md5_it_was_sent_proves_nothing() -> None:
    findings, detail = _finding(echoing(FakeTarget()))
    assert findings["proving_answers"] is False
    assert "not computed from what the server stored" in detail


def test_an_answer_silent_on_encryption_proves_nothing() -> None:
    target = FakeTarget()
    target.false_answers.add("encryption")
    findings, detail = _finding(target)
    assert findings["proving_answers"] is False
    assert "does not report the encryption" in detail


def test_a_wrong_content_md5_refused_is_a_server_that_checks() -> None:
    target = FakeTarget()
    report = probe(target, "probe-bucket", AES)
    (check,) = [c for c in report.checks if c.name == "Content-MD5 checked, or the ETag computed"]
    assert "a wrong Content-MD5 is refused" in check.detail
