"""PostgreSQL to PostgreSQL for database services (psycopg 3, and Debian's pg_dump and
pg_restore): the schema by pg_dump --schema-only | pg_restore in one transaction, the rows by
PostgreSQL's own logical replication (a publication on the source, a subscription on the
target), and after cutover the same the other way round, so that a rollback loses no write.

Secrets: the URLs come from the environment (wiring); pg_dump and pg_restore get the password
through their environment (PGPASSWORD), never on their command line. A host that is not
loopback must use sslmode=verify-full.
"""

from __future__ import annotations

import glob
import hashlib
import ipaddress
import os
import re
import shutil
import subprocess  # nosec B404 - pg_dump and pg_restore, by full path, no shell
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from migrate.databases import (
    CopyState,
    DatabaseSurvey,
    Inspection,
    Lag,
    Resources,
    TableCheck,
    TableInfo,
)
from migrate.errors import RefusedForSafety, StorageError

SESSION = (
    "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET IntervalStyle = 'postgres'; "
    "SET extra_float_digits = 3; SET bytea_output = 'hex'; SET statement_timeout = 0"
)
"""The same text for the same value on both sides: what the row digests are computed over."""
LIBPQ_ENV = {
    "host": "PGHOST",
    "hostaddr": "PGHOSTADDR",
    "port": "PGPORT",
    "dbname": "PGDATABASE",
    "user": "PGUSER",
    "password": "PGPASSWORD",  # nosec B105 - the name of libpq's variable
    "sslmode": "PGSSLMODE",
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}
POLL_SECONDS = 0.2
OWN_SUBSCRIPTION = (
    "SELECT 1 FROM pg_subscription WHERE subname = %s AND subdbid = "
    "(SELECT oid FROM pg_database WHERE datname = current_database())"
)
"""pg_subscription is the whole cluster's: a subscription of another database with the same
name is not ours (and could not be altered or dropped from here)."""
TEXT_DIGEST = "coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text"
"""Per range of keys: the row count and the sum of a 64-bit hash of each row. Within a range
of unique keys, equal sums mean the same rows (a difference escapes with a probability of
about 2^-64). Where both servers are of the same major version, each row's hash combines each
column's own hash (the extended hash function of its type's default hash operator class, the
one hash partitioning uses), with a seed per column so that values swapped between columns
differ: 40 % less CPU than hashing the whole row as a record, which the server first builds
as one value (measured in bench/db_bench.py). A column whose type has no hash function is
hashed by its text. Across major versions the row's text is hashed (``TEXT_DIGEST``), which
servers of any versions agree on. Both are 4 to 8 times as fast as MD5 over an ordered
string_agg (measured)."""
COLUMNS = """
SELECT a.attname, a.atttypid, t.typtype, t.typcategory,
       coalesce(nullif(t.typbasetype, 0), a.atttypid)
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = (SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = %s AND c.relname = %s)
  AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""
HASH_PROCS = """
SELECT oc.opcintype, pn.nspname, p.proname
FROM pg_opclass oc JOIN pg_am am ON am.oid = oc.opcmethod AND am.amname = 'hash'
JOIN pg_amproc ap ON ap.amprocfamily = oc.opcfamily AND ap.amproclefttype = oc.opcintype
 AND ap.amprocrighttype = oc.opcintype AND ap.amprocnum = 2
JOIN pg_proc p ON p.oid = ap.amproc JOIN pg_namespace pn ON pn.oid = p.pronamespace
WHERE oc.opcdefault AND p.proargtypes[0] = oc.opcintype
"""
"""Type -> its extended hash function (support function 2 of the default hash opclass), where
SQL can call it on the type (bool's and date's take "char" and int4: their text is hashed)."""
POLYMORPHIC = {"A": "anyarray", "e": "anyenum", "r": "anyrange", "m": "anymultirange",
               "c": "record"}  # fmt: skip
"""typcategory A (arrays) or typtype e, r, m, c: the opclass is declared on a pseudo-type."""


class DatabaseError(StorageError):
    """A database did not answer as replication needs (the message says which and why)."""


def identifier(prefix: str, service: str) -> str:
    """A PostgreSQL name (at most 63 bytes) for what replication creates for a service."""
    name = f"{prefix}_{service.replace('-', '_')}"
    if len(name) <= 63:
        return name
    digest = hashlib.sha256(service.encode()).hexdigest()[:8]
    return f"{name[:54]}_{digest}"


def check_url(url: str, what: str) -> dict[str, str]:
    """The URL's libpq parameters; TLS verification is required off loopback."""
    try:
        params = {k: str(v) for k, v in conninfo_to_dict(url).items() if v is not None}
    except psycopg.ProgrammingError:  # its message quotes the URL, password included
        raise DatabaseError(
            f"{what}: not a valid libpq URL (postgresql://USER:PASSWORD@HOST:PORT/DATABASE"
            "?sslmode=verify-full)"
        ) from None
    unknown = sorted(set(params) - set(LIBPQ_ENV))
    if unknown:
        raise DatabaseError(f"{what}: parameter {', '.join(unknown)} is not supported here")
    host = params.get("host", "")
    if not _loopback(host) and params.get("sslmode") != "verify-full":
        raise RefusedForSafety(
            f"{what}: host {host or '(default)'} is not loopback: give sslmode=verify-full "
            "(TLS with the server's certificate and name checked)"
        )
    return params


