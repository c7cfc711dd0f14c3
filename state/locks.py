"""The apply lock: one run at a time, its holder and heartbeat."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, delete, select, update
from sqlalchemy.exc import IntegrityError

from migrate.errors import StateLocked
from migrate.ledger import (
    LockInfo,
)
from state.clock import now_iso
from state.database import Database
from state.schema import (
    lock,
)

LOCK_NAME = "apply"


class LockRecords(Database):
    def acquire_lock(self, info: LockInfo, *, holder_alive: Any) -> LockInfo | None:
        """Take the lock; StateLocked if a live run holds it. Returns a dead holder it replaced.

        ``holder_alive(LockInfo) -> bool | None`` says whether the holder still runs (None when
        that cannot be known, e.g. another host).
        """
        with self.tx() as c:
            current = self._lock_row(c)
            replaced = None
            if current is not None:
                alive = holder_alive(current)
                if alive is not False:
                    raise StateLocked(_locked_message(current, alive))
                c.execute(delete(lock).where(lock.c.name == LOCK_NAME))
                replaced = current
            try:
                c.execute(lock.insert().values(name=LOCK_NAME, **_lock_values(info)))
            except IntegrityError:
                raise StateLocked("another run took the state lock at the same moment") from None
            return replaced

    def heartbeat(self, run_id: str) -> bool:
        """Stamp the lock of ``run_id``; False when the lock is no longer this run's (released
        by ``unlock --force``, or taken by another run): the run must stop."""
        with self.tx() as c:
            result = c.execute(
                update(lock)
                .where(and_(lock.c.name == LOCK_NAME, lock.c.run_id == run_id))
                .values(heartbeat_at=now_iso())
            )
            return bool(result.rowcount)

    def release_held(self, holder: LockInfo) -> bool:
        """Release the lock only if it is still exactly ``holder``'s (same run, no heartbeat
        since it was looked at): False when it changed in between, and nothing is released."""
        with self.tx() as c:
            result = c.execute(
                delete(lock).where(
                    and_(
                        lock.c.name == LOCK_NAME,
                        lock.c.run_id == holder.run_id,
                        lock.c.heartbeat_at == holder.heartbeat_at,
                    )
                )
            )
            return bool(result.rowcount)

    def release_lock(self, run_id: str) -> None:
        with self.tx() as c:
            c.execute(delete(lock).where(and_(lock.c.name == LOCK_NAME, lock.c.run_id == run_id)))

    def force_unlock(self) -> LockInfo | None:
        """Release whatever holds the lock, unconditionally (tests and repairs only:
        ``migrate unlock`` releases through ``release_held`` after checking the holder)."""
        with self.tx() as c:
            current = self._lock_row(c)
            c.execute(delete(lock).where(lock.c.name == LOCK_NAME))
            return current

    def lock_info(self) -> LockInfo | None:
        with self.tx() as c:
            return self._lock_row(c)

    @staticmethod
    def _lock_row(c: Connection) -> LockInfo | None:
        row = c.execute(select(lock).where(lock.c.name == LOCK_NAME)).first()
        if row is None:
            return None
        return LockInfo(
            run_id=row.run_id,
            host=row.host,
            pid=row.pid,
            pid_start=row.pid_start,
            operator=row.operator,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
        )


def _lock_values(info: LockInfo) -> dict[str, Any]:
    return {
        "run_id": info.run_id,
        "host": info.host,
        "pid": info.pid,
        "pid_start": info.pid_start,
        "operator": info.operator,
        "started_at": info.started_at,
        "heartbeat_at": info.heartbeat_at,
    }


def _locked_message(holder: LockInfo, alive: bool | None) -> str:
    state = "running on this host" if alive else "on another host: its heartbeat is all we can see"
    return (
        f"the state is locked by run {holder.run_id} of {holder.operator} on {holder.host} "
        f"(pid {holder.pid}, started {holder.started_at}, last heartbeat "
        f"{holder.heartbeat_at}, {state}). Wait for it to finish; if it crashed, run "
        f"`migrate unlock --force {holder.run_id}`"
    )
