"""The ledger's tables (SQLAlchemy Core). Times are ISO-8601 UTC strings: portable and sortable.

SCHEMA_VERSION is checked at start; a database written by an older version is upgraded in
place by the statements of UPGRADES (columns added, nothing rewritten), one written by a newer
version is refused with a clear message rather than misread.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 10
UPGRADES: dict[int, tuple[str, ...]] = {
    # 9 -> 10: claims of one listing pass (copies run while it lists) read the pass's
    # pending rows from an index, not past every older pending row
    9: (
        "CREATE INDEX IF NOT EXISTS ix_objects_service_generation "
        "ON objects (service, status, generation, id)",
    ),
    # 8 -> 9: a database service's replication (tables, rows, lag, the names of what it
    # created on both servers, so that any later run can remove them)
    8: ("ALTER TABLE services ADD COLUMN database_progress TEXT",),
    # 7 -> 8: the inventory each plan was applied with, so that verify, rollback and
    # decommission work from what was applied after the inventory file was edited
    7: ("ALTER TABLE plans ADD COLUMN inventory_text TEXT",),
    # 6 -> 7: the hooks in flight (process group, its start time), so that a later run waits
    # for a hook a crashed run left behind rather than starting it again beside it
    6: (
        "CREATE TABLE IF NOT EXISTS hook_processes (service VARCHAR(63) NOT NULL, "
        "step VARCHAR(24) NOT NULL, run_id VARCHAR(36) NOT NULL, host VARCHAR(255) NOT NULL, "
        "pid INTEGER NOT NULL, pid_start VARCHAR(32), started_at VARCHAR(32) NOT NULL, "
        "PRIMARY KEY (service, step))",
    ),
    # 5 -> 6: when a sync last stopped before a mass deletion (only an approval given after
    # that counts for it)
    5: ("ALTER TABLE services ADD COLUMN deletes_held_at VARCHAR(32)",),
    # 4 -> 5: the route each service was applied with (platform, container, prefix, bucket);
    # rows of version 4 keep NULL until an apply with the same container and bucket adopts it
    4: ("ALTER TABLE services ADD COLUMN route TEXT",),
    # 3 -> 4: what the write check saw (last-modified to the second, encryption), so that the
    # verify step can tell from the listing that an object has not changed since
    3: (
        "ALTER TABLE objects ADD COLUMN target_modified VARCHAR(32)",
        "ALTER TABLE objects ADD COLUMN target_sse VARCHAR(16)",
        "DROP INDEX ix_objects_service_status",
        "CREATE INDEX ix_objects_service_status ON objects (service, status, id, size)",
    ),
}

metadata = MetaData()

meta = Table(
    "migrate_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("plan_sha256", String(64), nullable=False, unique=True),
    Column("inventory_sha256", String(64), nullable=False),
    Column("inventory", Text, nullable=False),
    Column("waves", Integer, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("body", Text, nullable=False),
    Column("inventory_text", Text),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("plan_id", Integer, ForeignKey("plans.id"), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("ended_at", String(32)),
    Column("status", String(16), nullable=False),
    Column("dry_run", Boolean, nullable=False, default=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("operator", String(255), nullable=False),
    Column("options", Text, nullable=False, default="{}"),
    Column("summary", Text),
)

lock = Table(
    "lock",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("pid_start", String(32)),
    Column("operator", String(255), nullable=False),
    Column("started_at", String(32), nullable=False),
    Column("heartbeat_at", String(32), nullable=False),
)

hook_processes = Table(
    "hook_processes",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("step", String(24), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),  # the hook's process group leader (and group id)
    Column("pid_start", String(32)),  # its start time: a reused pid is not the hook
    Column("started_at", String(32), nullable=False),
)

services = Table(
    "services",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("wave", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("project", String(63)),
    Column("bucket", String(63)),
    Column("container", String(63)),
    Column("state", String(24), nullable=False, default="pending"),
    Column("step", String(24)),
    Column("error", Text),
    Column("listing_marker", Text),
    Column("listing_generation", Integer, nullable=False, default=0),
    Column("listing_complete", Boolean, nullable=False, default=False),
    Column("throughput", Float),
    Column("freeze_started_at", String(32)),
    Column("freeze_seconds", Float),
    Column("freeze_budget_seconds", Integer),
    Column("cutover_at", String(32)),
    Column("rolled_back_at", String(32)),
    Column("decommissioned_at", String(32)),
    Column("verify_cursor", Integer, nullable=False, default=0),
    Column("updated_at", String(32), nullable=False),
    Column("route", Text),  # JSON: what the service's rows are bound to (Plan.route_of)
    Column("deletes_held_at", String(32)),  # a sync stopped before deleting more than allowed
    Column("database_progress", Text),  # JSON: a database service's replication
)

steps = Table(
    "steps",
    metadata,
    Column("service", String(63), ForeignKey("services.name"), primary_key=True),
    Column("step", String(24), primary_key=True),
    Column("status", String(24), nullable=False),
    Column("run_id", String(36)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("started_at", String(32)),
    Column("ended_at", String(32)),
    Column("detail", Text),
)

approvals = Table(
    "approvals",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("step", String(24), primary_key=True),
    Column("operator", String(255), nullable=False),
    Column("approved_at", String(32), nullable=False),
)

objects = Table(
    "objects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(63), nullable=False),
    Column("key", Text, nullable=False),
    Column("norm_key", Text, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("source_etag", String(128)),
    Column("source_md5", String(32)),
    Column("last_modified", String(32)),
    Column("tier", String(16)),
    Column("attrs", Text, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("status", String(12), nullable=False, default="pending"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("retries", Integer, nullable=False, default=0),
    Column("last_error", Text),
    Column("sha256", String(64)),
    Column("md5", String(32)),
    Column("target_etag", String(128)),
    Column("target_version", String(255)),
    Column("proof", String(24)),
    Column("target_modified", String(32)),  # the write check's Last-Modified, to the second
    Column("target_sse", String(16)),  # the encryption the write check saw
    Column("updated_at", String(32), nullable=False),
    UniqueConstraint("service", "key", name="uq_objects_service_key"),
    # covers status counts (size) and serves claims in id order without sorting the pending
    # rows (version 3 had (service, status, size): every claim sorted them all)
    Index("ix_objects_service_status", "service", "status", "id", "size"),
    Index("ix_objects_service_generation", "service", "status", "generation", "id"),
    Index("ix_objects_status_updated", "status", "updated_at"),  # recent throughput
    Index("ix_objects_service_norm", "service", "norm_key"),
)

uploads = Table(
    "uploads",
    metadata,
    Column("service", String(63), primary_key=True),
    Column("key", Text, primary_key=True),
    Column("upload_id", Text, nullable=False),
    Column("part_size", BigInteger, nullable=False),
    Column("started_at", String(32), nullable=False),
)

verifications = Table(
    "verifications",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("service", String(63), nullable=False),
    Column("level", String(16), nullable=False),
    Column("checked", Integer, nullable=False),
    Column("differences", Integer, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("summary", Text, nullable=False),
)

evidence = Table(
    "evidence",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("wave", Integer, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("recorded_at", String(32), nullable=False),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("at", String(32), nullable=False),
    Column("operator", String(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("project", String(63)),
    Column("action", String(64), nullable=False),
    Column("subject", Text, nullable=False),
    Column("result", String(32), nullable=False),
    Column("request_ids", Text, nullable=False),
    Column("detail", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Column("hmac", String(64)),
)

probes = Table(
    "probes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("endpoint", Text, nullable=False),
    Column("preset", String(32), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("contradicts_preset", Boolean, nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("summary", Text, nullable=False),
)

rehearsals = Table(
    "rehearsals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(36), ForeignKey("runs.id"), nullable=False),
    Column("recorded_at", String(32), nullable=False),
    Column("summary", Text, nullable=False),
)
