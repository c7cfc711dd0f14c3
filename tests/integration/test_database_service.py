"""A PostgreSQL database service moved online through the CLI, between two throw-away clusters
of Debian's PostgreSQL on loopback: the schema, the rows by logical replication while a writer
inserts, updates and deletes in several tables until the freeze hook stops it, the sequences,
every table checked; after cutover the source follows the target."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.support import run, wait_for, write_plan

psycopg = pytest.importorskip("psycopg")

SCHEMA = """
CREATE TABLE accounts (id serial PRIMARY KEY, name text NOT NULL, balance numeric(12, 2),
                       meta json DEFAULT '{"a": 1}');  -- json: no hash function
CREATE TABLE visits (patient int, day date, n int NOT NULL, PRIMARY KEY (patient, day));
CREATE TABLE notes (id bigserial PRIMARY KEY, account_id int REFERENCES accounts (id)
                    ON DELETE CASCADE, body text, at timestamptz DEFAULT now());
CREATE TABLE events_log (at timestamptz NOT NULL, message text);
ALTER TABLE events_log REPLICA IDENTITY FULL;
CREATE TABLE consents (id int, year int, given boolean, PRIMARY KEY (id, year))
    PARTITION BY RANGE (year);  -- partitioned: each partition is published and compared
CREATE TABLE consents_old PARTITION OF consents FOR VALUES FROM (2000) TO (2026);
CREATE TABLE consents_new PARTITION OF consents FOR VALUES FROM (2026) TO (2100);
INSERT INTO consents SELECT i, 2020 + i % 10, true FROM generate_series(1, 1000) i;
CREATE SEQUENCE standalone_seq;
INSERT INTO accounts (name, balance) SELECT 'a' || i, i FROM generate_series(1, 3000) i;
INSERT INTO visits SELECT i % 500, DATE '2026-01-01' + (i / 500), i FROM generate_series(1, 4000) i;
INSERT INTO notes (account_id, body)
    SELECT 1 + i % 3000, md5(i::text) FROM generate_series(1, 5000) i;
INSERT INTO events_log SELECT now(), 'start ' || i FROM generate_series(1, 200) i;
SELECT nextval('standalone_seq') FROM generate_series(1, 7);
"""
TABLES = ("accounts", "visits", "notes", "events_log", "consents")
SEQUENCES = ("accounts_id_seq", "notes_id_seq", "standalone_seq")


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[Any, Any]]:
    from tools import postgres

    if not postgres.available():
        pytest.fail("PostgreSQL is missing: `make test` installs Debian's postgresql")
    logical = {"wal_level": "logical", "max_wal_senders": "10", "max_replication_slots": "10"}
    source, target = postgres.start(logical), postgres.start(logical)
    try:
        yield source, target
    finally:
        postgres.stop(source)
        postgres.stop(target)


def _databases(clusters: tuple[Any, Any], name: str) -> tuple[str, str]:
    from tools import postgres

    urls = [postgres.create_database(server, name) for server in clusters]
    return urls[0].replace("+psycopg", ""), urls[1].replace("+psycopg", "")


def _seeded(
    clusters: tuple[Any, Any], name: str, schema: str = SCHEMA
) -> tuple[str, str, dict[str, str]]:
    """New databases on both clusters, the source's filled: URLs and the environment."""
    source, target = _databases(clusters, name)
    with psycopg.connect(source, autocommit=True) as db:
        db.execute(schema)
    return source, target, {"CATALOGUE_SOURCE_URL": source, "CATALOGUE_TARGET_URL": target}


def _freeze_hook(tmp_path: Path) -> tuple[str, Path, Path]:
    """A freeze hook that asks the writer to stop and waits until it has."""
    stop, stopped = tmp_path / "stop-writers", tmp_path / "writers-stopped"
    hook = f"touch {stop}; for i in $(seq 600); do [ -e {stopped} ] && break; sleep 0.05; done"
    return hook, stop, stopped


