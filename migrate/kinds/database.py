"""Database services (PostgreSQL): the schema copied at prepare, the rows by logical
replication online (or by pg_dump | pg_restore during the freeze with ``method: dump``), every
table checked on both sides (row count and a digest of the rows in key order), the freeze
measured against its budget, and after cutover the source kept current from the target so that
a rollback loses nothing.

prepare     connect to both sides; versions, wal_level, privileges, extensions, tables without
            key or replica identity, unlogged tables, large objects: refused with the fix; the
            method chosen (auto); the schema copied
replicate   publication and subscription (names recorded before they exist); the initial copy
verify      caught up, then every table compared (online: a table still changing is named)
freeze      caught up before the freeze hook stops the writers
sync        every change in, the sequences copied, every table equal, within max_downtime
cutover     the forward subscription dropped, the source subscribed to the target
validate    every table compared again, target against source
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

from migrate.audit import AuditEvent
from migrate.databases import (
    DatabaseConnector,
    DatabasePair,
    Inspection,
    Lag,
    TableCheck,
    TableInfo,
    dump_overrun,
)
from migrate.errors import MigrateError, StorageError
from migrate.executor.copy import Interrupted
from migrate.kinds.base import (
    DATA_STEPS,
    Action,
    KindRollback,
    KindSteps,
    ServiceKind,
    StepContext,
    StepFailed,
    StepResources,
)
from migrate.ledger import Ledger
from migrate.model import PlannedDatabase, PlannedService
from migrate.units import format_bytes

PairStep = Callable[[StepContext, PlannedDatabase, DatabasePair], str]
CHUNK_ROWS = 1_000_000
"""Rows per key range compared: a range is read as fast as a whole table (measured)."""
CATCH_UP_SECONDS = 300.0
ONLINE_ROUNDS = 3
DUMP_JOBS = 2


class DatabaseSteps:
    def __init__(self, resources: StepResources) -> None:
        self.ledger = resources.ledger
        self.connect = resources.databases
        self.stop = resources.mover.stop

    def actions(self) -> Mapping[str, Action]:
        steps: dict[str, PairStep] = {
            "prepare": self._prepare,
            "replicate": self._replicate,
            "verify": self._verify,
            "freeze": self._before_freeze,
            "sync": self._sync,
            "cutover": self._cutover,
            "validate": self._validate,
        }
        return {name: self._with_pair(step) for name, step in steps.items()}

    def _with_pair(self, step: PairStep) -> Action:
        """The step, given the service's settings and pair; a service of the old form (no
        ``database`` block) only runs its hooks. Database errors fail the step."""

        def run(ctx: StepContext) -> str:
            if ctx.service.database is None:
                return _NO_BLOCK
            settings, pair = self._pair(ctx)
            with _translated():
                return step(ctx, settings, pair)

        return run

    def freeze_blocker(self, ctx: StepContext) -> str | None:
        return None

    # helpers -----------------------------------------------------------------------------

    def _pair(self, ctx: StepContext) -> tuple[PlannedDatabase, DatabasePair]:
        settings = ctx.service.database
        if settings is None:
            raise StepFailed("no 'database' block (a bug: please report it)")
        if self.connect is None:
            raise StepFailed("no database connector in this run (a bug: please report it)")
        try:
            return settings, self.connect(ctx.name, settings)
        except MigrateError as error:  # a variable not set, a URL refused, no connection
            raise StepFailed(str(error)) from None

    def _progress(self, ctx: StepContext) -> dict[str, Any]:
        return dict(self.ledger.database_progress(ctx.name) or {})

    def _record(self, ctx: StepContext, **fields: Any) -> dict[str, Any]:
        progress = self._progress(ctx)
        progress.update(fields)
        self.ledger.set_database_progress(ctx.name, progress)
        return progress

    def _tables(self, pair: DatabasePair, settings: PlannedDatabase) -> tuple[TableInfo, ...]:
        return pair.inspect(settings.schemas).tables

    # steps -------------------------------------------------------------------------------

    def _prepare(self, ctx: StepContext, settings: PlannedDatabase, pair: DatabasePair) -> str:
        found = pair.inspect(settings.schemas)
        method = _method(ctx.max_downtime, settings, found)
        problems = _problems(found, method)
        if problems:
            raise StepFailed("; ".join(problems))
        # a dump restores the rows, then builds indexes and constraints on them (post-data):
        # its foreign keys cannot refuse rows restored in parallel
        sections = ("pre-data", "post-data") if method == "logical" else ("pre-data",)
        schema = pair.copy_schema(settings.schemas, sections)
        self._record(
            ctx,
            method=method,
            tables_total=len(found.tables),
            tables_ready=0,
            rows=0,
            sequences=found.sequences,
            source_bytes=found.source_bytes,
            can_reverse=found.can_reverse and method == "logical",
            resources=asdict(pair.resources),
        )
        reverse = (
            "after cutover the source follows the target (a rollback loses no write)"
            if found.can_reverse and method == "logical"
            else "WARNING: a rollback after cutover would lose the writes made at the target: "
            + (found.why_not_reverse or "the dump method keeps no replication")
        )
        return (
            f"PostgreSQL {found.source_version} -> {found.target_version} (client "
            f"{found.client_version}); method {method}; {len(found.tables)} tables, "
            f"{found.sequences} sequences, {format_bytes(found.source_bytes)}; {schema}; {reverse}"
        )

    def _replicate(self, ctx: StepContext, settings: PlannedDatabase, pair: DatabasePair) -> str:
        if self._progress(ctx).get("method") == "dump":
            return "method dump: the rows are copied during the write freeze (sync)"
        tables = self._tables(pair, settings)
        # the names go on record before they exist: a crash leaves nothing unnamed
        self.ledger.audit(
            [
                AuditEvent(
                    "database.replication",
                    ctx.name,
                    project=ctx.service.project,
                    detail={"service": ctx.name, **asdict(pair.resources)},
                )
            ]
        )
        started = pair.start_replication(tables)
        self._record(ctx, removed=[])
        began = time.monotonic()
        while True:
            state = pair.copy_state()
            self._record(ctx, tables_ready=state.tables_ready, rows=state.rows)
            if state.tables_total and state.tables_ready == state.tables_total:
                break
            if self.stop.is_set():
                raise Interrupted
            time.sleep(0.2)
        lag = pair.lag()
        self._record(ctx, lag_bytes=lag.bytes, lag_seconds=lag.seconds)
        return (
            f"{started}; initial copy of {state.tables_total} tables ({state.rows:,} rows) in "
            f"{time.monotonic() - began:.1f} s; lag {format_bytes(lag.bytes)}"
        )

    def _verify(self, ctx: StepContext, settings: PlannedDatabase, pair: DatabasePair) -> str:
        if self._progress(ctx).get("method") == "dump":
            return "method dump: the tables are compared after the copy, under the freeze (sync)"
        self._schema_unchanged(pair, settings)
        checks = self._compare_online(ctx, pair, settings, reverse=False)
        changing = [c.table for c in checks if not c.equal]
        rows = sum(c.target_rows for c in checks)
        if changing:
            return (
                f"{len(checks) - len(changing)} of {len(checks)} tables equal ({rows:,} rows); "
                f"still changing under the writers: {', '.join(changing)} (the sync step checks "
                "every table again once the writes are frozen)"
            )
        return f"every table equal on both sides: {len(checks)} tables, {rows:,} rows"

    def _before_freeze(
        self, ctx: StepContext, settings: PlannedDatabase, pair: DatabasePair
    ) -> str:
        if self._progress(ctx).get("method") == "dump":
            return "method dump: nothing to catch up before the freeze"
        self._schema_unchanged(pair, settings)
        lag = pair.wait_caught_up(CATCH_UP_SECONDS, self.stop.is_set)
        self._record(ctx, **_caught_up(lag))
        return f"caught up before the freeze (lag {format_bytes(lag.bytes)})"

    def _sync(self, ctx: StepContext, settings: PlannedDatabase, pair: DatabasePair) -> str:
        began = time.monotonic()
        method = self._progress(ctx).get("method")
        self._schema_unchanged(pair, settings)
        if method == "dump":
            copied = self._dump(ctx, settings, pair)
        else:
            budget = float(ctx.max_downtime or CATCH_UP_SECONDS)
            lag = pair.wait_caught_up(budget, self.stop.is_set)
            if lag.seconds is None:
                raise StepFailed(
                    f"the target did not catch up within {budget:.0f} s "
                    f"({format_bytes(lag.bytes)} behind): the writers may not be stopped"
                )
            copied = f"every change in ({lag.seconds:.1f} s)"
        sequences = pair.copy_sequences(settings.schemas)
        # frozen: one pass over each table, the fastest (no writer waits on a long snapshot)
        checks = [pair.compare(t, None) for t in self._tables(pair, settings)]
        self._record_checks(ctx, checks)
        different = [c for c in checks if not c.equal]
        if different:
            raise StepFailed(
                "under the freeze, tables still differ: "
                + "; ".join(_difference(c) for c in different)
            )
        rows = sum(c.target_rows for c in checks)
        return (
            f"{copied}; {sequences} sequences copied; every table equal ({len(checks)} tables, "
            f"{rows:,} rows); {time.monotonic() - began:.1f} s"
        )

    def _dump(self, ctx: StepContext, settings: PlannedDatabase, pair: DatabasePair) -> str:
        """The rows by pg_dump | pg_restore, timed: the rate a later plan can be given."""
        began = time.monotonic()
        copied = pair.dump_restore(settings.schemas, DUMP_JOBS)
        seconds = max(time.monotonic() - began, 0.001)
        size = int(self._progress(ctx).get("source_bytes") or 0)
        rate = int(size / seconds)
        total = int(self._progress(ctx).get("tables_total") or 0)
        self._record(ctx, dump_seconds=round(seconds, 3), dump_rate=rate, tables_ready=total)
        planned = (
            f"; the plan estimated {settings.dump_seconds_estimate} s"
            if settings.dump_seconds_estimate is not None
            else ""
        )
        return (
            f"{copied} in {seconds:.1f} s ({format_bytes(rate)}/s for "
            f"{format_bytes(size)}{planned}; database.dump_rate: {format_bytes(rate)}/s plans "
            "with this rate)"
        )

    def _cutover(self, ctx: StepContext, settings: PlannedDatabase, pair: DatabasePair) -> str:
        if not self._progress(ctx).get("can_reverse"):
            return "no reverse replication (see prepare): a rollback would lose target writes"
        done = pair.reverse()
        self._record(ctx, reversed=True, lag_bytes=0)
        return done

    def _validate(self, ctx: StepContext, settings: PlannedDatabase, pair: DatabasePair) -> str:
        if not self._progress(ctx).get("reversed"):  # no replication: one comparison
            checks = [pair.compare(t, CHUNK_ROWS) for t in self._tables(pair, settings)]
            self._record_checks(ctx, checks)
        else:
            checks = self._compare_online(ctx, pair, settings, reverse=True)
        different = [c for c in checks if not c.equal]
        if different:
            raise StepFailed(
                "the target differs from the source: "
                + "; ".join(_difference(c) for c in different)
            )
        return (
            f"every table equal: {len(checks)} tables, {sum(c.target_rows for c in checks):,} rows"
        )

    # checks ------------------------------------------------------------------------------

    def _schema_unchanged(self, pair: DatabasePair, settings: PlannedDatabase) -> None:
        source, target = pair.schema_fingerprint(settings.schemas)
        changed = sorted(t for t in set(source) | set(target) if source.get(t) != target.get(t))
        if changed:
            shown = "; ".join(
                f"{t}: source ({source.get(t, 'absent')}), target ({target.get(t, 'absent')})"
                for t in changed[:5]
            )
            raise StepFailed(
                f"the schema changed during replication (logical replication copies no DDL): "
                f"{shown}. Apply the same change to the target, then `migrate apply` again"
            )

    def _compare_online(
        self, ctx: StepContext, pair: DatabasePair, settings: PlannedDatabase, reverse: bool
    ) -> list[TableCheck]:
        """Caught up, then every table; those that differ are taken again after the next
        catch-up (writers may still be writing)."""
        result = compare_in_rounds(
            pair,
            self._tables(pair, settings),
            reverse=reverse,
            stop=self.stop.is_set,
            on_lag=lambda lag: self._record(ctx, **_caught_up(lag)),
        )
        self._record_checks(ctx, result)
        return result

    def _record_checks(self, ctx: StepContext, checks: list[TableCheck]) -> None:
        """Evidence, as for object stores: the last verification, and an audit event."""
        equal = sum(1 for c in checks if c.equal)
        self._record(ctx, rows=sum(c.target_rows for c in checks), tables_equal=equal)
        differences = [
            {"key": c.table, "problem": _difference(c), "cause": "rows"}
            for c in checks
            if not c.equal
        ]
        summary = {
            "service": ctx.name,
            "level": "rows",
            "checked": len(checks),
            "against": "source",
            "purpose": ctx.step,
            "rows": sum(c.target_rows for c in checks),
            "differences": differences,
        }
        self.ledger.record_verification(
            ctx.name, "rows", len(checks), len(differences), json.dumps(summary)
        )
        self.ledger.audit(
            [
                AuditEvent(
                    "verify",
                    ctx.name,
                    "differences" if differences else "ok",
                    project=ctx.service.project,
                    detail={
                        "level": "rows",
                        "against": "source",
                        "purpose": ctx.step,
                        "checked": len(checks),
                        "differences": len(differences),
                    },
                )
            ]
        )


class DatabaseRollback:
    """Around the rollback hook. After cutover the source has followed the target: before the
    hook it is brought up to date and its sequences raised to the target's; after it (clients
    are back at the source), once more, then every subscription, publication and slot is
    removed. Before cutover only the forward replication is removed: the source was never
    written by the tool."""

    def __init__(self, ledger: Ledger, connect: DatabaseConnector | None) -> None:
        self.ledger = ledger
        self.connect = connect

    def _pair(self, name: str, service: PlannedService) -> DatabasePair | None:
        if service.database is None or self.ledger.database_progress(name) is None:
            return None  # nothing was replicated
        if self.connect is None:
            raise StepFailed("no database connector in this run (a bug: please report it)")
        try:
            return self.connect(name, service.database)
        except MigrateError as error:
            raise StepFailed(str(error)) from None

    def before(self, name: str, service: PlannedService) -> str:
        pair = self._pair(name, service)
        progress = self.ledger.database_progress(name) or {}
        if pair is None or not progress.get("reversed"):
            return ""
        with _translated():
            return self._catch_up(pair, service, "before the rollback hook")

    def after(self, name: str, service: PlannedService) -> str:
        pair = self._pair(name, service)
        if pair is None:
            return ""
        progress = dict(self.ledger.database_progress(name) or {})
        with _translated():
            caught = (
                self._catch_up(pair, service, "after it") + "; " if progress.get("reversed") else ""
            )
            removed = self._remove(pair, name, service, progress, tables_ready=0)
        return caught + removed

    def retire(self, name: str, service: PlannedService) -> str:
        """Before the decommission hook: where the source follows the target, every table is
        compared once more (a difference refuses); then the replication is removed, so that
        no slot outlives the source (it would keep WAL on the target until its disk fills)."""
        pair = self._pair(name, service)
        if pair is None or service.database is None:
            return ""
        progress = dict(self.ledger.database_progress(name) or {})
        with _translated():
            if progress.get("reversed"):
                tables = pair.inspect(service.database.schemas).tables
                checks = compare_in_rounds(pair, tables, reverse=True, stop=lambda: False)
                different = [c for c in checks if not c.equal]
                if different:
                    raise StepFailed(
                        "the source differs from the target: "
                        + "; ".join(_difference(c) for c in different)
                    )
                checked = (
                    f"every table equal on both sides ({len(checks)} tables, "
                    f"{sum(c.target_rows for c in checks):,} rows)"
                )
            else:
                checked = (
                    "not compared: the source has not followed the target since cutover "
                    "(no reverse replication), validate compared them then"
                )
            removed = self._remove(pair, name, service, progress)
        return f"{checked}; {removed}"

    def _remove(
        self,
        pair: DatabasePair,
        name: str,
        service: PlannedService,
        progress: dict[str, Any],
        **changes: Any,
    ) -> str:
        """Every subscription, publication and slot of the service, on both sides: removed,
        recorded in its progress and audited."""
        removed = pair.drop_all()
        progress.update(reversed=False, lag_bytes=None, removed=removed, **changes)
        self.ledger.set_database_progress(name, progress)
        self.ledger.audit(
            [
                AuditEvent(
                    "database.replication.removed",
                    name,
                    project=service.project,
                    detail={"service": name, "removed": removed},
                )
            ]
        )
        return "removed: " + ", ".join(removed) if removed else "no replication left"

    def _catch_up(self, pair: DatabasePair, service: PlannedService, when: str) -> str:
        schemas = service.database.schemas if service.database else []
        lag = pair.wait_caught_up(CATCH_UP_SECONDS, lambda: False, reverse=True)
        if lag.seconds is None:
            raise StepFailed(
                f"the source did not catch up with the target within {CATCH_UP_SECONDS:.0f} s "
                f"({format_bytes(lag.bytes)} behind): writes made at the target would be lost; "
                "stop the writers at the target, then roll back again"
            )
        raised = pair.copy_sequences(schemas, reverse=True)
        return f"source caught up with the target {when} ({raised} sequences checked)"


def compare_in_rounds(
    pair: DatabasePair,
    tables: Sequence[TableInfo],
    *,
    reverse: bool,
    stop: Callable[[], bool],
    on_lag: Callable[[Lag], object] = lambda lag: None,
) -> list[TableCheck]:
    """Caught up, then every table by key ranges; those that differ are taken again after
    the next catch-up (writers may still be writing), up to ``ONLINE_ROUNDS`` times."""
    by_name = {t.qualified: t for t in tables}
    checks: dict[str, TableCheck] = {}
    todo = list(by_name)
    for _ in range(ONLINE_ROUNDS):
        on_lag(pair.wait_caught_up(CATCH_UP_SECONDS, stop, reverse=reverse))
        for name in todo:
            checks[name] = pair.compare(by_name[name], CHUNK_ROWS)
        todo = [name for name in todo if not checks[name].equal]
        if not todo or stop():
            break
    return [checks[name] for name in sorted(checks)]


def _build_rollback(ledger: Ledger, connect: DatabaseConnector | None) -> KindRollback:
    return DatabaseRollback(ledger, connect)


_NO_BLOCK = "no 'database' block: hooks only, no row moved"


@contextmanager
def _translated() -> Iterator[None]:
    """Database errors of the adapter become the step's failure, with their message."""
    try:
        yield
    except StorageError as error:
        raise StepFailed(str(error)) from None


