"""The database kind's steps against an in-memory pair of databases (tests/fakes.py): what
prepare refuses and with which fix, how `auto` chooses, what verify and sync say when a table
differs, and that a schema change stops replication before the freeze."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from migrate.databases import DatabasePair, TableInfo
from migrate.executor.copy import Copier
from migrate.executor.objects import ObjectMover
from migrate.executor.progress import NullProgress
from migrate.executor.steps import StepHandlers
from migrate.kinds.base import StepContext, StepFailed
from migrate.model import PlannedDatabase
from migrate.ports import TargetCapabilities
from state.store import Store
from tests.fakes import FakeDatabasePair, FakeSource, FakeTarget
from tests.planning import make_inventory, plan_for

KEYED = TableInfo("public", "accounts", ("id",), "d")
KEYLESS = TableInfo("public", "consents", (), "d")
FULL = TableInfo("public", "events", (), "f")
UNLOGGED = TableInfo("public", "scratch", ("id",), "d", unlogged=True)


def _service(**changes: Any) -> dict[str, Any]:
    return {
        "name": "catalogue-db",
        "kind": "database",
        "max_downtime": "60s",
        "database": {"engine": "postgresql", "source_url_env": "S", "target_url_env": "T"},
        **changes,
    }


class Steps:
    """One service's steps, run in order on a real SQLite ledger, against the fake pair."""

    def __init__(self, tmp_path: Path, pair: FakeDatabasePair, **changes: Any) -> None:
        inventory = make_inventory([_service(**changes)])
        self.plan = plan_for(inventory)
        self.store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
        self.store.register_services(self.plan)
        self.pair = pair

    def connect(self, service: str, settings: PlannedDatabase) -> DatabasePair:
        return self.pair

    def run(self, step: str) -> str:
        source = FakeSource()
        target = FakeTarget(TargetCapabilities())
        with ThreadPoolExecutor(1) as pool:
            mover = ObjectMover(
                source,
                self.store,
                Copier(source, target, self.store),
                pool,
                NullProgress(),
                workers=1,
            )
            handlers = StepHandlers(self.store, target, mover, databases=self.connect)
            planned = self.plan.services["catalogue-db"]
            context = StepContext(
                "catalogue-db", planned, step, planned.wave, "run-1", "sqlite://", None, 10
            )
            return handlers.run(context)


def _pair(*tables: TableInfo) -> FakeDatabasePair:
    return FakeDatabasePair(list(tables), {t.qualified: [(1,), (2,)] for t in tables})


def test_prepare_refuses_what_would_silently_break_with_the_fix(tmp_path: Path) -> None:
    pair = _pair(KEYED, KEYLESS, FULL, UNLOGGED)
    pair.inspection_overrides = {"large_objects": 3, "missing_extensions": ("postgis",)}
    with pytest.raises(StepFailed) as refused:
        Steps(tmp_path, pair).run("prepare")
    message = str(refused.value)
    assert "public.consents" in message
    assert "REPLICA IDENTITY FULL" in message
    assert "public.events" not in message  # REPLICA IDENTITY FULL replicates its changes
    assert "public.scratch" in message
    assert "SET LOGGED" in message
    assert "3 large objects" in message
    assert "postgis" in message
    assert not pair.schema_copied  # nothing done at the target


def test_auto_takes_logical_when_the_source_allows_it(tmp_path: Path) -> None:
    steps = Steps(tmp_path, _pair(KEYED))
    assert "method logical" in steps.run("prepare")
    assert (steps.store.database_progress("catalogue-db") or {})["method"] == "logical"


def test_auto_falls_back_to_a_dump_that_fits_the_budget_or_refuses(tmp_path: Path) -> None:
    cannot = {"logical_source": False, "why_not_logical": "wal_level is replica, not logical"}
    small = _pair(KEYED)
    small.inspection_overrides = {**cannot, "source_bytes": 10 * 1024**2}
    steps = Steps(tmp_path, small)
    assert "method dump" in steps.run("prepare")
    assert "during the write freeze" in steps.run("replicate")
    assert "pg_dump" not in small.calls
    synced = steps.run("sync")
    assert "every table equal" in synced
    assert "database.dump_rate: " in synced  # the rate measured, to plan the next run with
    assert small.calls[:1] == ["dump"]
    progress = steps.store.database_progress("catalogue-db") or {}
    assert progress["dump_seconds"] > 0
    assert progress["dump_rate"] > 0
    assert progress["tables_ready"] == progress["tables_total"] == 1  # status: 1/1 tables

    large = _pair(KEYED)
    large.inspection_overrides = {**cannot, "source_bytes": 500 * 1024**3}
    (tmp_path / "other").mkdir()
    with pytest.raises(StepFailed, match="over its max_downtime"):
        Steps(tmp_path / "other", large).run("prepare")


