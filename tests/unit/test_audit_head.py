"""The audit log's head in the ledger (SQLite and PostgreSQL) and the checks of verify_log."""

from __future__ import annotations

import json

from sqlalchemy import text

from migrate.audit import Anchor, AuditEvent, AuditHead, anchor_from_text, signed_head, verify_log
from state.store import Store

KEY = b"audit-signing-key"


def _store(url: str, events: int = 5) -> Store:
    store = Store.open(url)
    store.set_actor("alice", "host-a", KEY)
    for index in range(events):
        store.audit([AuditEvent("object.copied", f"bucket/k{index}")])
    return store


def test_the_head_follows_every_append_and_matches(ledger_url: str) -> None:
    store = _store(ledger_url)
    events, anchors = store.audit_snapshot()
    head = store.audit_head()
    assert head == signed_head(KEY, 5, events[-1].hash)
    report = verify_log(events, KEY, anchors)
    assert report.ok, report.findings
    assert "the ledger's head" in report.anchors


def test_a_cut_is_found_and_the_head_stays_after_it(ledger_url: str) -> None:
    store = _store(ledger_url)
    with store.tx() as c:
        c.execute(text("DELETE FROM audit_events WHERE seq > 2"))
    store.audit([AuditEvent("approval", "svc cutover")])  # seq 3 again, another event
    head = store.audit_head()
    assert head is not None
    assert head.seq == 5
    events, anchors = store.audit_snapshot()
    report = verify_log(events, KEY, anchors)
    assert not report.ok
    assert report.first_bad == 4
    assert any("the ledger's head records event 5" in f.text for f in report.findings)


def test_a_dropped_table_is_named_first(ledger_url: str) -> None:
    store = _store(ledger_url)
    with store.tx() as c:
        c.execute(text("DROP TABLE audit_events"))
    events, anchors = store.audit_snapshot()
    assert events == []
    report = verify_log(events, KEY, anchors)
    assert report.findings[0].text.startswith("the ledger: it has no audit_events table")


def test_what_a_kept_file_holds() -> None:
    head = AuditHead(7, "a" * 64, "b" * 64)
    evidence = anchor_from_text(json.dumps({"kind": "wave", "audit_head": head.to_json()}), "e")
    assert evidence == Anchor("e", head)
    assert anchor_from_text(json.dumps(head.to_json()), "h") == Anchor("h", head)
    lines = [
        {"seq": seq, "hash": str(seq) * 64, "hmac": None, "prev_hash": "0" * 64}
        for seq in (3, 9, 4)
    ]
    export = anchor_from_text("".join(json.dumps(line) + "\n" for line in lines), "x")
    assert export.head == AuditHead(9, "9" * 64)
    assert export.signature == "event"
    for broken in ("", "not json\n", json.dumps({"seq": -1, "hash": "x"})):
        assert anchor_from_text(broken, "z").head is None
