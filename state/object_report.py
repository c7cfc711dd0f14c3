"""The object report's reads: the ledger's object rows one page at a time, in (service, key)
order, by keyset (``key > the last key read``) on the ``(service, key)`` unique index, so a
page costs the same at the end of a million-row service as at its start and nothing is
sorted. Read only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, select

from migrate.readmodel import ObjectReportRow
from state.database import Database
from state.schema import objects, services

_COLUMNS = (
    objects.c.service,
    objects.c.key,
    objects.c.size,
    objects.c.status,
    objects.c.proof,
    objects.c.sha256,
    objects.c.md5,
    objects.c.source_md5,
    objects.c.source_etag,
    objects.c.target_etag,
    objects.c.target_version,
    objects.c.target_sse,
    objects.c.last_modified,
    objects.c.target_modified,
    objects.c.updated_at,
    objects.c.attempts,
    objects.c.retries,
    objects.c.last_error,
)


def page_query(service: str, after: str | None, limit: int) -> Any:
    """The next ``limit`` rows of ``service`` after the key ``after`` (None: from its first),
    in the index's key order (SQLite: the bytes of UTF-8, as S3 lists them; PostgreSQL: the
    database's collation, which its index keeps)."""
    where = objects.c.service == service
    if after is not None:
        where = and_(where, objects.c.key > after)
    return select(*_COLUMNS).where(where).order_by(objects.c.key).limit(limit)


def _row(r: Any) -> ObjectReportRow:
    return ObjectReportRow(
        service=r.service,
        key=r.key,
        size=int(r.size),
        status=r.status,
        proof=r.proof,
        sha256=r.sha256,
        md5=r.md5,
        source_md5=r.source_md5,
        source_etag=r.source_etag,
        target_etag=r.target_etag,
        target_version=r.target_version,
        target_encryption=r.target_sse,
        source_last_modified=r.last_modified,
        target_last_modified=r.target_modified,
        updated_at=r.updated_at,
        attempts=int(r.attempts),
        retries=int(r.retries),
        last_error=r.last_error,
    )


def _next_service(connection: Connection, after: str | None) -> str | None:
    query = select(objects.c.service)
    if after is not None:
        query = query.where(objects.c.service > after)
    return connection.execute(query.order_by(objects.c.service).limit(1)).scalar()


class ObjectReportRecords(Database):
    def service_names(self) -> list[str]:
        """Every service the ledger has a row for, by name."""
        with self.tx() as connection:
            return list(
                connection.execute(select(services.c.name).order_by(services.c.name)).scalars()
            )

    def next_object_service(self, after: str | None) -> str | None:
        """The first service after ``after`` (None: the first) that has object rows."""
        with self.tx() as connection:
            return _next_service(connection, after)

    def object_page(self, service: str, after: str | None, limit: int) -> list[ObjectReportRow]:
        """The next ``limit`` object rows of ``service`` after the key ``after``."""
        with self.tx() as connection:
            return [_row(r) for r in connection.execute(page_query(service, after, limit))]
