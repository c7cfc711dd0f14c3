"""The audit log's head, through the CLI: deleting its newest events is found.

A hash chain stays a valid chain when its newest events are cut off, so the head (the sequence
number and hash of the newest event, signed with MIGRATE_AUDIT_HMAC_KEY) is kept where the
events are not: beside them in the ledger, in every run, in a file beside the SQLite ledger,
in every evidence file, and in any copy the operator keeps (`audit verify --head FILE`).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

KEY = "audit-key-kept-off-the-host"


def _run(*args: str, cwd: Path, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "MIGRATE_AUDIT_HMAC_KEY"}
    if key is not None:
        env["MIGRATE_AUDIT_HMAC_KEY"] = key
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
    )


def _applied(tmp_path: Path, key: str | None = None) -> Path:
    """Plan and apply two containers between local folders; returns the ledger."""
    for container in ("alpha", "bravo"):
        folder = tmp_path / "src" / container
        folder.mkdir(parents=True)
        for index in range(2):
            (folder / f"{index}.csv").write_bytes(f"{container},{index}\n".encode())
    inventory = {
        "version": 1,
        "name": "local",
        "source": {"provider": "local", "path": str(tmp_path / "src")},
        "target": {"provider": "local", "path": str(tmp_path / "dst"), "encryption": "none"},
        "policy": {"pilot_wave": False, "require_encryption": False},
        "services": [
            {"name": f"{c}-data", "kind": "object-store", "data": {"container": c}}
            for c in ("alpha", "bravo")
        ],
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    planned = _run("plan", "inventory.yaml", "-o", "plan.json", cwd=tmp_path, key=key)
    assert planned.returncode == 0, planned.stderr
    applied = _run("apply", "plan.json", "--yes", cwd=tmp_path, key=key)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return tmp_path / ".migrate" / "state.db"


def _events(ledger: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(ledger) as connection:
        return list(connection.execute("SELECT seq, hash FROM audit_events ORDER BY seq"))


def _sql(ledger: Path, statement: str, *params: object) -> None:
    with sqlite3.connect(ledger) as connection:
        connection.execute(statement, params)


def _verify(tmp_path: Path, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    result = _run("audit", "verify", *args, cwd=tmp_path, key=key)
    assert "Traceback" not in result.stderr
    assert "Internal error" not in result.stderr
    return result


def test_an_intact_log_passes_and_says_where_its_head_is(tmp_path: Path) -> None:
    ledger = _applied(tmp_path, KEY)
    newest = _events(ledger)[-1][0]
    result = _verify(tmp_path, key=KEY)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"its head, event {newest} " in result.stdout
    for place in ("the ledger", "the head file", "1 run", "evidence file"):
        assert place in " ".join(result.stdout.split()), place
    exported = _run("audit", "export", "audit.jsonl", cwd=tmp_path, key=KEY)
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert f"Audit head: event {newest} " in exported.stdout
    piped = _run("audit", "export", "-", cwd=tmp_path, key=KEY)  # the events alone on stdout
    assert piped.returncode == 0, piped.stderr
    assert [json.loads(line)["seq"] for line in piped.stdout.splitlines()][-1] == newest
    assert f"Audit head: event {newest} " in piped.stderr
    assert not (tmp_path / "-").exists()


@pytest.mark.parametrize("cut", [1, 3, "all"])
@pytest.mark.parametrize("key", [None, KEY])
def test_deleting_the_newest_events_is_found(
    tmp_path: Path, cut: int | str, key: str | None
) -> None:
    ledger = _applied(tmp_path, key)
    events = _events(ledger)
    count = len(events) if cut == "all" else int(cut)
    keep = len(events) - count
    _sql(ledger, "DELETE FROM audit_events WHERE seq > ?", keep)
    result = _verify(tmp_path, key=key)
    assert result.returncode == 1, result.stdout
    out = " ".join(result.stdout.split())
    assert f"BROKEN at event {keep + 1}:" in out
    assert f"but the log ends at event {keep}" in out
    assert "deleted" in out


def test_a_cut_that_moves_the_ledgers_head_back_is_found_outside_the_ledger(
    tmp_path: Path,
) -> None:
    """The writer also sets the head in the ledger to the new newest event: the head file, the
    run and the evidence file still say how far the log went."""
    ledger = _applied(tmp_path)
    events = _events(ledger)
    seq, value = events[-4]
    _sql(ledger, "DELETE FROM audit_events WHERE seq > ?", seq)
    head = json.dumps({"seq": seq, "hash": value, "hmac": None})
    _sql(ledger, "UPDATE migrate_meta SET value = ? WHERE key = 'audit_head'", head)
    result = _verify(tmp_path)
    assert result.returncode == 1, result.stdout
    out = " ".join(result.stdout.split())
    assert "the head file" in out
    assert f"records event {events[-1][0]} " in out
    assert "evidence file" in out


def test_with_the_key_a_head_moved_back_is_a_forgery(tmp_path: Path) -> None:
    ledger = _applied(tmp_path, KEY)
    seq, value = _events(ledger)[-4]
    _sql(ledger, "DELETE FROM audit_events WHERE seq > ?", seq)
    # an event's own signature does not sign a head (a domain of its own)
    with sqlite3.connect(ledger) as connection:
        (signature,) = connection.execute(
            "SELECT hmac FROM audit_events WHERE seq = ?", (seq,)
        ).fetchone()
    head = json.dumps({"seq": seq, "hash": value, "hmac": signature})
    _sql(ledger, "UPDATE migrate_meta SET value = ? WHERE key = 'audit_head'", head)
    head_file = ledger.with_name("state.db.audit-head")
    head_file.write_text(head)
    result = _verify(tmp_path, key=KEY)
    assert result.returncode == 1, result.stdout
    out = " ".join(result.stdout.split())
    assert "the ledger's head is not signed with this key (forged)" in out
    assert "the head file" in out


def test_restoring_an_older_copy_of_the_ledger_alone_is_found(tmp_path: Path) -> None:
    ledger = _applied(tmp_path)
    backup = tmp_path / "state.db.bak"
    shutil.copy(ledger, backup)
    again = _run("apply", "plan.json", "--yes", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    shutil.copy(backup, ledger)
    result = _verify(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "the head file" in result.stdout


def test_a_copy_kept_elsewhere_shows_a_cut_that_fooled_every_head_beside_the_ledger(
    tmp_path: Path,
) -> None:
    """Without the key, a writer can redo every head beside the ledger; an export archived
    elsewhere (or an evidence file of the evidence pack) still shows the cut."""
    ledger = _applied(tmp_path)
    archive = tmp_path / "archive"
    archive.mkdir()
    assert _run("audit", "export", str(archive / "audit.jsonl"), cwd=tmp_path).returncode == 0
    evidence = sorted((tmp_path / ".migrate" / "evidence").glob("*.json"))
    shutil.copy(evidence[-1], archive / "evidence.json")
    seq, value = _events(ledger)[-4]
    _sql(ledger, "DELETE FROM audit_events WHERE seq > ?", seq)
    head = json.dumps({"seq": seq, "hash": value, "hmac": None})
    _sql(ledger, "UPDATE migrate_meta SET value = ? WHERE key = 'audit_head'", head)
    _sql(ledger, "UPDATE runs SET summary = NULL")
    _sql(ledger, "DELETE FROM evidence")
    shutil.rmtree(tmp_path / ".migrate" / "evidence")
    ledger.with_name("state.db.audit-head").write_text(head)
    fooled = _verify(tmp_path)
    assert fooled.returncode == 0, fooled.stdout  # what the ledger's folder alone can tell
    for kept in ("audit.jsonl", "evidence.json"):
        result = _verify(tmp_path, "--head", str(archive / kept))
        assert result.returncode == 1, (kept, result.stdout)
        assert f"{kept} records event" in " ".join(result.stdout.split())


def test_a_cut_keeps_showing_after_new_events(tmp_path: Path) -> None:
    """The heads do not move on from a log that no longer ends where they say."""
    ledger = _applied(tmp_path)
    keep = len(_events(ledger)) - 3
    _sql(ledger, "DELETE FROM audit_events WHERE seq > ?", keep)
    for _ in range(2):
        again = _run("apply", "plan.json", "--yes", cwd=tmp_path)
        assert again.returncode == 0, again.stderr
        assert "run `migrate audit verify`" in again.stderr
    assert len(_events(ledger)) > keep + 3  # the chain has grown past the cut since
    result = _verify(tmp_path)
    assert result.returncode == 1, result.stdout
    assert "rewritten" in result.stdout or "deleted" in result.stdout


def test_every_evidence_file_carries_the_head(tmp_path: Path) -> None:
    ledger = _applied(tmp_path)
    seqs = {seq for seq, _ in _events(ledger)}
    files = sorted((tmp_path / ".migrate" / "evidence").glob("*.json"))
    assert files
    for path in files:
        head = json.loads(path.read_text())["audit_head"]
        assert head["seq"] in seqs
        assert len(head["hash"]) == 64


def test_a_ledger_deleted_beside_its_head_file_is_found(tmp_path: Path) -> None:
    ledger = _applied(tmp_path)
    ledger.unlink()
    result = _verify(tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "is missing" in result.stdout