def test_a_dump_without_room_in_the_temporary_folder_is_refused_at_prepare(
    tmp_path: Path,
) -> None:
    pair = _pair(KEYED)
    pair.inspection_overrides = {"source_bytes": 10 * 1024**2, "dump_room": 1024**2}
    with pytest.raises(StepFailed, match="set TMPDIR to a folder with room") as refused:
        Steps(tmp_path, pair, database={**_service()["database"], "method": "dump"}).run("prepare")
    assert "10 MiB" in str(refused.value)
    assert not pair.schema_copied


def test_verify_names_a_table_still_changing_and_sync_fails_on_it(tmp_path: Path) -> None:
    pair = _pair(KEYED, FULL)
    steps = Steps(tmp_path, pair)
    steps.run("prepare")
    steps.run("replicate")
    pair.stuck.add("public.events")
    pair.source["public.events"].append((3,))
    detail = steps.run("verify")
    assert "1 of 2 tables equal" in detail
    assert "still changing under the writers: public.events" in detail
    assert pair.calls.count("catch-up") == 3  # taken again after each catch-up
    with pytest.raises(StepFailed) as differs:
        steps.run("sync")
    assert "public.events: 3 rows at the source, 2 at the target" in str(differs.value)
    last = steps.store.latest_verification_summary("catalogue-db")
    assert last is not None
    assert last[1]["differences"][0]["key"] == "public.events"


def test_a_schema_change_stops_before_the_freeze_and_names_the_table(tmp_path: Path) -> None:
    pair = _pair(KEYED)
    steps = Steps(tmp_path, pair)
    steps.run("prepare")
    steps.run("replicate")
    pair.source_columns["public.accounts"] = "id integer, reviewed boolean"
    with pytest.raises(StepFailed) as changed:
        steps.run("freeze")
    assert "the schema changed during replication" in str(changed.value)
    assert "public.accounts: source (id integer, reviewed boolean)" in str(changed.value)


def test_a_database_service_of_the_old_form_only_runs_its_hooks(tmp_path: Path) -> None:
    pair = _pair(KEYED)
    steps = Steps(tmp_path, pair, database=None)
    assert "no 'database' block" in steps.run("prepare")
    assert any("no 'database' block" in w for w in steps.plan.warnings)
    assert not pair.schema_copied


def test_a_variable_not_set_fails_the_step_naming_it(tmp_path: Path) -> None:
    from migrate.errors import InvalidInput

    steps = Steps(tmp_path, _pair(KEYED))

    def missing(service: str, settings: PlannedDatabase) -> DatabasePair:
        raise InvalidInput(f"environment variable {settings.source_url_env} is not set")

    steps.connect = missing  # type: ignore[method-assign]
    with pytest.raises(StepFailed, match="environment variable S is not set"):
        steps.run("prepare")


@pytest.mark.parametrize(
    ("url", "refused"),
    [
        ("postgresql://u:hunter2@db.example.org/x", "give sslmode=verify-full"),
        ("postgresql://u:hunter2@db.example.org/x?sslmode=require", "give sslmode=verify-full"),
        ("postgresql://u:hunter2@127.0.0.1/x?service=other", "service is not supported"),
        ("postgresql://u:hunter2@[not-a-host/x", "not a valid libpq URL"),
    ],
)
def test_database_urls_are_checked_before_any_connection(url: str, refused: str) -> None:
    from adapters.postgres import check_url
    from migrate.errors import MigrateError

    with pytest.raises(MigrateError) as error:
        check_url(url, "source database")
    assert refused in str(error.value)
    assert "hunter2" not in str(error.value)


def test_a_verified_tls_url_and_loopback_urls_are_accepted() -> None:
    from adapters.postgres import check_url

    assert check_url("postgresql://u@db.example.org/x?sslmode=verify-full", "s")["host"]
    assert check_url("postgresql://u@127.0.0.1:5432/x", "s")["port"] == "5432"
    assert check_url("postgresql://u@localhost/x", "s")["dbname"] == "x"
