"""The ledger on real SQLite files."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from migrate.errors import RefusedForSafety, StateError, StateLocked
from migrate.ledger import CopyResult, LockInfo
from migrate.ports import ObjectInfo
from state.objects import claimable
from state.schema import SCHEMA_VERSION, UPGRADES, meta
from state.store import Store
from tests.planning import one_store_plan


@pytest.fixture
def store(ledger_url: str) -> Store:
    store = Store.open(ledger_url)
    store.register_services(one_store_plan())
    return store


def _info(key: str, etag: str = "e1", size: int = 10) -> ObjectInfo:
    return ObjectInfo(key=key, size=size, etag=etag, last_modified=datetime.now(UTC))


def test_durable_sqlite_settings(store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("SQLite pragmas")
    with store.tx() as c:
        assert c.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert c.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL


def test_files_are_private(tmp_path: Path, store: Store) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite file")
    db = tmp_path / "db" / "state.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700


def test_world_writable_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "open"
    folder.mkdir()
    os.chmod(folder, 0o777)  # noqa: S103 - the unsafe folder under test
    with pytest.raises(RefusedForSafety, match="world-writable"):
        Store.open(f"sqlite:///{folder / 'state.db'}")


def test_schema_version_mismatch_is_refused(store: Store) -> None:
    with store.tx() as c:
        c.execute(meta.update().values(value="99"))
    with pytest.raises(StateError, match="schema version 99"):
        Store.open(store.engine.url.render_as_string(hide_password=False))


def test_a_version_3_ledger_is_upgraded_in_place(store: Store) -> None:
    """Columns added by version 4 (what the write check saw); rows and counts are kept."""
    url = store.engine.url.render_as_string(hide_password=False)
    store.ingest_listing("svc-data", 1, [_info("a")], None)
    with store.tx() as c:
        for version in range(4, SCHEMA_VERSION + 1):  # undo every column added since 3
            for statement in UPGRADES[version - 1]:
                words = statement.split()
                if words[:2] == ["ALTER", "TABLE"] and words[3:5] == ["ADD", "COLUMN"]:
                    c.execute(text(f"ALTER TABLE {words[2]} DROP COLUMN {words[5]}"))
        c.execute(meta.update().values(value="3"))
    store.engine.dispose()
    with pytest.raises(StateError, match="run `migrate apply` once to upgrade"):
        Store.open(url, readonly=True)
    upgraded = Store.open(url)
    with upgraded.tx() as c:
        assert c.execute(text("SELECT value FROM migrate_meta")).scalar() == str(SCHEMA_VERSION)
        assert c.execute(text("SELECT key, target_modified, target_sse FROM objects")).all() == [
            ("a", None, None)
        ]
    assert upgraded.counts("svc-data").total == 1


def test_claims_do_not_sort_the_pending_rows(store: Store) -> None:
    """A claim reads the next rows from an index in id order; sorting every pending row at
    each claim made claims linear in the ledger's size (21 ms at 200,000 rows)."""
    store.ingest_listing("svc-data", 1, [_info(f"k{n:04d}") for n in range(50)], None)
    if store.engine.dialect.name == "sqlite":  # PostgreSQL's planner chooses by table size
        query = claimable("svc-data", 16).compile(
            store.engine, compile_kwargs={"literal_binds": True}
        )
        with store.tx() as c:
            plan = " ".join(
                str(row) for row in c.execute(text(f"EXPLAIN QUERY PLAN {query}")).all()
            )
        assert "ix_objects_service_status" in plan
        assert "TEMP B-TREE" not in plan.upper()
    assert [t.key for t in store.claim("svc-data", 16)] == [f"k{n:04d}" for n in range(16)]


def test_claims_of_one_listing_pass_read_its_rows_from_an_index(store: Store) -> None:
    """While copies run beside a listing pass, claims take only that pass's rows: from the
    (service, status, generation, id) index, not past every older pending row."""
    store.ingest_listing("svc-data", 1, [_info(f"old{n:03d}") for n in range(30)], None)
    store.ingest_listing("svc-data", 2, [_info(f"new{n:03d}") for n in range(5)], None)
    if store.engine.dialect.name == "sqlite":
        query = claimable("svc-data", 16, 2).compile(
            store.engine, compile_kwargs={"literal_binds": True}
        )
        with store.tx() as c:
            plan = " ".join(
                str(row) for row in c.execute(text(f"EXPLAIN QUERY PLAN {query}")).all()
            )
        assert "ix_objects_service_generation" in plan
        assert "TEMP B-TREE" not in plan.upper()
    assert [t.key for t in store.claim("svc-data", 16, 2)] == [f"new{n:03d}" for n in range(5)]


def test_reading_a_missing_database_says_so(tmp_path: Path) -> None:
    with pytest.raises(StateError, match="nothing has been applied"):
        Store.open(f"sqlite:///{tmp_path / 'none.db'}", readonly=True)


