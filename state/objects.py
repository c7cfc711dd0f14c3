"""Object rows: listing ingestion (batched, upserts), claims, results, counts."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Select, and_, bindparam, case, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from migrate.ledger import CopiedObject, CopyResult, ListingCounts, ObjectCounts, ObjectTask
from migrate.ports import ObjectAttributes, ObjectInfo
from state.clock import now_iso
from state.schema import objects


def normalise_key(key: str) -> str:
    """The key as a path-normalising S3 stack would store it (``a//b`` and ``a/./b`` -> ``a/b``).
    Such names are refused by name before any read (``migrate.objectrules.key_problem``), so
    no two written keys share a normalised form; the column stays for reports."""
    parts: list[str] = []
    for segment in key.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts:
                parts.pop()
            continue
        parts.append(segment)
    return "/".join(parts)


def _attrs_json(attributes: ObjectAttributes) -> str:
    """Hot path of listing ingestion: most objects share their headers, so the JSON is cached
    by value (and built by hand: dataclasses.asdict deep-copies)."""
    return _attrs_json_cached(
        attributes.cache_control,
        attributes.content_disposition,
        attributes.content_encoding,
        attributes.content_language,
        attributes.content_type,
        tuple(sorted(attributes.metadata.items())),
    )


@functools.lru_cache(maxsize=4096)
def _attrs_json_cached(
    cache_control: str | None,
    content_disposition: str | None,
    content_encoding: str | None,
    content_language: str | None,
    content_type: str | None,
    metadata: tuple[tuple[str, str], ...],
) -> str:
    return json.dumps(
        {
            "cache_control": cache_control,
            "content_disposition": content_disposition,
            "content_encoding": content_encoding,
            "content_language": content_language,
            "content_type": content_type,
            "metadata": dict(metadata),
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _attrs(text: str) -> ObjectAttributes:
    return ObjectAttributes(**json.loads(text))


def _insert(connection: Connection) -> Any:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        return postgresql.insert(objects)
    return sqlite.insert(objects)


def ingest(
    connection: Connection,
    service: str,
    generation: int,
    listed: Sequence[ObjectInfo],
    *,
    fresh: bool = False,
) -> ListingCounts:
    """Upsert one listing page: new rows pending; changed rows back to pending; all stamped
    with the listing generation (so that a full pass tells what disappeared)."""
    if not listed:
        return ListingCounts()
    stamp = now_iso()
    known: dict[str, tuple[str | None, int]] = {}
    if not fresh:
        keys = [o.key for o in listed]
        known = {
            row.key: (row.source_etag, row.size)
            for row in connection.execute(
                select(objects.c.key, objects.c.source_etag, objects.c.size).where(
                    and_(objects.c.service == service, objects.c.key.in_(keys))
                )
            )
        }
    rows = [
        {
            "service": service,
            "key": o.key,
            "norm_key": normalise_key(o.key),
            "size": o.size,
            "source_etag": o.etag,
            "source_md5": o.md5,
            "last_modified": o.last_modified.isoformat() if o.last_modified else None,
            "tier": o.tier,
            "attrs": _attrs_json(o.attributes),
            "generation": generation,
            "status": "pending",
            "attempts": 0,
            "retries": 0,
            "updated_at": stamp,
        }
        for o in listed
    ]
    new = sum(1 for o in listed if o.key not in known)
    changed = sum(1 for o in listed if o.key in known and known[o.key] != (o.etag, o.size))
    statement = _insert(connection)
    if fresh:  # nothing known yet: plain inserts (a duplicate key would be a listing bug)
        connection.execute(statement.on_conflict_do_nothing(), rows)
        return ListingCounts(new=len(listed))
    excluded = statement.excluded
    changed_expr = (objects.c.source_etag.is_distinct_from(excluded.source_etag)) | (
        objects.c.size != excluded.size
    )
    statement = statement.on_conflict_do_update(
        index_elements=["service", "key"],
        set_={
            "generation": excluded.generation,
            "status": case(
                (changed_expr | (objects.c.status == "changed"), "pending"),
                else_=objects.c.status,
            ),
            "attempts": case((changed_expr, 0), else_=objects.c.attempts),
            "size": excluded.size,
            "source_etag": excluded.source_etag,
            "source_md5": excluded.source_md5,
            "last_modified": excluded.last_modified,
            "tier": excluded.tier,
            "attrs": excluded.attrs,
            "updated_at": case((changed_expr, excluded.updated_at), else_=objects.c.updated_at),
        },
    )
    connection.execute(statement, rows)
    return ListingCounts(new=new, changed=changed, unchanged=len(listed) - new - changed)


def claimable(service: str, limit: int, generation: int | None = None) -> Select[Any]:
    """The next pending rows in listing order: the (service, status, id, size) index serves
    them in order, so a claim costs the same on a million-row ledger as on an empty one.
    With ``generation``, only rows that listing pass has already listed (while it runs)."""
    where = and_(objects.c.service == service, objects.c.status == "pending")
    if generation is not None:
        where = and_(where, objects.c.generation == generation)
    return (
        select(
            objects.c.id,
            objects.c.key,
            objects.c.size,
            objects.c.source_etag,
            objects.c.source_md5,
            objects.c.attrs,
            objects.c.attempts,
            objects.c.tier,
            objects.c.last_modified,
        )
        .where(where)
        .order_by(objects.c.id)
        .limit(limit)
    )


def claim(
    connection: Connection, service: str, limit: int, generation: int | None = None
) -> list[ObjectTask]:
    rows = connection.execute(claimable(service, limit, generation)).all()
    if not rows:
        return []
    connection.execute(
        update(objects)
        .where(objects.c.id.in_([r.id for r in rows]))
        .values(status="copying", updated_at=now_iso())
    )
    return [
        ObjectTask(
            id=r.id,
            service=service,
            key=r.key,
            size=r.size,
            etag=r.source_etag,
            md5=r.source_md5,
            attributes=_attrs(r.attrs),
            attempts=r.attempts,
            tier=r.tier,
            last_modified=r.last_modified,
        )
        for r in rows
    ]


def record(connection: Connection, results: Sequence[CopyResult]) -> None:
    """One executemany per kind of result (done, or not), not one statement per object."""
    stamp = now_iso()
    done = [_outcome(r, stamp) | _checked(r) for r in results if r.status == "done"]
    other = [_outcome(r, stamp) for r in results if r.status != "done"]
    if done:
        connection.execute(_RECORD_DONE, done)
    if other:
        connection.execute(_RECORD_OTHER, other)


def _outcome(r: CopyResult, stamp: str) -> dict[str, Any]:
    """The parameters of _RECORD_OTHER: what every result records."""
    return {
        "row": r.id,
        "new_status": r.status,
        "new_attempts": r.attempts,
        "more_retries": r.retries,
        "error": r.error,
        "stamp": stamp,
    }


def _checked(r: CopyResult) -> dict[str, Any]:
    """What a done copy adds: the hashes read and what its write check saw."""
    return {
        "new_sha256": r.sha256,
        "new_md5": r.md5,
        "etag": r.target_etag,
        "version": r.target_version,
        "new_proof": r.proof,
        "modified": r.target_modified,
        "sse": r.target_sse,
    }


_RECORD_OTHER = (
    update(objects)
    .where(objects.c.id == bindparam("row"))
    .values(
        status=bindparam("new_status"),
        attempts=bindparam("new_attempts"),
        retries=objects.c.retries + bindparam("more_retries"),
        last_error=bindparam("error"),
        updated_at=bindparam("stamp"),
    )
)
_RECORD_DONE = _RECORD_OTHER.values(
    sha256=bindparam("new_sha256"),
    md5=bindparam("new_md5"),
    target_etag=bindparam("etag"),
    target_version=bindparam("version"),
    proof=bindparam("new_proof"),
    target_modified=bindparam("modified"),
    target_sse=bindparam("sse"),
)


def fail_keys(connection: Connection, service: str, failures: Sequence[tuple[str, str]]) -> None:
    stamp = now_iso()
    for key, reason in failures:
        connection.execute(
            update(objects)
            .where(and_(objects.c.service == service, objects.c.key == key))
            .values(status="failed", last_error=reason, updated_at=stamp)
        )


def counts(connection: Connection, service: str) -> ObjectCounts:
    rows = connection.execute(
        select(objects.c.status, func.count(), func.coalesce(func.sum(objects.c.size), 0))
        .where(and_(objects.c.service == service, objects.c.status != "deleted"))
        .group_by(objects.c.status)
    ).all()
    by_status = {status: (int(n), int(size)) for status, n, size in rows}
    total = sum(n for n, _ in by_status.values())
    return ObjectCounts(
        total=total,
        done=by_status.get("done", (0, 0))[0],
        failed=by_status.get("failed", (0, 0))[0],
        pending=total - by_status.get("done", (0, 0))[0] - by_status.get("failed", (0, 0))[0],
        changed=by_status.get("changed", (0, 0))[0],
        bytes_total=sum(size for _, size in by_status.values()),
        bytes_done=by_status.get("done", (0, 0))[1],
    )


_COPIED_COLUMNS = (
    objects.c.id,
    objects.c.key,
    objects.c.size,
    objects.c.sha256,
    objects.c.source_md5,
    objects.c.target_etag,
    objects.c.proof,
    objects.c.target_modified,
    objects.c.target_sse,
)


def _copied(rows: Any) -> list[CopiedObject]:
    return [
        CopiedObject(
            r.id,
            r.key,
            int(r.size),
            r.sha256,
            r.source_md5,
            r.target_etag,
            r.proof,
            r.target_modified,
            r.target_sse,
        )
        for r in rows
    ]


def copied_after(
    connection: Connection, service: str, after: str | None, limit: int
) -> list[CopiedObject]:
    """Done rows in byte order of key (SQLite compares TEXT as UTF-8 bytes, like S3 lists)."""
    key: Any = objects.c.key
    if connection.dialect.name == "postgresql":
        key = key.collate("C")  # byte order, as S3 lists, whatever the database's locale
    query = select(*_COPIED_COLUMNS).where(
        and_(objects.c.service == service, objects.c.status == "done")
    )
    if after is not None:
        query = query.where(key > after)
    return _copied(connection.execute(query.order_by(key).limit(limit)))


def copied_keys(
    connection: Connection, service: str, keys: Sequence[str]
) -> dict[str, CopiedObject]:
    """The done rows of these keys (the ones not done are absent)."""
    query = select(*_COPIED_COLUMNS).where(
        and_(
            objects.c.service == service,
            objects.c.status == "done",
            objects.c.key.in_(list(keys)),
        )
    )
    return {row.key: row for row in _copied(connection.execute(query))}


def copied_slice(
    connection: Connection, service: str, offset: int, limit: int
) -> list[CopiedObject]:
    query = (
        select(*_COPIED_COLUMNS)
        .where(and_(objects.c.service == service, objects.c.status == "done"))
        .order_by(objects.c.id)
        .offset(offset)
        .limit(limit)
    )
    return _copied(connection.execute(query))


def not_copied(
    connection: Connection, service: str, limit: int
) -> list[tuple[str, str, str | None]]:
    rows = connection.execute(
        select(objects.c.key, objects.c.status, objects.c.last_error)
        .where(
            and_(
                objects.c.service == service,
                objects.c.status.in_(["pending", "copying", "failed", "changed"]),
            )
        )
        .order_by(objects.c.key)
        .limit(limit)
    ).all()
    return [(r.key, r.status, r.last_error) for r in rows]


def pending_bytes(connection: Connection, service: str) -> tuple[int, int]:
    row = connection.execute(
        select(func.count(), func.coalesce(func.sum(objects.c.size), 0)).where(
            and_(objects.c.service == service, objects.c.status.in_(["pending", "copying"]))
        )
    ).one()
    return int(row[0]), int(row[1])


def unlisted_copied(connection: Connection, service: str, generation: int) -> int:
    found = connection.execute(
        select(func.count()).where(
            and_(
                objects.c.service == service,
                objects.c.generation < generation,
                objects.c.status == "done",
            )
        )
    ).scalar()
    return int(found or 0)


def retire_unlisted(connection: Connection, service: str, generation: int) -> list[str]:
    unlisted = and_(objects.c.service == service, objects.c.generation < generation)
    connection.execute(
        update(objects)
        .where(and_(unlisted, objects.c.status.in_(["pending", "copying", "failed", "changed"])))
        .values(
            status="deleted",
            last_error="deleted at the source before it was copied",
            updated_at=now_iso(),
        )
    )
    return list(
        connection.execute(
            select(objects.c.key)
            .where(and_(unlisted, objects.c.status == "done"))
            .order_by(objects.c.key)
        ).scalars()
    )


def mark_deleted(connection: Connection, service: str, keys: Sequence[str]) -> None:
    stamp = now_iso()
    for key in keys:
        connection.execute(
            update(objects)
            .where(and_(objects.c.service == service, objects.c.key == key))
            .values(
                status="deleted",
                last_error="deleted at the source; deleted on the target",
                updated_at=stamp,
            )
        )


def proof_counts(connection: Connection, service: str) -> dict[str, int]:
    rows = connection.execute(
        select(objects.c.proof, func.count())
        .where(and_(objects.c.service == service, objects.c.status == "done"))
        .group_by(objects.c.proof)
    ).all()
    return {str(proof): int(n) for proof, n in rows}