class Writer(threading.Thread):
    """Inserts, updates and deletes in every table until ``stop_file`` exists."""

    def __init__(self, url: str, stop_file: Path, stopped_file: Path) -> None:
        super().__init__(daemon=True)
        self.url, self.stop_file, self.stopped_file = url, stop_file, stopped_file
        self.transactions = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        rnd = random.Random(7)
        try:
            with psycopg.connect(self.url, autocommit=False) as db:
                while not self.stop_file.exists():
                    self._one(db, rnd)
                    db.commit()
                    self.transactions += 1
                    time.sleep(0.002)
        except BaseException as error:  # reported by the test
            self.error = error
        finally:
            self.stopped_file.touch()

    @staticmethod
    def _one(db: Any, rnd: random.Random) -> None:
        account = rnd.randint(1, 3000)
        db.execute("INSERT INTO accounts (name, balance) VALUES (%s, %s)", ("new", rnd.random()))
        db.execute("UPDATE accounts SET balance = balance + 1 WHERE id = %s", (account,))
        db.execute(
            "INSERT INTO visits VALUES (%s, DATE '2027-01-01' + %s, 1) "
            "ON CONFLICT (patient, day) DO UPDATE SET n = visits.n + 1",
            (rnd.randint(0, 499), rnd.randint(0, 30)),
        )
        db.execute("DELETE FROM notes WHERE id = (SELECT min(id) FROM notes)")
        db.execute("INSERT INTO notes (account_id, body) VALUES (%s, 'w')", (account,))
        db.execute("INSERT INTO events_log VALUES (now(), 'tx')")
        db.execute("DELETE FROM events_log WHERE ctid = (SELECT min(ctid) FROM events_log)")
        db.execute(  # a row moves to the other partition, or back
            "UPDATE consents SET year = CASE WHEN year < 2026 THEN year + 10 ELSE year - 10 END, "
            "given = NOT given WHERE id = %s",
            (rnd.randint(1, 1000),),
        )
        if rnd.random() < 0.1:
            db.execute("SELECT nextval('standalone_seq')")


def _rows(url: str) -> dict[str, Any]:
    with psycopg.connect(url) as db:
        db.execute("SET TimeZone = 'UTC'")
        found: dict[str, Any] = {
            table: sorted(str(row) for row in db.execute(f"SELECT * FROM {table}"))  # noqa: S608
            for table in TABLES
        }
        for sequence in SEQUENCES:
            found[sequence] = db.execute(
                f"SELECT last_value, is_called FROM {sequence}"  # noqa: S608
            ).fetchone()
    return found


def _inventory(
    tmp_path: Path, hooks: dict[str, str], name: str = "catalogue-db", **database: Any
) -> list[dict[str, Any]]:
    """One database service. The clusters are shared by the tests: a replication slot's name
    is the whole cluster's, so tests that leave replication behind use a name of their own."""
    return [
        {
            "name": name,
            "kind": "database",
            "max_downtime": "2m",
            "database": {
                "engine": "postgresql",
                "source_url_env": "CATALOGUE_SOURCE_URL",
                "target_url_env": "CATALOGUE_TARGET_URL",
                **database,
            },
            "hooks": hooks,
        }
    ]


