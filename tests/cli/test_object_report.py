"""`migrate report --objects` end to end, as a subprocess over a real SQLite ledger with a
service of 10,000 objects: every row once, in key order, with the values the copies recorded;
refusals in one sentence (exit 2); read while a writer holds the ledger."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from migrate.ledger import CopyResult
from migrate.ports import ObjectInfo
from state.store import Store
from tests.cli.support import migrate_env, run
from tests.planning import one_store_plan

SERVICE = "records-data"
COUNT = 10_000
AWKWARD = ["a,b.csv", 'say "hi".txt', "two\nlines", "crlf\r\nkey", "é/日本.bin", "=1+1"]


def _key(n: int) -> str:
    """Plain keys, and every 1,000th one a name that CSV must quote."""
    if n % 1000 == 7:
        return f"patients/{n:05d} {AWKWARD[(n // 1000) % len(AWKWARD)]}"
    return f"patients/{n:05d}.parquet"


def _status(n: int) -> str:
    if n % 100 == 3:
        return "failed"
    if n % 250 == 5:
        return "deleted"
    if n >= 9_500:
        return "pending"
    return "done"


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A ledger of two services: ``records-data`` (10,000 objects: done, failed, deleted,
    pending) and ``alpha-data`` (3 objects)."""
    root = tmp_path_factory.mktemp("objects")
    store = Store.open(f"sqlite:///{root / 'state.db'}")
    store.register_services(one_store_plan(SERVICE))
    store.register_services(one_store_plan("alpha-data"))
    modified = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    listed = [
        ObjectInfo(key=_key(n), size=n, etag=f"0x{n:X}", last_modified=modified)
        for n in range(COUNT)
    ]
    for start in range(0, COUNT, 5000):
        store.ingest_listing(SERVICE, 1, listed[start : start + 5000], None)
    store.ingest_listing(
        "alpha-data", 1, [ObjectInfo(key=k, size=1, etag="e") for k in "abc"], None
    )
    ids = {task.key: task.id for task in store.claim(SERVICE, COUNT)}
    results = []
    for n in range(COUNT):
        if _status(n) == "done":
            results.append(
                CopyResult(
                    ids[_key(n)],
                    "done",
                    1,
                    sha256=f"{n:064x}",
                    md5=f"{n:032x}",
                    target_etag=f'"{n:032x}"',
                    proof="source-md5" if n % 2 else "parts-md5",
                    retries=n % 3,
                )
            )
        elif _status(n) in ("failed", "deleted"):
            results.append(CopyResult(ids[_key(n)], "failed", 8, error=f"SlowDown on {n}"))
    store.record_results(results)
    store.mark_deleted(SERVICE, [_key(n) for n in range(COUNT) if _status(n) == "deleted"])
    store.reset_interrupted([SERVICE])  # what is still claimed goes back to pending
    store.close()
    return root


def _state(ledger: Path) -> str:
    return f"sqlite:///{ledger / 'state.db'}"


def _clean(result: subprocess.CompletedProcess[str]) -> None:
    for stream in (result.stdout, result.stderr):
        assert "Traceback" not in stream
        assert "Internal error" not in stream


def test_csv_of_a_service_of_10000_objects(ledger: Path, tmp_path: Path) -> None:
    result = run(
        "report",
        "--objects",
        SERVICE,
        "--format",
        "csv",
        "out.csv",
        "--state",
        _state(ledger),
        cwd=tmp_path,
    )
    _clean(result)
    assert result.returncode == 0, result.stderr
    assert f"Object report written to out.csv: {COUNT} objects" in result.stdout
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == COUNT
    keys = [row["key"] for row in rows]
    assert keys == sorted(_key(n) for n in range(COUNT))  # each once, in key order
    assert {row["service"] for row in rows} == {SERVICE}
    by_key = {row["key"]: row for row in rows}
    assert by_key[_key(7)]["key"] == "patients/00007 a,b.csv"
    assert by_key[_key(2007)]["key"] == "patients/02007 two\nlines"
    assert by_key[_key(3007)]["key"] == "patients/03007 crlf\r\nkey"
    done = by_key[_key(41)]
    assert (done["status"], done["proof"], done["size"]) == ("done", "source-md5", "41")
    assert done["sha256"] == f"{41:064x}"
    assert done["md5"] == done["target_etag"].strip('"') == f"{41:032x}"
    assert (done["source_etag"], done["attempts"], done["retries"]) == ("0x29", "1", "2")
    assert done["source_last_modified"] == "2026-11-30T08:00:00+00:00"
    assert done["reason"] == ""
    assert done["updated_at"].startswith("20")
    failed = by_key[_key(103)]
    assert (failed["status"], failed["attempts"], failed["reason"]) == (
        "failed",
        "8",
        "SlowDown on 103",
    )
    assert failed["proof"] == failed["sha256"] == ""
    deleted = by_key[_key(5)]
    assert (deleted["status"], deleted["reason"]) == (
        "deleted",
        "deleted at the source; deleted on the target",
    )
    assert (by_key[_key(9_600)]["status"], by_key[_key(9_600)]["reason"]) == ("pending", "")
    assert Counter(row["status"] for row in rows) == Counter(_status(n) for n in range(COUNT))