def _loopback(host: str) -> bool:
    if host in ("localhost", "") or host.startswith("/"):
        return True  # a Unix socket is local
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


class PostgresPair:
    """One service's source and target databases (see migrate.databases.DatabasePair)."""

    def __init__(self, service: str, source_url: str, target_url: str) -> None:
        self.service = service
        self._source_params = check_url(source_url, f"service '{service}': source database")
        self._target_params = check_url(target_url, f"service '{service}': target database")
        self._resources = Resources(
            publication=identifier("hdh_pub", service),
            subscription=identifier("hdh_sub", service),
            slot=identifier("hdh_slot", service),
            reverse=(identifier("hdh_rpub", service), identifier("hdh_rsub", service)),
        )
        self._same_major: bool | None = None

    @property
    def resources(self) -> Resources:
        return self._resources

    # connections -------------------------------------------------------------------------

    @contextmanager
    def _connect(self, side: str) -> Iterator[psycopg.Connection[Any]]:
        params = self._source_params if side == "source" else self._target_params
        try:
            connection = psycopg.connect(make_conninfo(**params), autocommit=True)
        except psycopg.Error as error:
            raise DatabaseError(
                f"service '{self.service}': cannot connect to the {side} database "
                f"({_first_line(error)})"
            ) from None
        try:
            connection.execute(SESSION)
            yield connection
        except psycopg.Error as error:
            raise DatabaseError(
                f"service '{self.service}': {side} database: {_first_line(error)}"
            ) from None
        finally:
            connection.close()

    def close(self) -> None:
        return None

    # prepare -----------------------------------------------------------------------------

    def inspect(self, schemas: Sequence[str]) -> Inspection:
        with self._connect("source") as source, self._connect("target") as target:
            chosen = list(schemas) or _schemas(source)
            logical, why = _logical_source(source)
            reverse, why_reverse = _can_subscribe(source, "source")
            target_logical, why_target = _logical_source(target)
            if reverse and not target_logical:
                reverse, why_reverse = False, f"the target cannot publish: {why_target}"
            installed = [
                row[0]
                for row in source.execute(
                    "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1"
                )
            ]
            available = {
                row[0] for row in target.execute("SELECT name FROM pg_available_extensions")
            }
            size = source.execute("SELECT pg_database_size(current_database())").fetchone()
            return Inspection(
                source_version=_version(source),
                target_version=_version(target),
                client_version=client_version(),
                logical_source=logical,
                why_not_logical=why,
                tables=tuple(_tables(source, chosen)),
                large_objects=_scalar(source, "SELECT count(*) FROM pg_largeobject_metadata"),
                extensions=tuple(installed),
                missing_extensions=tuple(e for e in installed if e not in available),
                sequences=_scalar(
                    source,
                    "SELECT count(*) FROM pg_sequences WHERE schemaname = ANY(%s)",
                    (chosen,),
                ),
                can_reverse=reverse,
                why_not_reverse=why_reverse,
                source_bytes=int(size[0]) if size else 0,
                dump_room=shutil.disk_usage(tempfile.gettempdir()).free,
            )

    def copy_schema(
        self, schemas: Sequence[str], sections: Sequence[str] = ("pre-data", "post-data")
    ) -> str:
        with self._connect("source") as source:
            chosen = list(schemas) or _schemas(source)
            wanted = _fingerprints(source, chosen)
        with self._connect("target") as target:
            present = _fingerprints(target, chosen)
        if present == wanted:
            return f"schema already on the target ({len(wanted)} tables)"
        if present:
            raise DatabaseError(
                f"service '{self.service}': the target database already holds "
                f"{len(present)} tables in {', '.join(chosen)} that are not the source's "
                f"(for example {sorted(present)[0]}): give an empty target database"
            )
        with tempfile.TemporaryDirectory(prefix="hdh-schema-") as folder:
            dump = Path(folder) / "schema.dump"
            names = [arg for schema in chosen for arg in ("--schema", schema)]
            self._run_client(
                ["pg_dump", *(f"--section={s}" for s in sections), "--no-owner",
                 "--no-privileges", "--no-publications", "--no-subscriptions", "-Fc", "-f",
                 str(dump), *names],
                self._source_params,
            )  # fmt: skip
            with self._connect("target") as target:
                existing = set(_schemas(target))
            listing = Path(folder) / "restore.list"
            listing.write_text(_without_schemas(self._list_dump(dump), existing))
            self._run_client(
                ["pg_restore", "--no-owner", "--no-privileges", "--single-transaction",
                 "--exit-on-error", "--use-list", str(listing), "--dbname",
                 self._target_params.get("dbname", ""), str(dump)],
                self._target_params,
            )  # fmt: skip
        return f"schema copied: {len(wanted)} tables in {', '.join(chosen)} (pg_dump | pg_restore)"

    def _list_dump(self, dump: Path) -> str:
        """The table of contents of a dump (pg_restore -l reads the file, connects nowhere)."""
        try:
            done = _client(["pg_restore", "--list", str(dump)], None, 600)
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DatabaseError(f"service '{self.service}': pg_restore --list: {error}") from None
        if done.returncode != 0:
            raise DatabaseError(
                f"service '{self.service}': pg_restore --list: {done.stderr[-300:]}"
            )
        return done.stdout

    def _run_client(self, command: list[str], params: dict[str, str]) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update({LIBPQ_ENV[k]: v for k, v in params.items()})
        try:
            done = _client(command, env, 3600)  # the password in its environment only
        except (OSError, subprocess.TimeoutExpired) as error:
            raise DatabaseError(f"service '{self.service}': {command[0]}: {error}") from None
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()][-3:]
            raise DatabaseError(
                f"service '{self.service}': {command[0]} failed (exit {done.returncode}): "
                + " / ".join(lines)
            )

    def schema_fingerprint(self, schemas: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
        with self._connect("source") as source, self._connect("target") as target:
            chosen = list(schemas) or _schemas(source)
            return _fingerprints(source, chosen), _fingerprints(target, chosen)

    # replication -------------------------------------------------------------------------

    def start_replication(self, tables: Sequence[TableInfo]) -> str:
        names = self._resources
        listed = sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in tables)
        with self._connect("source") as source:
            exists = source.execute(
                "SELECT 1 FROM pg_publication WHERE pubname = %s", (names.publication,)
            ).fetchone()
            verb = sql.SQL("ALTER PUBLICATION {} SET TABLE {}" if exists else
                           "CREATE PUBLICATION {} FOR TABLE {}")  # fmt: skip
            source.execute(verb.format(sql.Identifier(names.publication), listed))
        with self._connect("target") as target:
            if target.execute(OWN_SUBSCRIPTION, (names.subscription,)).fetchone():
                target.execute(
                    sql.SQL("ALTER SUBSCRIPTION {} REFRESH PUBLICATION").format(
                        sql.Identifier(names.subscription)
                    )
                )
                return f"replication resumed (subscription {names.subscription})"
            emptied = _empty_tables(target, tables)
            target.execute(
                sql.SQL(
                    "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} WITH (slot_name = {})"
                ).format(
                    sql.Identifier(names.subscription),
                    sql.Literal(make_conninfo(**self._source_params)),
                    sql.Identifier(names.publication),
                    sql.Identifier(names.slot),
                )
            )
        return (
            f"publication {names.publication} on the source, subscription "
            f"{names.subscription} (slot {names.slot}) on the target"
            + (
                f"; {emptied} target tables emptied first (a copy a rollback left)"
                if emptied
                else ""
            )
        )

    def copy_state(self) -> CopyState:
        with self._connect("target") as target:
            row = target.execute(
                "SELECT count(*) FILTER (WHERE r.srsubstate IN ('r', 's')), count(*), "
                "coalesce(sum(t.n_live_tup), 0) FROM pg_subscription_rel r "
                "JOIN pg_subscription s ON s.oid = r.srsubid "
                "LEFT JOIN pg_stat_user_tables t ON t.relid = r.srrelid WHERE s.subname = %s",
                (self._resources.subscription,),
            ).fetchone()
        ready, total, rows = row if row else (0, 0, 0)
        return CopyState(int(ready), int(total), int(rows))

    def lag(self) -> Lag:
        """Bytes of WAL the subscriber has not confirmed, and for how long it has been behind
        (the age of its last confirmation; 0 when nothing is behind)."""
        behind = self._lag("source", self._resources.slot)
        if behind.bytes == 0:
            return Lag(0, 0.0)
        with self._connect("target") as target:
            row = target.execute(
                "SELECT extract(epoch FROM now() - latest_end_time) FROM pg_stat_subscription "
                "WHERE subname = %s AND relid IS NULL AND subid IN (SELECT oid FROM "
                "pg_subscription WHERE subdbid = (SELECT oid FROM pg_database "
                "WHERE datname = current_database()))",
                (self._resources.subscription,),
            ).fetchone()
        return Lag(behind.bytes, float(row[0]) if row and row[0] is not None else None)

    def _lag(self, side: str, slot: str) -> Lag:
        with self._connect(side) as connection:
            row = connection.execute(
                "SELECT pg_current_wal_lsn() - confirmed_flush_lsn FROM pg_replication_slots "
                "WHERE slot_name = %s",
                (slot,),
            ).fetchone()
        if row is None or row[0] is None:
            raise DatabaseError(
                f"service '{self.service}': replication slot {slot} is missing on the {side}"
            )
        return Lag(max(0, int(row[0])), None)

    def wait_caught_up(
        self, timeout: float, stop: Callable[[], bool], reverse: bool = False
    ) -> Lag:
        publisher = "target" if reverse else "source"
        subscription = self._resources.reverse[1] if reverse else self._resources.subscription
        slot = subscription if reverse else self._resources.slot
        began = time.monotonic()
        with self._connect(publisher) as connection:
            # a message in the WAL: the walsender passes it, so the subscriber's flush position
            # moves past every commit made before it even when nothing else is written
            goal = connection.execute(
                "SELECT pg_logical_emit_message(false, 'hdh-migrate', 'sync')"
            ).fetchone()
            target_lsn = goal[0] if goal else None
            while True:
                row = connection.execute(
                    "SELECT confirmed_flush_lsn >= %s::pg_lsn, "
                    "pg_current_wal_lsn() - confirmed_flush_lsn "
                    "FROM pg_replication_slots WHERE slot_name = %s",
                    (str(target_lsn), slot),
                ).fetchone()
                if row is None:
                    raise DatabaseError(
                        f"service '{self.service}': replication slot {slot} is missing on the "
                        f"{publisher}"
                    )
                if row[0] and (reverse or self._all_ready()):
                    return Lag(max(0, int(row[1] or 0)), time.monotonic() - began)
                self._refuse_failing(subscription, "source" if reverse else "target")
                if stop() or time.monotonic() - began > timeout:
                    return Lag(max(0, int(row[1] or 0)), None)
                time.sleep(POLL_SECONDS)

    def _refuse_failing(self, subscription: str, side: str) -> None:
        """A subscription whose workers keep failing never catches up: say so at once (the
        server's log has the statement; a schema change is the usual cause)."""
        with self._connect(side) as connection:
            row = connection.execute(
                "SELECT apply_error_count + sync_error_count FROM pg_stat_subscription_stats "
                "WHERE subname = %s AND subid IN (SELECT oid FROM pg_subscription WHERE "
                "subdbid = (SELECT oid FROM pg_database WHERE datname = current_database()))",
                (subscription,),
            ).fetchone()
        if row is not None and row[0]:
            raise DatabaseError(
                f"service '{self.service}': subscription {subscription} on the {side} fails to "
                f"apply changes ({row[0]} errors; the {side} server's log says which): a schema "
                "change at the source (logical replication copies no DDL) or a conflicting row"
            )

    def _all_ready(self) -> bool:
        state = self.copy_state()
        return state.tables_total > 0 and state.tables_ready == state.tables_total

    # checks ------------------------------------------------------------------------------

    def compare(self, table: TableInfo, chunk_rows: int | None) -> TableCheck:
        """Both sides at once (one thread each), range by range of the source's keys (None:
        the whole table in one pass, a sequential scan); by the columns' own hashes where both
        servers can, else by the rows' text."""
        with (
            self._connect("source") as source,
            self._connect("target") as target,
            ThreadPoolExecutor(2, thread_name_prefix="compare") as pool,
        ):
            if self._same_major is None:
                self._same_major = _version(source) == _version(target)
            if self._same_major:
                try:
                    return _compare(source, target, pool, table, chunk_rows, _digest(source, table))
                except psycopg.errors.UndefinedFunction as error:
                    if "hash function" not in str(error):  # an array of a type without one
                        raise
            return _compare(source, target, pool, table, chunk_rows, sql.SQL(TEXT_DIGEST))

    def copy_sequences(self, schemas: Sequence[str], reverse: bool = False) -> int:
        """Forward: each target sequence set to the source's value. ``reverse`` (a rollback):
        each source sequence raised to the target's where the target's is higher, never
        lowered (the application may already draw from it again)."""
        sides = ("target", "source") if reverse else ("source", "target")
        with self._connect(sides[0]) as source, self._connect(sides[1]) as target:
            chosen = list(schemas) or _schemas(source)
            names = source.execute(
                "SELECT schemaname, sequencename FROM pg_sequences WHERE schemaname = ANY(%s) "
                "ORDER BY 1, 2",
                (chosen,),
            ).fetchall()
            for schema, name in names:
                value = source.execute(
                    sql.SQL("SELECT last_value, is_called FROM {}").format(
                        sql.Identifier(schema, name)
                    )
                ).fetchone()
                if value is None:
                    continue
                if reverse:
                    ident = sql.Identifier(schema, name)
                    here = target.execute(
                        sql.SQL("SELECT last_value, is_called FROM {}").format(ident)
                    ).fetchone()
                    if here is not None and (here[0], here[1]) >= (value[0], value[1]):
                        continue
                target.execute(
                    "SELECT setval(%s::regclass, %s, %s)",
                    (sql.Identifier(schema, name).as_string(target), value[0], value[1]),
                )
        return len(names)

    def reverse(self) -> str:
        names = self._resources
        publication, subscription = names.reverse
        with self._connect("target") as target:
            tables = (
                target.execute(
                    "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
                    (names.publication,),
                ).fetchall()
                or self._published_tables()
            )
            self._drop_subscription(target, names.subscription)
            if not target.execute(
                "SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,)
            ).fetchone():
                listed = sql.SQL(", ").join(sql.Identifier(s, t) for s, t in tables)
                target.execute(
                    sql.SQL("CREATE PUBLICATION {} FOR TABLE {}").format(
                        sql.Identifier(publication), listed
                    )
                )
        with self._connect("source") as source:
            source.execute(
                sql.SQL("DROP PUBLICATION IF EXISTS {}").format(sql.Identifier(names.publication))
            )
            if not source.execute(OWN_SUBSCRIPTION, (subscription,)).fetchone():
                source.execute(
                    sql.SQL(
                        "CREATE SUBSCRIPTION {} CONNECTION {} PUBLICATION {} "
                        "WITH (copy_data = false, slot_name = {})"
                    ).format(
                        sql.Identifier(subscription),
                        sql.Literal(make_conninfo(**self._target_params)),
                        sql.Identifier(publication),
                        sql.Identifier(subscription),
                    )
                )
        return (
            f"forward subscription {names.subscription} dropped; the source now follows the "
            f"target (publication {publication}, subscription {subscription})"
        )

    def _published_tables(self) -> list[tuple[str, str]]:
        with self._connect("source") as source:
            return [
                (str(s), str(t))
                for s, t in source.execute(
                    "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = %s",
                    (self._resources.publication,),
                )
            ]

    def _drop_subscription(self, connection: psycopg.Connection[Any], name: str) -> bool:
        if not connection.execute(OWN_SUBSCRIPTION, (name,)).fetchone():
            return False
        ident = sql.Identifier(name)
        connection.execute(sql.SQL("ALTER SUBSCRIPTION {} DISABLE").format(ident))
        try:
            connection.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))
        except psycopg.OperationalError:
            # the publisher is unreachable: detach the slot here, drop it there later
            connection.execute(
                sql.SQL("ALTER SUBSCRIPTION {} SET (slot_name = NONE)").format(ident)
            )
            connection.execute(sql.SQL("DROP SUBSCRIPTION {}").format(ident))
        return True

    def drop_all(self) -> list[str]:
        names = self._resources
        publication, subscription = names.reverse
        removed: list[str] = []
        with self._connect("target") as target:
            if self._drop_subscription(target, names.subscription):
                removed.append(f"subscription {names.subscription} (target)")
            removed += _drop_publication(target, publication, "target")
        with self._connect("source") as source:
            if self._drop_subscription(source, subscription):
                removed.append(f"subscription {subscription} (source)")
            removed += _drop_publication(source, names.publication, "source")
            removed += _drop_slots(source, [names.slot], "source")
        with self._connect("target") as target:
            removed += _drop_slots(target, [subscription], "target")
        return removed

    def dump_restore(self, schemas: Sequence[str], jobs: int) -> str:
        with self._connect("source") as source:
            chosen = list(schemas) or _schemas(source)
        with tempfile.TemporaryDirectory(prefix="hdh-dump-") as folder:
            dump = Path(folder) / "data"
            names = [arg for schema in chosen for arg in ("--schema", schema)]
            self._run_client(
                ["pg_dump", "--section=data", "--section=post-data", "--no-owner",
                 "--no-privileges", "--no-publications", "--no-subscriptions", "-Fd", "-j",
                 str(jobs), "--compress=0", "-f", str(dump), *names],
                self._source_params,
            )  # fmt: skip
            self._run_client(
                ["pg_restore", "--no-owner", "--no-privileges", "-j", str(jobs),
                 "--exit-on-error", "--dbname", self._target_params.get("dbname", ""), str(dump)],
                self._target_params,
            )  # fmt: skip
        return (
            f"rows copied by pg_dump -Fd -j {jobs} (uncompressed) | pg_restore -j {jobs}, then the "
            "indexes and "
            "constraints (post-data) built on them"
        )


