"""Open the ledger: SQLite tuned for durability (WAL, synchronous=FULL, BEGIN IMMEDIATE), or
any other SQLAlchemy URL (PostgreSQL) with the same schema."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, SQLAlchemyError

from migrate.errors import InvalidInput, NothingApplied, RefusedForSafety, StateError
from migrate.redact import redact
from state.schema import SCHEMA_VERSION, UPGRADES, audit_events, meta, metadata

BUSY_TIMEOUT_MS = 30_000
PSEUDO_FILESYSTEMS = (Path("/proc"), Path("/sys"))  # a device in /dev: not a regular file


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for another database or an in-memory one."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput(f"state URL {redact(url)!r} is not a valid SQLAlchemy URL") from None
    if not parsed.drivername.startswith("sqlite"):
        return None
    if not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _prepare_folder(path: Path) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.exists():
        folder.mkdir(parents=True, mode=0o700)
    mode = folder.stat().st_mode
    if mode & stat.S_IWOTH and not mode & stat.S_ISVTX:
        raise RefusedForSafety(
            f"state folder {folder} is world-writable: anyone could replace the ledger; "
            "use a private folder (chmod 700)"
        )


def _on_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (below)
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _begin_immediate(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _begin_deferred(connection: Any) -> None:
    connection.exec_driver_sql("BEGIN")


def shown(url: str) -> str:
    """The URL as it may be printed: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return redact(url)


def ledger_missing(path: Path) -> bool:
    """True when no ledger exists at ``path`` yet; a path that could never hold one is bad
    input (exit 2), missing or not."""
    absolute = path.resolve()
    for pseudo in PSEUDO_FILESYSTEMS:
        if absolute == pseudo or pseudo in absolute.parents:
            raise InvalidInput(
                f"state path {path} is in {pseudo}, a kernel pseudo-filesystem: give a path "
                "on a real disk (default .migrate/state.db)"
            )
    try:
        if path.exists() and not path.is_file():
            raise InvalidInput(f"state path {path} is not a regular file: give the ledger's path")
        return not path.exists()
    except OSError as exc:
        raise InvalidInput(f"state path {path} cannot be used ({exc.strerror})") from None


def _sqlite_file(path: Path, *, readonly: bool) -> None:
    """Refuse a ledger path that cannot hold one (bad input: exit 2); create the file."""
    ledger_missing(path)
    try:
        if readonly and not path.exists():
            raise StateError(f"no state database at {path}: nothing has been applied yet")
        if path.exists():
            return
        _prepare_folder(path)
        path.touch(mode=0o600)
    except OSError as exc:
        raise InvalidInput(
            f"cannot open or create the state database at {path} ({exc.strerror}): give a "
            "path in a folder you can write to"
        ) from None


def create(url: str, *, readonly: bool = False) -> Engine:
    """An engine on ``url`` with the schema created (writers) and its version checked."""
    path = sqlite_path(url)
    if path is not None:
        _sqlite_file(path, readonly=readonly)
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise InvalidInput(f"cannot open the state database {shown(url)}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _begin_deferred if readonly else _begin_immediate)
    try:
        _check_schema(engine, create_missing=not readonly)
    except DatabaseError as exc:
        engine.dispose()
        if _not_a_database(exc):
            raise InvalidInput(
                f"state path {path} is not a SQLite database ({exc.orig}): give the ledger's "
                "path (default .migrate/state.db)"
            ) from None
        raise StateError(f"cannot use the state database {shown(url)}: {exc.orig}") from None
    if path is not None:
        try:
            os.chmod(path, 0o600)
        except OSError as exc:
            raise StateError(f"cannot make {path} private ({exc.strerror})") from None
    return engine


def _not_a_database(exc: DatabaseError) -> bool:
    name = getattr(exc.orig, "sqlite_errorname", "")
    return name == "SQLITE_NOTADB" or "file is not a database" in str(exc.orig)


def _check_schema(engine: Engine, *, create_missing: bool) -> None:
    _refuse_foreign_or_damaged(engine, create_missing=create_missing)
    with engine.begin() as connection:
        if create_missing:
            # in the transaction that writes the version: a reader (status, the dashboard)
            # sees no ledger yet or a whole one, never tables without their version
            metadata.create_all(connection)
        version = connection.execute(
            select(meta.c.value).where(meta.c.key == "schema_version")
        ).scalar()
        if version is None and create_missing:
            connection.execute(
                meta.insert().values(key="schema_version", value=str(SCHEMA_VERSION))
            )
            return
    if version is None:
        raise StateError("the state database has no schema version: it was not written by migrate")
    upgradable = all(v in UPGRADES for v in range(int(version), SCHEMA_VERSION))
    if int(version) < SCHEMA_VERSION and upgradable and not create_missing:
        raise StateError(
            f"the state database has schema version {version}, this tool reads version "
            f"{SCHEMA_VERSION}: run `migrate apply` once to upgrade it (read-only commands "
            "leave it as it is)"
        )
    if int(version) < SCHEMA_VERSION and upgradable:
        _upgrade(engine, int(version))
    elif int(version) != SCHEMA_VERSION:
        raise StateError(
            f"the state database has schema version {version}, this tool reads version "
            f"{SCHEMA_VERSION}: use the matching hdh-migrate version"
        )


def _refuse_foreign_or_damaged(engine: Engine, *, create_missing: bool) -> None:
    """A database that holds tables but no ledger is someone else's: never add ours to it
    (exit 2). A ledger whose audit log was dropped is not written to again: a new, empty log
    in its place would hide what was lost (exit 1; read-only commands still work)."""
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
    if not tables and not create_missing:
        raise NothingApplied(
            f"the state database {engine.url.database} holds no ledger yet: nothing has "
            "been applied (the first apply may be creating it)"
        )
    if not tables:
        return
    if meta.name not in tables and engine.dialect.name == "sqlite":  # PostgreSQL: shared
        raise InvalidInput(
            f"the state database {engine.url.database} holds tables but no hdh-migrate "
            "ledger (no migrate_meta table): give the ledger's path"
        )
    if create_missing and audit_events.name not in tables:
        raise StateError(
            "the ledger has no audit_events table: the audit log was dropped outside "
            "hdh-migrate, and nothing more is written to this ledger; restore it from a "
            "backup (`migrate audit verify` says what its heads still record)"
        )


def _upgrade(engine: Engine, version: int) -> None:
    """Bring an older ledger to this version in one transaction: added columns only."""
    with engine.begin() as connection:
        for step in range(version, SCHEMA_VERSION):
            for statement in UPGRADES[step]:
                connection.execute(text(statement))
        connection.execute(
            update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
        )
