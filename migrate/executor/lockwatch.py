"""Whether this run still holds the state lock: asked before each step and each hook, and told
by the heartbeat. A run whose lock was released (``unlock --force``) or taken by another run
stops at once: it sets the run's stop event, so the copy loops take no new work either, and
every service it was running goes back to ``pending`` saying why."""

from __future__ import annotations

import threading
from collections.abc import Callable

from migrate.ledger import LockInfo


class LockWatch:
    def __init__(
        self,
        run_id: str,
        holder: Callable[[], LockInfo | None],
        stop: threading.Event,
    ) -> None:
        """``holder()`` reads the lock row as it is now (one indexed read)."""
        self.run_id = run_id
        self._holder = holder
        self._stop = stop
        self._lost: str | None = None
        self._mutex = threading.Lock()

    @property
    def lost(self) -> str | None:
        """Why this run no longer holds the lock (a sentence), or None while it does."""
        return self._lost

    def holds(self) -> bool:
        """Look at the lock row now; on a loss, record why and stop the run."""
        if self._lost is not None:
            return False
        current = self._holder()
        if current is not None and current.run_id == self.run_id:
            return True
        self.lose(current)
        return False

    def lose(self, current: LockInfo | None) -> None:
        """The lock is gone (``current`` None) or another run's: stop before the next step."""
        if current is None:
            why = "its state lock was released (`migrate unlock --force`?)"
        elif current.run_id == self.run_id:
            return
        else:
            why = (
                f"its state lock is now held by run {current.run_id} of {current.operator} on "
                f"{current.host} (pid {current.pid})"
            )
        with self._mutex:
            if self._lost is None:
                self._lost = (
                    f"this run ({self.run_id}) stopped: {why}; it ran no further step. "
                    "Look at `migrate status`, then apply again once no other run holds the lock"
                )
        self._stop.set()