def test_a_database_moves_online_and_the_source_follows_after_cutover(
    clusters: tuple[Any, Any], tmp_path: Path
) -> None:
    source, target, env = _seeded(clusters, "catalogue")
    freeze, stop, stopped = _freeze_hook(tmp_path)
    policy = {"decommission_notice": "0s"}
    write_plan(tmp_path, _inventory(tmp_path, {"freeze": freeze}), policy, env=env)
    rehearsed = run("apply", "plan.json", "--dry-run", "--detailed-exitcode", cwd=tmp_path, env=env)
    assert rehearsed.returncode == 2, rehearsed.stdout + rehearsed.stderr  # changes to make
    assert "catalogue-db: 6 tables" in rehearsed.stdout, rehearsed.stdout
    assert "method logical" in rehearsed.stdout
    assert _replication_left(source) == (0, 0, 0)  # a rehearsal creates nothing
    writer = Writer(source, stop, stopped)
    writer.start()
    wait_for(lambda: writer.transactions > 20)
    applied = run("apply", "plan.json", "--yes", cwd=tmp_path, env=env, timeout=600)
    writer.join(timeout=30)
    assert writer.error is None, writer.error
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert writer.transactions > 50  # it kept writing while the rows were copied

    before = _rows(source)
    assert _rows(target) == before  # every table and every sequence

    assert "6/6 tables" in applied.stdout  # the apply summary, as status
    status = json.loads(run("status", "--format", "json", cwd=tmp_path).stdout)
    service = status["services"]["catalogue-db"]
    assert service["state"] == "done"
    assert (service["objects_done"], service["objects_total"]) == (6, 6)  # tables (2 partitions)
    assert service["rows_done"] == sum(len(before[t]) for t in TABLES)
    assert service["replication_lag_bytes"] == 0
    assert service["replication_lag_seconds"] == 0.0
    assert service["last_verify"]["differences"] == 0
    steps = run("status", "catalogue-db", cwd=tmp_path).stdout
    assert "every table equal" in steps, steps
    assert "postgres" not in json.dumps(status).replace("postgresql", "")  # no URL, no password

    # after cutover the application writes at the target; the source follows (rollback-safe)
    with psycopg.connect(target, autocommit=True) as db:
        db.execute("INSERT INTO accounts (name, balance) VALUES ('after-cutover', 1)")
    wait_for(lambda: "after-cutover" in str(_rows(source)["accounts"]), timeout=60)

    # a rollback loses no write made at the target, and leaves no replication behind
    with psycopg.connect(target, autocommit=True) as db:
        db.execute("SELECT nextval('accounts_id_seq') FROM generate_series(1, 50)")
    rolled = run("rollback", "catalogue-db", "--yes", cwd=tmp_path, env=env)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "got only the writes made at the target" in rolled.stdout
    at_target = _rows(target)
    at_source = _rows(source)
    assert at_source["accounts"] == at_target["accounts"]
    assert at_source["accounts_id_seq"] >= at_target["accounts_id_seq"]  # never behind
    for url in (source, target):
        assert _replication_left(url) == (0, 0, 0)

    # and the service can be migrated again: the target's copy is replaced, nothing doubles
    again = run("apply", "plan.json", "--yes", cwd=tmp_path, env=env, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _rows(target) == _rows(source)

    _decommission(tmp_path, source, target, env)


def _decommission(tmp_path: Path, source: str, target: str, env: dict[str, str]) -> None:
    """Decommission compares once more (a row only the source has refuses), then removes the
    replication before the source retires: no slot outlives it."""
    assert run("approve", "catalogue-db", "decommission", cwd=tmp_path).returncode == 0
    with psycopg.connect(source, autocommit=True) as db:
        db.execute("INSERT INTO visits VALUES (9999, DATE '2030-01-01', 1)")
    refused = run("decommission", "catalogue-db", "--yes", cwd=tmp_path, env=env)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "the source differs from the target" in refused.stderr, refused.stderr
    assert "public.visits" in refused.stderr
    assert _replication_left(target) != (0, 0, 0)  # nothing removed
    with psycopg.connect(source, autocommit=True) as db:
        db.execute("DELETE FROM visits WHERE patient = 9999")
    retired = run("decommission", "catalogue-db", "--yes", cwd=tmp_path, env=env)
    assert retired.returncode == 0, retired.stdout + retired.stderr
    assert "every table equal on both sides" in retired.stdout
    for url in (source, target):
        assert _replication_left(url) == (0, 0, 0)


def _replication_left(url: str) -> tuple[int, int, int]:
    """Subscriptions, publications and replication slots of the URL's database (the
    clusters are shared by the tests of this module)."""
    with psycopg.connect(url) as db:
        return (
            db.execute(
                "SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid "
                "WHERE d.datname = current_database()"
            ).fetchone()[0],
            db.execute("SELECT count(*) FROM pg_publication").fetchone()[0],
            db.execute(
                "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"
            ).fetchone()[0],
        )


def test_what_would_silently_break_is_refused_at_prepare_with_the_fix(
    clusters: tuple[Any, Any], tmp_path: Path
) -> None:
    breaking = (
        "CREATE TABLE consents (patient int, given boolean);"  # no key, no replica identity
        "CREATE UNLOGGED TABLE scratch (id int PRIMARY KEY);"
    )
    source, target, env = _seeded(clusters, "registry", breaking)
    write_plan(tmp_path, _inventory(tmp_path, {}), env=env)
    rehearsed = run("apply", "plan.json", "--dry-run", cwd=tmp_path, env=env)
    assert "prepare would refuse" in rehearsed.stdout, rehearsed.stdout
    assert "public.consents" in rehearsed.stdout
    applied = run("apply", "plan.json", "--yes", cwd=tmp_path, env=env, timeout=300)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    shown = run("status", "catalogue-db", cwd=tmp_path).stdout
    for named in ("public.consents", "REPLICA IDENTITY FULL", "public.scratch", "SET LOGGED"):
        assert named in shown, shown
    with psycopg.connect(target) as db:  # nothing was created at the target
        assert (
            db.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").fetchone()[0]
            == 0
        )
    with psycopg.connect(source) as db:
        assert (
            db.execute(
                "SELECT count(*) FROM pg_replication_slots WHERE database = current_database()"
            ).fetchone()[0]
            == 0
        )


def _step(tmp_path: Path) -> tuple[str, str] | None:
    from tests.cli.support import ledger

    if not (tmp_path / ".migrate" / "state.db").exists():
        return None
    try:
        with ledger(tmp_path) as db:
            row = db.execute("SELECT state, step FROM services").fetchone()
    except sqlite3.Error:  # the first apply may still be creating it
        return None
    return None if row is None else (str(row[0]), str(row[1]))


@pytest.mark.parametrize("step", ["replicate", "sync"])
def test_killed_during_the_copy_or_the_sync_a_resumed_apply_loses_and_doubles_nothing(
    clusters: tuple[Any, Any], tmp_path: Path, step: str
) -> None:
    """kill -9 while the initial copy runs (a table of 200,000 rows) or while the sync checks
    the tables under the freeze; the next apply resumes from the recorded replication."""
    import os
    import signal

    from tests.cli.support import start

    claims = (
        "CREATE TABLE claims (id bigint PRIMARY KEY, body text); INSERT INTO claims "
        "SELECT i, repeat(md5(i::text), 4) FROM generate_series(1, 200000) i;"
    )
    source, target, env = _seeded(clusters, f"crash_{step}", SCHEMA + claims)
    freeze, stop, stopped = _freeze_hook(tmp_path)
    name = f"{step}-crash-db"
    write_plan(tmp_path, _inventory(tmp_path, {"freeze": freeze}, name), env=env)
    writer = Writer(source, stop, stopped)
    writer.start()
    first = start("apply", "plan.json", "--yes", cwd=tmp_path, env=env)
    try:
        wait_for(lambda: _step(tmp_path) == ("running", step), timeout=120)
        os.kill(first.pid, signal.SIGKILL)
    finally:
        first.wait(timeout=30)
    assert first.returncode == -signal.SIGKILL
    resumed = run("apply", "plan.json", "--yes", cwd=tmp_path, env=env, timeout=600)
    writer.join(timeout=30)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert writer.error is None, writer.error
    assert _rows(target) == _rows(source)
    with psycopg.connect(source) as a, psycopg.connect(target) as b:
        query = "SELECT count(*), sum(id) FROM claims"
        assert a.execute(query).fetchone() == b.execute(query).fetchone() == (200000, 20000100000)
    assert _replication_left(source) == (1, 0, 0)  # the source follows: no forward slot left
    assert _replication_left(target) == (0, 1, 1)  # the target publishes to it


def test_a_schema_change_during_replication_stops_it_and_says_what_changed(
    clusters: tuple[Any, Any], tmp_path: Path
) -> None:
    source, target, env = _seeded(clusters, "schema_change")
    services = _inventory(tmp_path, {})
    services[0]["approval"] = ["freeze"]  # the apply stops before the freeze, replicating
    write_plan(tmp_path, services, env=env)
    first = run("apply", "plan.json", "--yes", cwd=tmp_path, env=env, timeout=300)
    assert "waiting for `migrate approve catalogue-db freeze`" in first.stdout, first.stdout
    with psycopg.connect(source, autocommit=True) as db:
        db.execute("ALTER TABLE notes ADD COLUMN reviewed boolean")
        db.execute("INSERT INTO notes (account_id, body, reviewed) VALUES (1, 'new', true)")
    assert run("approve", "catalogue-db", "freeze", cwd=tmp_path).returncode == 0
    second = run("apply", "plan.json", "--yes", cwd=tmp_path, env=env, timeout=300)
    assert second.returncode == 1, second.stdout + second.stderr
    shown = run("status", "catalogue-db", cwd=tmp_path).stdout
    assert "the schema changed during replication" in shown, shown
    assert "public.notes" in shown, shown
    assert "reviewed boolean" in shown, shown
    assert _step(tmp_path) == ("failed", "freeze")  # never frozen on a broken replication

    # abandoned before any freeze: a rollback still removes the replication (its slot would
    # keep WAL on the source)
    assert _replication_left(source)[2] == 1
    rolled = run("rollback", "catalogue-db", "--yes", cwd=tmp_path, env=env)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "removed: subscription hdh_sub_catalogue_db (target)" in rolled.stdout
    for url in (source, target):
        assert _replication_left(url) == (0, 0, 0)


def test_the_dump_method_copies_under_the_freeze_and_checks_every_table(
    clusters: tuple[Any, Any], tmp_path: Path
) -> None:
    """`method: dump`: no replication at all; pg_dump -Fd -j 2 | pg_restore -j 2 while the
    writes are frozen, then every table and sequence compared; no slot on either side."""
    source, target, env = _seeded(clusters, "dumped")
    write_plan(tmp_path, _inventory(tmp_path, {}, "dumped-db", method="dump"), env=env)
    applied = run("apply", "plan.json", "--yes", cwd=tmp_path, env=env, timeout=600)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert _rows(target) == _rows(source)
    shown = run("status", "dumped-db", cwd=tmp_path).stdout
    assert "method dump" in shown, shown
    assert "pg_dump -Fd -j 2" in shown, shown
    assert "a rollback after cutover would lose the writes made at the target" in shown, shown
    assert "database.dump_rate: " in shown, shown  # the rate measured, for the next plan
    assert "6/6 tables" in applied.stdout  # the apply summary says what status says
    service = json.loads(run("status", "--format", "json", cwd=tmp_path).stdout)["services"]
    assert (service["dumped-db"]["objects_done"], service["dumped-db"]["objects_total"]) == (6, 6)
    for url in (source, target):
        assert _replication_left(url) == (0, 0, 0)


TYPES = """
CREATE TYPE mood AS ENUM ('calm', 'busy');
CREATE TYPE pair AS (a int, b text);
CREATE DOMAIN code AS varchar(8);
"""
TYPED = """
CREATE TABLE typed (
    id bigint PRIMARY KEY, small smallint, flag boolean, amount numeric(10, 2), ratio float8,
    name varchar(20), label code, fixed char(4), body text, raw bytea, uid uuid, day date,
    at timestamptz, span interval, doc jsonb, plain json, spot point, tags int[],
    spots point[], feeling mood, couple pair, period int4range, address inet);
INSERT INTO typed SELECT i, i % 100, i % 2 = 0, i / 7.0, i / 3.0, 'n' || i, 'c' || (i % 9),
    'f' || (i % 10), md5(i::text), decode(md5(i::text), 'hex'), md5(i::text)::uuid,
    DATE '2026-01-01' + i % 300, TIMESTAMPTZ '2026-01-01' + i * INTERVAL '1 minute',
    i * INTERVAL '1 second', jsonb_build_object('i', i), json_build_object('i', i),
    point(i, -i), ARRAY[i, i + 1], ARRAY[point(i, 0)], (ARRAY['calm', 'busy'])[1 + i % 2]::mood,
    ROW(i, 'b' || i)::pair, int4range(i, i + 5), ('10.0.0.' || (i % 250))::inet
    FROM generate_series(1, 2000) i;
UPDATE typed SET body = NULL, doc = NULL WHERE id % 50 = 0;
"""

CHANGES = [
    "UPDATE typed SET name = 'changed' WHERE id = 17",
    "UPDATE typed SET name = label, label = name WHERE id = 18",  # values swapped
    "UPDATE typed SET body = '' WHERE id = 50",  # NULL -> empty
    "UPDATE typed SET plain = '{\"i\": 0}' WHERE id = 19",  # json: hashed by its text
    "UPDATE typed SET spots = ARRAY[point(0, 0)] WHERE id = 20",  # point[]: no hash at all
    "UPDATE typed SET couple = ROW(21, 'x')::pair WHERE id = 21",
    "UPDATE typed SET period = int4range(1, 2) WHERE id = 22",
    "DELETE FROM typed WHERE id = 23",
]


def test_every_column_type_is_compared_and_each_change_is_seen(
    clusters: tuple[Any, Any], tmp_path: Path
) -> None:
    """The comparison the sync and validate steps rely on, on two databases made equal by the
    same statements: equal, then each single change at the target is a difference, whatever
    the column's type (its own hash function, a domain's base type's, a binary-coercible
    type's, a polymorphic one's, or its text where it has none)."""
    from adapters.postgres import PostgresPair
    from migrate.databases import TableInfo

    source, target = _databases(clusters, "typed")
    for url in (source, target):
        with psycopg.connect(url, autocommit=True) as db:
            db.execute(TYPES + TYPED)
    pair = PostgresPair("typed-db", source, target)
    table = TableInfo("public", "typed", ("id",), "d")
    check = pair.compare(table, 700)
    assert check.equal, check
    assert check.source_rows == 2000
    assert pair.compare(table, None).equal  # in one pass, as under the freeze
    with psycopg.connect(target, autocommit=True) as db:
        for change in CHANGES:
            db.execute(change)
            assert not pair.compare(table, 700).equal, change
            assert not pair.compare(table, None).equal, change
            db.execute("DROP TABLE typed")
            db.execute(TYPED)  # equal again
    assert pair.compare(table, 700).equal
    keyless = TableInfo("public", "typed", (), "f")
    assert pair.compare(keyless, 700).equal