def rehearse_database(
    service: PlannedService, pair: DatabasePair
) -> tuple[Inspection, str | None, list[str]]:
    """For a dry run: what prepare would find (read-only), the method it would take (None:
    refused) and what it would refuse."""
    settings = service.database
    if settings is None:
        raise ValueError("not a database service with a 'database' block")
    found = pair.inspect(settings.schemas)
    try:
        method: str | None = _method(service.max_downtime_seconds, settings, found)
    except StepFailed as refused:
        return found, None, [str(refused)]
    return found, method, _problems(found, method or "logical")


def _method(budget: int | None, settings: PlannedDatabase, found: Inspection) -> str:
    if settings.method == "logical" and not found.logical_source:
        raise StepFailed(f"method logical: the source cannot replicate: {found.why_not_logical}")
    if settings.method != "auto":
        return settings.method
    if found.logical_source:
        return "logical"
    late = dump_overrun(found.source_bytes, settings.dump_rate, budget)
    if budget is not None and late is None:
        return "dump"
    raise StepFailed(
        f"method auto: the source cannot replicate ({found.why_not_logical}), and {late}"
        if late is not None
        else f"method auto: the source cannot replicate ({found.why_not_logical}); set "
        "max_downtime to allow a dump during the freeze, or method: dump"
    )