SURVEY_CONNECT_SECONDS = "10"
"""How long ``survey`` waits for a server that does not answer (unless the URL says)."""


def survey(url: str, what: str) -> DatabaseSurvey:
    """One source database as ``migrate discover`` reports it: size, tables, extensions and
    whether it can publish, read in one session that cannot write (READ ONLY)."""
    params = {"connect_timeout": SURVEY_CONNECT_SECONDS, **check_url(url, what)}
    try:
        connection = psycopg.connect(make_conninfo(**params), autocommit=True)
    except psycopg.Error as error:
        raise DatabaseError(f"{what}: cannot connect ({_first_line(error)})") from None
    try:
        connection.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        logical, why = _logical_source(connection)
        size = _scalar(connection, "SELECT pg_database_size(current_database())")
        extensions = connection.execute(
            "SELECT extname FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1"
        ).fetchall()
        return DatabaseSurvey(
            server_version=_version(connection),
            size_bytes=size,
            tables=tuple(_tables(connection, _schemas(connection))),
            extensions=tuple(str(row[0]) for row in extensions),
            large_objects=_scalar(connection, "SELECT count(*) FROM pg_largeobject_metadata"),
            logical_source=logical,
            why_not_logical=why,
        )
    except psycopg.Error as error:
        raise DatabaseError(f"{what}: {_first_line(error)}") from None
    finally:
        connection.close()


