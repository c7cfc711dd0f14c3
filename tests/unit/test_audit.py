"""The audit log: every kind of tampering is found, and named by its sequence number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from migrate.audit import AuditEvent, verify_chain
from migrate.cli.app import app
from state.store import Store

KEY = b"audit-signing-key"


@pytest.fixture
def store(ledger_url: str) -> Store:
    store = Store.open(ledger_url)
    store.set_actor("alice", "host-a", KEY)
    store.audit([AuditEvent("plan.created", "plan.json")])
    store.audit([AuditEvent("apply.start", "run-1", project="covid")])
    store.audit(
        [
            AuditEvent(
                "object.copied", f"bucket/k{i}", project="covid", detail={"sha256": "0" * 64}
            )
            for i in range(3)
        ]
    )
    store.audit([AuditEvent("apply.stop", "run-1", "succeeded")])
    return store


def _verify(
    store: Store, monkeypatch: pytest.MonkeyPatch, key: bytes | None = KEY
) -> tuple[int, str]:
    if key:
        monkeypatch.setenv("MIGRATE_AUDIT_HMAC_KEY", key.decode())
    else:
        monkeypatch.delenv("MIGRATE_AUDIT_HMAC_KEY", raising=False)
    url = store.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["audit", "verify", "--state", url])
    return result.exit_code, result.output


def _sql(store: Store, statement: str, **params: object) -> None:
    with store.tx() as c:
        c.execute(text(statement), params)


def test_an_intact_chain(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out = _verify(store, monkeypatch)
    assert code == 0, out
    assert "6 events" in out
    events = store.audit_events()
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert all(e.operator == "alice" and e.host == "host-a" and e.hmac for e in events)
    assert events[1].prev_hash == events[0].hash


def test_an_edited_event(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _sql(store, "update audit_events set subject = 'bucket/other' where seq = 4")
    code, out = _verify(store, monkeypatch)
    assert code == 1
    assert "event 4" in out
    assert "edited" in out


def test_a_deleted_event(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _sql(store, "delete from audit_events where seq = 3")
    code, out = _verify(store, monkeypatch)
    assert code == 1
    assert "event 4" in out


def test_reordered_events(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _sql(store, "update audit_events set seq = 100 where seq = 4")
    _sql(store, "update audit_events set seq = 4 where seq = 5")
    _sql(store, "update audit_events set seq = 5 where seq = 100")
    code, out = _verify(store, monkeypatch)
    assert code == 1
    assert "event 4" in out


def test_an_inserted_event(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    for seq in (6, 5, 4):
        _sql(store, "update audit_events set seq = :new where seq = :old", new=seq + 1, old=seq)
    row = store.audit_events()[2]
    _sql(
        store,
        "insert into audit_events (seq, at, operator, host, project, action, subject, "
        "result, request_ids, detail, prev_hash, hash, hmac) values (4, :at, 'mallory', 'h', "
        "null, 'approval', 'snds cutover', 'ok', '[]', '{}', :prev, :hash, null)",
        at=row.at,
        prev=row.hash,
        hash="f" * 64,
    )
    code, out = _verify(store, monkeypatch)
    assert code == 1
    assert "event 4" in out


def test_a_rewritten_chain_is_caught_by_the_signature(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer who edits an event and recomputes every hash after it, without the key."""
    forger = Store(store.engine)
    forger.set_actor("alice", "host-a", None)
    events = store.audit_events()
    _sql(store, "delete from audit_events")
    for event in events:
        subject = "bucket/forged" if event.seq == 3 else event.subject
        forger.audit(
            [
                AuditEvent(
                    event.action,
                    subject,
                    event.result,
                    event.project,
                    event.request_ids,
                    event.detail,
                )
            ]
        )
    assert verify_chain(store.audit_events(), None).ok  # the chain alone cannot tell
    code, out = _verify(store, monkeypatch)
    assert code == 1
    assert "event 1" in out
    assert "signature" in out


def test_export_as_json_lines_by_project(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(
        app, ["audit", "export", str(out), "--project", "covid", "--state", str(store.engine.url)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [e["action"] for e in lines] == ["apply.start"] + ["object.copied"] * 3
    assert all(e["project"] == "covid" for e in lines)
    assert {
        "seq",
        "at",
        "operator",
        "host",
        "project",
        "action",
        "subject",
        "result",
        "request_ids",
        "prev_hash",
        "hash",
        "hmac",
    } <= set(lines[0])
    assert out.stat().st_mode & 0o077 == 0