def _problems(found: Inspection, method: str) -> list[str]:
    """What would silently break, each with its fix."""
    problems = []
    if found.client_version < found.source_version:
        problems.append(
            f"pg_dump {found.client_version} is older than the source server "
            f"({found.source_version}): install Debian's postgresql-client-{found.source_version}"
        )
    if found.missing_extensions:
        problems.append(
            "extensions the target cannot install: " + ", ".join(found.missing_extensions)
        )
    if method == "dump" and found.dump_room is not None and found.dump_room < found.source_bytes:
        problems.append(
            f"the dump is written uncompressed to the temporary folder (about "
            f"{format_bytes(found.source_bytes)}), which has {format_bytes(found.dump_room)} "
            "free: set TMPDIR to a folder with room"
        )
    if found.large_objects and method == "logical":
        problems.append(
            f"{found.large_objects} large objects (pg_largeobject) are not replicated: store "
            "them as bytea, or use method: dump"
        )
    if method == "logical":
        unlogged = [t.qualified for t in found.tables if t.unlogged]
        if unlogged:
            problems.append(
                "unlogged tables are not replicated: "
                + ", ".join(unlogged)
                + " (ALTER TABLE ... SET LOGGED)"
            )
        keyless = [t.qualified for t in found.tables if not t.replicates_changes]
        if keyless:
            problems.append(
                "tables without a primary key or replica identity (their UPDATE and DELETE "
                "would fail at the source once published): "
                + ", ".join(keyless)
                + " (add a primary key, or ALTER TABLE ... REPLICA IDENTITY FULL)"
            )
    return problems


def _difference(check: TableCheck) -> str:
    if check.source_rows != check.target_rows:
        return (
            f"{check.table}: {check.source_rows:,} rows at the source, "
            f"{check.target_rows:,} at the target"
        )
    return f"{check.table}: same {check.source_rows:,} rows, different contents"


def _caught_up(lag: Lag) -> dict[str, Any]:
    """What a catch-up leaves on record: the lag it ended at (no age when it timed out)."""
    return {"lag_bytes": lag.bytes, "lag_seconds": 0.0 if lag.seconds is not None else None}


def _build(resources: StepResources) -> KindSteps:
    return DatabaseSteps(resources)


KIND = ServiceKind(
    names=("database",),
    steps=DATA_STEPS,
    needs_data=False,
    takes_database=True,
    build=_build,
    build_rollback=_build_rollback,
    freeze_ends="cutover",
    redo_from="replicate",
    copy_steps=("replicate",),
    description="PostgreSQL: schema, logical replication, tables checked, reverse after cutover",
)
