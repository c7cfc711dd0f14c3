"""Objects: listings into the ledger, claims, results, counts, and the multipart uploads in
flight. The row-level SQL lives in ``state.objects``."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import and_, delete, select, update

from migrate.audit import AuditEvent
from migrate.ledger import (
    CopiedObject,
    CopyResult,
    KnownObject,
    ListingCounts,
    ObjectCounts,
    ObjectTask,
)
from migrate.ports import ObjectInfo
from state import audit as audit_rows
from state import objects as object_rows
from state.clock import now_iso
from state.database import Database, touched
from state.schema import (
    objects,
    services,
    uploads,
)


class ObjectRecords(Database):
    def reset_interrupted(self, names: Sequence[str]) -> int:
        """Rows left 'copying' by a run that died go back to pending (we hold the lock)."""
        with self.tx() as c:
            result = c.execute(
                update(objects)
                .where(and_(objects.c.service.in_(list(names)), objects.c.status == "copying"))
                .values(status="pending", updated_at=now_iso())
            )
            return int(result.rowcount or 0)

    def retry_failed(self, names: Sequence[str]) -> int:
        with self.tx() as c:
            result = c.execute(
                update(objects)
                .where(and_(objects.c.service.in_(list(names)), objects.c.status == "failed"))
                .values(status="pending", updated_at=now_iso())
            )
            c.execute(
                update(services)
                .where(and_(services.c.name.in_(list(names)), services.c.state == "failed"))
                .values(state="pending", error=None, updated_at=now_iso())
            )
            return int(result.rowcount or 0)

    def begin_listing(self, service: str) -> int:
        with self.tx() as c:
            empty = (
                c.execute(select(objects.c.id).where(objects.c.service == service).limit(1)).first()
                is None
            )
            row = c.execute(select(services).where(services.c.name == service)).one()
            if row.listing_marker is not None and not row.listing_complete:
                generation = int(row.listing_generation)  # resume the interrupted pass
            else:
                generation = int(row.listing_generation) + 1
                touched(
                    c.execute(
                        update(services)
                        .where(services.c.name == service)
                        .values(
                            listing_generation=generation,
                            listing_complete=False,
                            listing_marker=None,
                            updated_at=now_iso(),
                        )
                    ),
                    "service",
                )
        self._mark_fresh(service, generation, empty)
        return generation

    def _mark_fresh(self, service: str, generation: int, empty: bool) -> None:
        """A listing into an empty ledger needs no lookup of what it already knows."""
        if empty:
            self._fresh_listing[service] = generation
        else:
            self._fresh_listing.pop(service, None)

    def ingest_listing(
        self, service: str, generation: int, listed: Sequence[ObjectInfo], next_marker: str | None
    ) -> ListingCounts:
        with self.tx() as c:
            fresh = self._fresh_listing.get(service) == generation
            counts = object_rows.ingest(c, service, generation, listed, fresh=fresh)
            touched(
                c.execute(
                    update(services)
                    .where(services.c.name == service)
                    .values(listing_marker=next_marker, updated_at=now_iso())
                ),
                "service",
            )
            return counts

    def finish_listing(self, service: str) -> None:
        with self.tx() as c:
            touched(
                c.execute(
                    update(services)
                    .where(services.c.name == service)
                    .values(listing_complete=True, listing_marker=None, updated_at=now_iso())
                ),
                "service",
            )

    def fail_objects(self, service: str, failures: Sequence[tuple[str, str]]) -> None:
        if failures:
            with self.tx() as c:
                object_rows.fail_keys(c, service, failures)

    def requeue_for_repair(self, service: str, repairs: Sequence[tuple[str, str]]) -> int:
        """Copied objects the target lost or altered go back to pending (their source
        version as recorded), each with why; returns how many rows were requeued."""
        if not repairs:
            return 0
        stamp = now_iso()
        requeued = 0
        with self.tx() as c:
            for key, reason in repairs:
                result = c.execute(
                    update(objects)
                    .where(
                        and_(
                            objects.c.service == service,
                            objects.c.key == key,
                            objects.c.status.in_(("done", "failed")),
                        )
                    )
                    .values(status="pending", last_error=reason, updated_at=stamp)
                )
                requeued += int(result.rowcount or 0)
        return requeued

    def claim(self, service: str, limit: int, generation: int | None = None) -> list[ObjectTask]:
        with self.tx() as c:
            return object_rows.claim(c, service, limit, generation)

    def record_results(
        self, results: Sequence[CopyResult], events: Sequence[AuditEvent] = ()
    ) -> None:
        """Results and their audit events in one transaction: both or neither."""
        if results:
            with self.tx() as c:
                object_rows.record(c, results)
                audit_rows.append(c, events, *self._actor, self._audit_key)

    def counts(self, service: str) -> ObjectCounts:
        with self.tx() as c:
            return object_rows.counts(c, service)

    def known(self, service: str, keys: Sequence[str]) -> dict[str, KnownObject]:
        with self.tx() as c:
            rows = c.execute(
                select(
                    objects.c.key, objects.c.source_etag, objects.c.size, objects.c.status
                ).where(and_(objects.c.service == service, objects.c.key.in_(list(keys))))
            ).all()
        return {r.key: KnownObject(r.source_etag, int(r.size), r.status) for r in rows}

    def done_count(self, service: str) -> tuple[int, int]:
        counts = self.counts(service)
        return counts.done, counts.bytes_done

    def copied_after(self, service: str, after: str | None, limit: int) -> list[CopiedObject]:
        with self.tx() as c:
            return object_rows.copied_after(c, service, after, limit)

    def copied_slice(self, service: str, offset: int, limit: int) -> list[CopiedObject]:
        with self.tx() as c:
            return object_rows.copied_slice(c, service, offset, limit)

    def copied_keys(self, service: str, keys: Sequence[str]) -> dict[str, CopiedObject]:
        with self.tx() as c:
            return object_rows.copied_keys(c, service, keys)

    def copied_count(self, service: str) -> int:
        return self.counts(service).done

    def not_copied(self, service: str, limit: int) -> list[tuple[str, str, str | None]]:
        with self.tx() as c:
            return object_rows.not_copied(c, service, limit)

    def pending_bytes(self, service: str) -> tuple[int, int]:
        with self.tx() as c:
            return object_rows.pending_bytes(c, service)

    def retire_unlisted(self, service: str, generation: int) -> list[str]:
        with self.tx() as c:
            return object_rows.retire_unlisted(c, service, generation)

    def mark_deleted(self, service: str, keys: Sequence[str]) -> None:
        if keys:
            with self.tx() as c:
                object_rows.mark_deleted(c, service, keys)

    def proof_counts(self, service: str) -> dict[str, int]:
        with self.tx() as c:
            return object_rows.proof_counts(c, service)

    def record_upload(self, service: str, key: str, upload_id: str, part_size: int) -> None:
        with self.tx() as c:
            c.execute(
                delete(uploads).where(and_(uploads.c.service == service, uploads.c.key == key))
            )
            c.execute(
                uploads.insert().values(
                    service=service,
                    key=key,
                    upload_id=upload_id,
                    part_size=part_size,
                    started_at=now_iso(),
                )
            )

    def upload_of(self, service: str, key: str) -> tuple[str, int] | None:
        with self.tx() as c:
            row = c.execute(
                select(uploads.c.upload_id, uploads.c.part_size).where(
                    and_(uploads.c.service == service, uploads.c.key == key)
                )
            ).first()
            return (row.upload_id, int(row.part_size)) if row else None

    def forget_upload(self, service: str, key: str) -> None:
        with self.tx() as c:
            c.execute(
                delete(uploads).where(and_(uploads.c.service == service, uploads.c.key == key))
            )

    def unlisted_copied(self, service: str, generation: int) -> int:
        """How many copied objects the complete listing ``generation`` did not see: what the
        sync would delete at the target (read only)."""
        with self.tx() as c:
            return object_rows.unlisted_copied(c, service, generation)
