"""Open the ledger: SQLite tuned for durability (WAL, synchronous=FULL, BEGIN IMMEDIATE), or
any other SQLAlchemy URL (PostgreSQL) with the same schema."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError, SQLAlchemyError

from migrate.errors import RefusedForSafety, StateError
from state.schema import SCHEMA_VERSION, UPGRADES, meta, metadata

BUSY_TIMEOUT_MS = 30_000


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for another database or an in-memory one."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StateError(f"state URL {url!r} is not a valid SQLAlchemy URL") from None
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


def create(url: str, *, readonly: bool = False) -> Engine:
    """An engine on ``url`` with the schema created (writers) and its version checked."""
    path = sqlite_path(url)
    if path is not None:
        if readonly and not path.exists():
            raise StateError(f"no state database at {path}: nothing has been applied yet")
        _prepare_folder(path)
        if not path.exists():
            path.touch(mode=0o600)
    try:
        engine = create_engine(url, future=True)
    except (ArgumentError, ImportError, SQLAlchemyError) as exc:
        raise StateError(f"cannot open the state database {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _on_connect)
        event.listen(engine, "begin", _begin_deferred if readonly else _begin_immediate)
    try:
        _check_schema(engine, create_missing=not readonly)
    except OperationalError as exc:
        raise StateError(f"cannot use the state database {url!r}: {exc.orig}") from None
    if path is not None:
        os.chmod(path, 0o600)
    return engine


def _check_schema(engine: Engine, *, create_missing: bool) -> None:
    if create_missing:
        metadata.create_all(engine)
    with engine.begin() as connection:
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


def _upgrade(engine: Engine, version: int) -> None:
    """Bring an older ledger to this version in one transaction: added columns only."""
    with engine.begin() as connection:
        for step in range(version, SCHEMA_VERSION):
            for statement in UPGRADES[step]:
                connection.execute(text(statement))
        connection.execute(
            update(meta).where(meta.c.key == "schema_version").values(value=str(SCHEMA_VERSION))
        )