def connect_pair(service: str, source_url: str, target_url: str) -> PostgresPair:
    return PostgresPair(service, source_url, target_url)


def client_path(name: str) -> str:
    """pg_dump or pg_restore of the newest PostgreSQL installed (Debian keeps each major
    version's client in /usr/lib/postgresql/N/bin), else the one on PATH."""
    found = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(path.split("/")[4]) if path.split("/")[4].isdigit() else 0,
    )
    path = found[-1] if found else shutil.which(name)
    if path is None:
        raise DatabaseError(f"{name} is not installed: install Debian's postgresql-client")
    return path


def _client(
    command: list[str], env: dict[str, str] | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL client by its full path, arguments built here (never a shell)."""
    program = [client_path(command[0]), *command[1:]]
    return subprocess.run(  # nosec B603 - a fixed program, no shell, arguments built here
        program, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


def client_version() -> int:
    try:
        done = _client(["pg_dump", "--version"], None, 30)
    except (OSError, DatabaseError, subprocess.TimeoutExpired):
        return 0
    match = re.search(r"(\d+)(?:\.\d+)?", done.stdout)
    return int(match.group(1)) if match else 0


def _version(connection: psycopg.Connection[Any]) -> int:
    return _scalar(connection, "SHOW server_version_num") // 10000


def _scalar(connection: psycopg.Connection[Any], query: str, params: Any = None) -> int:
    row = connection.execute(query, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _schemas(connection: psycopg.Connection[Any]) -> list[str]:
    return [
        str(row[0])
        for row in connection.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname !~ '^pg_' "
            "AND nspname <> 'information_schema' ORDER BY 1"
        )
    ]


def _logical_source(connection: psycopg.Connection[Any]) -> tuple[bool, str | None]:
    level = connection.execute("SHOW wal_level").fetchone()
    if level is None or level[0] != "logical":
        shown = level[0] if level else "unknown"
        return False, (
            f"wal_level is {shown}, not logical (set wal_level = logical and restart; on Azure "
            "Flexible Server: the server parameter azure.replication_support = logical)"
        )
    azure = connection.execute("SELECT current_setting('azure.replication_support', true)")
    support = azure.fetchone()
    if support and support[0] not in (None, "", "logical"):
        return False, f"azure.replication_support is {support[0]}, not logical"
    role = connection.execute(
        "SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user"
    ).fetchone()
    if not role or not role[0]:
        return (
            False,
            "the role may not replicate (ALTER ROLE ... REPLICATION; on Azure: azure_pg_admin)",
        )
    return True, None


def _can_subscribe(connection: psycopg.Connection[Any], side: str) -> tuple[bool, str | None]:
    if _scalar(connection, "SELECT rolsuper::int FROM pg_roles WHERE rolname = current_user"):
        return True, None
    member = connection.execute(
        "SELECT pg_has_role(current_user, 'pg_create_subscription', 'MEMBER') "
        "FROM pg_roles WHERE rolname = 'pg_create_subscription'"
    ).fetchone()
    if member and member[0]:
        return True, None
    return False, (
        f"the {side} role may not create a subscription (superuser, or pg_create_subscription "
        "from PostgreSQL 16)"
    )


TABLES = """
SELECT n.nspname, c.relname, c.relreplident, c.relpersistence = 'u',
       greatest(c.reltuples, 0)::bigint, pg_total_relation_size(c.oid),
       coalesce((SELECT array_agg(a.attname::text ORDER BY k.ord)
                 FROM pg_index i
                 CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
                 JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
                 WHERE i.indrelid = c.oid AND i.indisprimary), '{}')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND n.nspname = ANY(%s) ORDER BY 1, 2
"""


def _tables(connection: psycopg.Connection[Any], schemas: list[str]) -> Iterator[TableInfo]:
    for schema, name, identity, unlogged, rows, size, key in connection.execute(TABLES, (schemas,)):
        yield TableInfo(str(schema), str(name), tuple(key), str(identity), bool(unlogged),
                        int(rows), int(size))  # fmt: skip


def _fingerprints(connection: psycopg.Connection[Any], schemas: list[str]) -> dict[str, str]:
    """Table -> digest of its columns (name, type, nullability), in order."""
    rows = connection.execute(
        "SELECT n.nspname || '.' || c.relname, "
        "string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || "
        "CASE WHEN a.attnotnull THEN ' not null' ELSE '' END, ', ' ORDER BY a.attnum) "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
        "WHERE c.relkind = 'r' AND n.nspname = ANY(%s) GROUP BY 1 ORDER BY 1",
        (schemas,),
    ).fetchall()
    return {str(table): str(columns) for table, columns in rows}


def _key_sql(table: TableInfo) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(column) for column in table.key)


def _boundary(
    connection: psycopg.Connection[Any], table: TableInfo, low: tuple[Any, ...] | None, rows: int
) -> tuple[Any, ...] | None:
    """The key of the last row of the chunk after ``low`` (None: the chunk is the last)."""
    where, params = _after(table, low)
    query = sql.SQL("SELECT {key} FROM {table} {where} ORDER BY {key} OFFSET %s LIMIT 1").format(
        key=_key_sql(table), table=sql.Identifier(table.schema, table.name), where=where
    )
    row = connection.execute(query, [*params, rows - 1]).fetchone()
    return tuple(row) if row is not None else None


def _after(table: TableInfo, low: tuple[Any, ...] | None) -> tuple[sql.Composable, list[Any]]:
    if low is None:
        return sql.SQL(""), []
    marks = sql.SQL(", ").join(sql.Placeholder() for _ in low)
    return sql.SQL("WHERE ({}) > ({})").format(_key_sql(table), marks), list(low)


def _compare(
    source: psycopg.Connection[Any],
    target: psycopg.Connection[Any],
    pool: ThreadPoolExecutor,
    table: TableInfo,
    chunk_rows: int | None,
    digest: sql.Composable,
) -> TableCheck:
    if not table.key or chunk_rows is None:
        a, b = pool.map(lambda side: _whole_digest(side, table, digest), (source, target))
        return TableCheck(table.qualified, a[0], b[0], a[1], b[1])
    counts = [0, 0]
    digests = [hashlib.sha256(), hashlib.sha256()]
    low: tuple[Any, ...] | None = None
    while True:
        high = _boundary(source, table, low, chunk_rows)
        ranges = pool.map(
            lambda side: _range_digest(side, table, low, high, digest),  # noqa: B023
            (source, target),
        )
        for index, (rows, value) in enumerate(ranges):
            counts[index] += rows
            digests[index].update(value.encode())
        if high is None:
            break
        low = high
    return TableCheck(
        table.qualified, counts[0], counts[1], digests[0].hexdigest(), digests[1].hexdigest()
    )


def _digest(connection: psycopg.Connection[Any], table: TableInfo) -> sql.Composable:
    """The sum over the rows of the XOR of each column's hash (seeded by its position; a NULL
    hashes as its seed's own constant), as text. The source's catalog chooses each function."""
    procs: dict[int, tuple[str, str]] = {
        int(oid): (str(schema), str(name))
        for oid, schema, name in connection.execute(HASH_PROCS).fetchall()
    }
    pseudo = dict(connection.execute(
        "SELECT typname, oid FROM pg_type WHERE typname = ANY(%s) "
        "AND typnamespace = 'pg_catalog'::regnamespace", (list(POLYMORPHIC.values()),),
    ).fetchall())  # fmt: skip
    coercible: dict[int, list[int]] = {}
    for source_type, target_type in connection.execute(
        "SELECT castsource, casttarget FROM pg_cast WHERE castmethod = 'b'"
    ).fetchall():
        coercible.setdefault(int(source_type), []).append(int(target_type))
    terms: list[sql.Composable] = []
    columns = connection.execute(COLUMNS, (table.schema, table.name)).fetchall()
    for seed, (name, own, typtype, category, base) in enumerate(columns, start=1):
        shape = POLYMORPHIC.get(str(category)) or POLYMORPHIC.get(str(typtype))
        candidates = [int(own), int(base), *coercible.get(int(base), [])]
        if shape in pseudo:
            candidates.append(int(pseudo[shape]))
        found = next((procs[c] for c in candidates if c in procs), None)
        column = sql.Identifier(str(name))
        value = (
            sql.SQL("{}({}, {})").format(sql.Identifier(*found), column, seed)
            if found is not None
            else sql.SQL("hashtextextended({}::text, {})").format(column, seed)
        )
        terms.append(sql.SQL("coalesce({}, {})").format(value, -seed))
    row = sql.SQL(" # ").join(terms) if terms else sql.SQL("0")
    return sql.SQL("coalesce(sum({}), 0)::text").format(row)


def _range_digest(
    connection: psycopg.Connection[Any],
    table: TableInfo,
    low: tuple[Any, ...] | None,
    high: tuple[Any, ...] | None,
    digest: sql.Composable,
) -> tuple[int, str]:
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    marks = sql.SQL(", ").join(sql.Placeholder() for _ in table.key)
    if low is not None:
        conditions.append(sql.SQL("({}) > ({})").format(_key_sql(table), marks))
        params += list(low)
    if high is not None:
        conditions.append(sql.SQL("({}) <= ({})").format(_key_sql(table), marks))
        params += list(high)
    where = sql.SQL("WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL("SELECT count(*), {digest} FROM {table} AS t {where}").format(
        digest=digest, table=sql.Identifier(table.schema, table.name), where=where
    )
    row = connection.execute(query, params).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


def _whole_digest(
    connection: psycopg.Connection[Any], table: TableInfo, digest: sql.Composable
) -> tuple[int, str]:
    """A whole table in one pass: the sum is over its rows as a multiset (without a key,
    duplicates count), so equal sums mean the same rows whatever their order."""
    query = sql.SQL("SELECT count(*), {} FROM {} AS t").format(
        digest, sql.Identifier(table.schema, table.name)
    )
    row = connection.execute(query).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


def _empty_tables(connection: psycopg.Connection[Any], tables: Sequence[TableInfo]) -> int:
    """Before a new initial copy: the target's copy of the tables (left by a rollback; prepare
    allows only an empty target or the source's schema) is emptied, else rows would double."""
    full = [
        t
        for t in tables
        if connection.execute(
            sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(t.schema, t.name))
        ).fetchone()
        == (True,)
    ]
    if full:
        listed = sql.SQL(", ").join(sql.Identifier(t.schema, t.name) for t in full)
        connection.execute(sql.SQL("TRUNCATE {} CASCADE").format(listed))
    return len(full)


def _without_schemas(listing: str, existing: set[str]) -> str:
    """The dump's contents without the creation (and comment) of schemas the target already
    has (``public``, for one): CREATE SCHEMA would fail the single transaction."""
    kept = []
    for line in listing.splitlines():
        match = re.search(r"\d+ \d+ (?:SCHEMA|COMMENT) - (?:SCHEMA )?(\S+) ", line)
        if match and match.group(1) in existing:
            continue
        kept.append(line)
    return "\n".join(kept) + "\n"


def _drop_publication(connection: psycopg.Connection[Any], name: str, side: str) -> list[str]:
    if not connection.execute(
        "SELECT 1 FROM pg_publication WHERE pubname = %s", (name,)
    ).fetchone():
        return []
    connection.execute(sql.SQL("DROP PUBLICATION {}").format(sql.Identifier(name)))
    return [f"publication {name} ({side})"]


def _drop_slots(connection: psycopg.Connection[Any], names: list[str], side: str) -> list[str]:
    dropped = connection.execute(
        "SELECT slot_name, pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
        "WHERE slot_name = ANY(%s) AND NOT active AND database = current_database()",
        (names,),
    ).fetchall()
    return [f"replication slot {row[0]} ({side})" for row in dropped]