def _lock(run: str, pid: int = 1) -> LockInfo:
    return LockInfo(
        run,
        "host-a",
        pid,
        "77",
        "alice",
        "2026-11-28T10:00:00.000000Z",
        "2026-11-28T10:00:00.000000Z",
    )


def test_one_apply_at_a_time(store: Store) -> None:
    store.acquire_lock(_lock("run-1", 4242), holder_alive=lambda _: True)
    with pytest.raises(StateLocked) as refused:
        store.acquire_lock(_lock("run-2"), holder_alive=lambda _: True)
    message = str(refused.value)
    for fragment in ("run-1", "alice", "host-a", "pid 4242", "2026-11-28T10:00", "unlock --force"):
        assert fragment in message


def test_a_dead_holder_on_this_host_is_replaced(store: Store) -> None:
    store.acquire_lock(_lock("run-1"), holder_alive=lambda _: True)
    replaced = store.acquire_lock(_lock("run-2"), holder_alive=lambda _: False)
    assert replaced is not None
    assert replaced.run_id == "run-1"
    holder = store.lock_info()
    assert holder is not None
    assert holder.run_id == "run-2"


def test_a_holder_on_another_host_is_never_assumed_dead(store: Store) -> None:
    store.acquire_lock(_lock("run-1"), holder_alive=lambda _: True)
    with pytest.raises(StateLocked, match="another host"):
        store.acquire_lock(_lock("run-2"), holder_alive=lambda _: None)
    removed = store.force_unlock()
    assert removed is not None
    assert removed.run_id == "run-1"
    assert store.lock_info() is None


def test_listing_ingestion_counts_and_resets_changes(store: Store) -> None:
    generation = store.begin_listing("svc-data")
    counts = store.ingest_listing("svc-data", generation, [_info("a"), _info("b")], None)
    assert (counts.new, counts.changed, counts.unchanged) == (2, 0, 0)
    tasks = store.claim("svc-data", 10)
    store.record_results([CopyResult(t.id, "done", 1, sha256="0" * 64) for t in tasks])
    store.finish_listing("svc-data")
    generation = store.begin_listing("svc-data")
    counts = store.ingest_listing(
        "svc-data", generation, [_info("a"), _info("b", "e2"), _info("c")], None
    )
    assert (counts.new, counts.changed, counts.unchanged) == (1, 1, 1)
    pending = {t.key for t in store.claim("svc-data", 10)}
    assert pending == {"b", "c"}
    done = store.counts("svc-data")
    assert (done.total, done.done) == (3, 1)


def test_an_interrupted_listing_resumes_from_its_marker(store: Store) -> None:
    generation = store.begin_listing("svc-data")
    store.ingest_listing("svc-data", generation, [_info("a")], "marker-after-a")
    assert store.begin_listing("svc-data") == generation
    assert store.service("svc-data").listing_marker == "marker-after-a"


def test_claimed_rows_left_by_a_crash_go_back_to_pending(store: Store) -> None:
    generation = store.begin_listing("svc-data")
    store.ingest_listing("svc-data", generation, [_info("a"), _info("b")], None)
    assert len(store.claim("svc-data", 10)) == 2
    assert store.claim("svc-data", 10) == []
    assert store.reset_interrupted(["svc-data"]) == 2
    assert len(store.claim("svc-data", 10)) == 2


def test_hostile_names_are_data(store: Store) -> None:
    evil = "x'); DROP TABLE objects; --"
    generation = store.begin_listing("svc-data")
    store.ingest_listing("svc-data", generation, [_info(evil)], None)
    assert [t.key for t in store.claim("svc-data", 1)] == [evil]


def test_a_state_change_that_touches_no_row_stops(store: Store) -> None:
    """A service row missing is a ledger out of step with the plan: never a silent no-op."""
    with pytest.raises(StateError, match="changed 0 rows for service"):
        store.set_service_state("not-registered", "running", "prepare")
    with pytest.raises(StateError, match="changed 0 rows"):
        store.freeze_started("not-registered", 60)


def test_consistent_reads_see_one_moment_and_hold_up_no_writer(store: Store) -> None:
    """The dry run's reads come from one moment, while an apply goes on writing."""
    url = store.engine.url.render_as_string(hide_password=False)
    store.ingest_listing("svc-data", 1, [_info("a"), _info("b")], None)
    reader = Store.open(url, readonly=True)
    try:
        with reader.consistent_reads():
            assert reader.known("svc-data", ["a", "b", "c"]).keys() == {"a", "b"}
            store.ingest_listing("svc-data", 1, [_info("c")], None)  # a writer goes on, at once
            store.set_service_state("svc-data", "running", "replicate")
            assert reader.known("svc-data", ["c"]) == {}  # still the first moment
            assert reader.service("svc-data").state == "pending"
        assert reader.known("svc-data", ["c"]).keys() == {"c"}  # after it: the present
        assert reader.service("svc-data").state == "running"
    finally:
        reader.close()
