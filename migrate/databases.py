"""The port of database services: what the `database` kind asks of a pair of databases (the
source and the target of one service), whatever the engine. The adapter (adapters/postgres.py
for PostgreSQL) holds every SQL statement and every call to pg_dump and pg_restore; the kind
decides what to do and when."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from migrate.model import PlannedDatabase
from migrate.units import format_bytes, format_duration

DUMP_RATE = 12 * 1024**2
"""Bytes per second a dump and restore is assumed to reach until a rehearsal measured it: a
low figure, below both the tool's dump method (50 MiB/s) and a plain `pg_dump -Fc | pg_restore`
(15 to 19 MiB/s) of 1 GiB on a 2-core machine (docs/benchmarks.md); an estimate too high would
promise a freeze shorter than it is."""


def dump_seconds(size: int, rate: int | None) -> float:
    """The time a dump and restore of ``size`` bytes takes at ``rate`` (None: ``DUMP_RATE``)."""
    return size / (rate or DUMP_RATE)


def dump_overrun(size: int | None, rate: int | None, budget: int | None) -> str | None:
    """Why a dump of ``size`` bytes cannot fit a freeze of ``budget`` seconds (None: it fits,
    or a figure is unknown)."""
    if size is None or budget is None:
        return None
    seconds = dump_seconds(size, rate)
    if seconds <= budget:
        return None
    how = (
        f"at the {format_bytes(rate)}/s measured in a rehearsal"
        if rate
        else f"at {format_bytes(DUMP_RATE)}/s, assumed until a rehearsal measures it"
    )
    return (
        f"a dump and restore of {format_bytes(size)} takes about {format_duration(seconds)} "
        f"({how}), over its max_downtime of {format_duration(budget)}"
    )


@dataclass(frozen=True)
class TableInfo:
    schema: str
    name: str
    key: tuple[str, ...]
    """The primary key's columns (empty: none)."""
    replica_identity: str
    """d (default: the key), f (full), i (an index), n (nothing)."""
    unlogged: bool = False
    estimated_rows: int = 0
    bytes: int = 0

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def replicates_changes(self) -> bool:
        """UPDATE and DELETE reach the target: the table has a key or REPLICA IDENTITY FULL."""
        return self.replica_identity == "f" or (self.replica_identity in "di" and bool(self.key))


@dataclass(frozen=True)
class Inspection:
    """What prepare finds on both sides."""

    source_version: int
    target_version: int
    client_version: int
    """The major version of the pg_dump and pg_restore that would be used."""
    logical_source: bool
    """wal_level is logical and the role may replicate."""
    why_not_logical: str | None
    tables: tuple[TableInfo, ...]
    large_objects: int
    extensions: tuple[str, ...]
    """Extensions installed in the source database (plpgsql aside)."""
    missing_extensions: tuple[str, ...]
    """Those the target server cannot install."""
    sequences: int
    can_reverse: bool
    """The source may subscribe to the target (a rollback after cutover then loses nothing)."""
    why_not_reverse: str | None = None
    source_bytes: int = 0
    dump_room: int | None = None
    """Free bytes where a dump would be written (None: unknown)."""


@dataclass(frozen=True)
class DatabaseSurvey:
    """What ``migrate discover`` reads of one source database, in a read-only session."""

    server_version: int
    size_bytes: int
    """``pg_database_size``."""
    tables: tuple[TableInfo, ...]
    """Every table of every schema that is not the system's."""
    extensions: tuple[str, ...]
    """Installed extensions (plpgsql aside)."""
    large_objects: int
    logical_source: bool
    why_not_logical: str | None = None

    @property
    def without_identity(self) -> tuple[TableInfo, ...]:
        """Tables whose UPDATE and DELETE logical replication cannot carry."""
        return tuple(table for table in self.tables if not table.replicates_changes)


@dataclass(frozen=True)
class Lag:
    bytes: int
    seconds: float | None
    """``lag()``: how long the subscriber has been behind; ``wait_caught_up()``: how long the
    wait took (None: it timed out)."""


@dataclass(frozen=True)
class TableCheck:
    table: str
    source_rows: int
    target_rows: int
    source_digest: str
    target_digest: str

    @property
    def equal(self) -> bool:
        return self.source_rows == self.target_rows and self.source_digest == self.target_digest


@dataclass(frozen=True)
class CopyState:
    """The initial copy of a subscription: tables whose rows are all there."""

    tables_ready: int
    tables_total: int
    rows: int


@dataclass(frozen=True)
class Resources:
    """What replication created, by name: recorded so that any later run can remove it."""

    publication: str
    subscription: str
    slot: str
    reverse: tuple[str, ...] = field(default_factory=tuple)


class DatabasePair(Protocol):
    """One service's source and target databases."""

    @property
    def resources(self) -> Resources: ...

    def inspect(self, schemas: Sequence[str]) -> Inspection: ...

    def copy_schema(
        self, schemas: Sequence[str], sections: Sequence[str] = ("pre-data", "post-data")
    ) -> str:
        """The definitions (pg_dump's sections: pre-data, the tables; post-data, the indexes
        and constraints) restored in one transaction; nothing when the target already has the
        source's tables. Returns what it did."""
        ...

    def schema_fingerprint(self, schemas: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
        """Each side's tables and their columns: a schema change shows as a difference."""
        ...

    def start_replication(self, tables: Sequence[TableInfo]) -> str:
        """Publication on the source, subscription on the target (idempotent)."""
        ...

    def copy_state(self) -> CopyState: ...

    def lag(self) -> Lag: ...

    def wait_caught_up(
        self, timeout: float, stop: Callable[[], bool], reverse: bool = False
    ) -> Lag:
        """Until the subscriber (the target; the source with ``reverse``) has every change
        the publisher committed before the call; ``seconds`` is None when it timed out."""
        ...

    def compare(self, table: TableInfo, chunk_rows: int | None) -> TableCheck:
        """Row counts and a digest of the rows, on both sides: by ranges of ``chunk_rows`` keys
        (short queries, no snapshot held long while writers write), or with None in one pass
        over each table (the fastest, for a database whose writes are frozen)."""
        ...

    def copy_sequences(self, schemas: Sequence[str], reverse: bool = False) -> int:
        """Set each target sequence to the source's value (logical replication does not);
        ``reverse``: raise the source's to the target's (a rollback after cutover)."""
        ...

    def reverse(self) -> str:
        """After the final sync: stop the forward subscription and make the source subscribe
        to the target (no initial copy), so that a rollback loses no write made since."""
        ...

    def drop_all(self) -> list[str]:
        """Remove every subscription, publication and slot named in ``resources``, on both
        sides; returns what was removed."""
        ...

    def dump_restore(self, schemas: Sequence[str], jobs: int) -> str:
        """The rows by pg_dump -Fd -j N and pg_restore -j N (the `dump` method)."""
        ...

    def close(self) -> None: ...


DatabaseConnector = Callable[[str, PlannedDatabase], DatabasePair]
"""Service name and its database settings -> the pair (URLs read from the environment)."""
