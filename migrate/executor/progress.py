"""What the executor tells whoever watches: a Protocol the CLI implements (rich or plain)."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    def wave(self, index: int, services: list[str]) -> None: ...

    def step(self, service: str, step: str, status: str, detail: str | None = None) -> None: ...

    def listed(self, service: str, objects: int, size: int) -> None:
        """Cumulative totals of what the service's listing found so far."""
        ...

    def copying(self, service: str, objects_done: int, bytes_done: int) -> None:
        """A copy pass starts; the ledger already counts this much as done (a resumed run, or
        an earlier round, copied it): progress starts there, rates count only what follows."""
        ...

    def copied(
        self, service: str, key: str, size: int, status: str, error: str | None = None
    ) -> None:
        """One object finished: ``status`` is done, failed, changed or pending (interrupted)."""
        ...

    def note(self, message: str) -> None: ...


class NullProgress:
    def wave(self, index: int, services: list[str]) -> None:
        return None

    def step(self, service: str, step: str, status: str, detail: str | None = None) -> None:
        return None

    def listed(self, service: str, objects: int, size: int) -> None:
        return None

    def copying(self, service: str, objects_done: int, bytes_done: int) -> None:
        return None

    def copied(
        self, service: str, key: str, size: int, status: str, error: str | None = None
    ) -> None:
        return None

    def note(self, message: str) -> None:
        return None
