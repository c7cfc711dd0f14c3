"""``migrate unlock --force [RUN_ID]``: release the lock of a run that is no longer alive.

Terraform's ``force-unlock LOCK_ID``: with a run id, only that run's lock is released. Either
way a live holder is never released: on this host the process decides (same pid and same
start time, whatever its heartbeat says); on another host, a heartbeat fresher than
``STALE_HEARTBEAT_SECONDS`` keeps it. Releasing a live run's lock let a second apply run the
hooks and cutovers again beside it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import NoReturn, Protocol

from migrate.audit import AuditEvent
from migrate.commands.status import STALE_HEARTBEAT_SECONDS
from migrate.errors import RefusedForSafety
from migrate.ledger import LockInfo
from migrate.timeutil import parse_iso


class UnlockStore(Protocol):
    def lock_info(self) -> LockInfo | None: ...

    def release_held(self, holder: LockInfo) -> bool: ...

    def audit(self, events: Sequence[AuditEvent]) -> None: ...


@dataclass(frozen=True)
class UnlockResult:
    released: LockInfo | None
    """The holder whose lock was released; None when the state was not locked."""
    why: str = ""
    """Why the holder was taken for dead."""


def unlock(
    store: UnlockStore,
    run_id: str | None,
    alive: Callable[[LockInfo], bool | None],
    now: datetime | None = None,
) -> UnlockResult:
    """Release the lock of a holder that is no longer alive (of run ``run_id`` only, when
    given). Raises RefusedForSafety, naming the holder and why it is kept."""
    holder = store.lock_info()
    if holder is None:
        return UnlockResult(None)
    if run_id is not None and holder.run_id != run_id:
        _refuse(
            store,
            holder,
            f"the state lock is held by run {holder.run_id}, not by run {run_id}: "
            f"{_who(holder)}. Nothing was released; `migrate status` shows the lock",
        )
    kept, why = _verdict(holder, alive(holder), now or datetime.now(UTC))
    if kept:
        _refuse(
            store,
            holder,
            f"run {holder.run_id} still holds the state lock and is kept: {_who(holder)}; "
            f"{why}. Nothing was released: wait for it to finish (or stop it), then apply again",
        )
    if not store.release_held(holder):
        _refuse(
            store,
            holder,
            f"the state lock of run {holder.run_id} changed while it was being released (its "
            "holder beat again, or another run took it). Nothing was released: look at "
            "`migrate status`",
        )
    store.audit(
        [
            AuditEvent(
                "lock.force-unlock",
                holder.run_id,
                "released",
                detail={"reason": why, "host": holder.host, "pid": holder.pid},
            )
        ]
    )
    return UnlockResult(holder, why)


def _verdict(holder: LockInfo, alive: bool | None, now: datetime) -> tuple[bool, str]:
    """(kept, why): on this host the process decides; elsewhere, the heartbeat's age."""
    if alive is True:
        return True, (
            f"its process runs on this host (pid {holder.pid}, same start time), whatever "
            "its heartbeat says"
        )
    if alive is False:
        return False, f"its process (pid {holder.pid}) no longer runs on this host"
    age = (now - parse_iso(holder.heartbeat_at)).total_seconds()
    if age <= STALE_HEARTBEAT_SECONDS:
        return True, (
            f"it runs on another host ({holder.host}) and its heartbeat is {age:.0f} s old "
            f"(fresh: under {STALE_HEARTBEAT_SECONDS} s)"
        )
    return False, (
        f"it runs on another host ({holder.host}) and its heartbeat is {age:.0f} s old "
        f"(stale: over {STALE_HEARTBEAT_SECONDS} s)"
    )


def _who(holder: LockInfo) -> str:
    return (
        f"{holder.operator} on {holder.host}, pid {holder.pid}, started {holder.started_at}, "
        f"last heartbeat {holder.heartbeat_at}"
    )


def _refuse(store: UnlockStore, holder: LockInfo, message: str) -> NoReturn:
    store.audit(
        [
            AuditEvent(
                "lock.force-unlock",
                holder.run_id,
                "refused",
                detail={"reason": message},
            )
        ]
    )
    raise RefusedForSafety(message)