def test_jsonl_of_every_service_to_standard_output(ledger: Path, tmp_path: Path) -> None:
    """`-` is standard output, UTF-8 whatever the locale; every service, by name."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "migrate",
            "report",
            "--objects",
            "--format",
            "jsonl",
            "-",
            "--state",
            _state(ledger),
        ],
        cwd=tmp_path,
        capture_output=True,
        check=False,
        timeout=120,
        env=migrate_env({"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"}),
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    records = [json.loads(line) for line in result.stdout.decode("utf-8").split("\n")[:-1]]
    assert len(records) == COUNT + 3
    assert [(r["service"], r["key"]) for r in records[:3]] == [("alpha-data", k) for k in "abc"]
    assert [r["key"] for r in records[3:]] == sorted(_key(n) for n in range(COUNT))
    assert records[3 + 4007]["key"] == _key(4007) == "patients/04007 é/日本.bin"
    assert records[3 + 41]["size"] == 41
    assert records[3 + 41]["reason"] is None
    assert not list(tmp_path.iterdir())  # nothing written beside


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--objects", "recrods-data", "--format", "csv", "out.csv"],
            "Error: service 'recrods-data' is not in the state database (did you mean "
            "'records-data'?); it has alpha-data, records-data",
        ),
        (["--objects", "--format", "csv"], "Error: --objects needs a FILE to write"),
        (["--objects", SERVICE, "--format", "csv"], "Error: 'records-data' is a service of"),
        (["--format", "jsonl", "out.csv"], "Error: --format is for the object report"),
        (
            ["--html", "r.html", "--objects", "--format", "csv", "out.csv"],
            "Error: --html and --objects are two reports",
        ),
    ],
)
def test_misuse_is_one_sentence_and_exit_2(
    ledger: Path, tmp_path: Path, args: list[str], message: str
) -> None:
    result = run("report", *args, "--state", _state(ledger), cwd=tmp_path)
    _clean(result)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_no_state_database_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    result = run("report", "--objects", "--format", "csv", "out.csv", cwd=tmp_path)
    _clean(result)
    assert result.returncode == 2
    assert result.stderr.startswith(
        "Error: no state database at .migrate/state.db: nothing has been applied"
    )
    assert not list(tmp_path.iterdir())  # neither the report nor a ledger


def test_read_while_a_writer_holds_the_ledger(ledger: Path, tmp_path: Path) -> None:
    """An apply's open write transaction neither blocks the report nor shows in it."""
    writer = sqlite3.connect(ledger / "state.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE objects SET status = 'copying' WHERE service = 'alpha-data'")
        result = run(
            "report",
            "--objects",
            "alpha-data",
            "--format",
            "csv",
            "-",
            "--state",
            _state(ledger),
            cwd=tmp_path,
        )
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout, newline="")))
    assert [(r["key"], r["status"]) for r in rows] == [(k, "pending") for k in "abc"]


def test_the_html_report_is_as_it_was(ledger: Path, tmp_path: Path) -> None:
    result = run("report", "--html", "r.html", "--state", _state(ledger), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Report written to r.html"
    assert "records-data" in (tmp_path / "r.html").read_text()
