"""The hooks in flight: written when a run starts a hook, cleared when it sees it end."""

from __future__ import annotations

from sqlalchemy import and_, delete, select

from migrate.ledger import HookProcess
from state.database import Database
from state.schema import hook_processes


class HookRecords(Database):
    def hook_started(self, hook: HookProcess) -> None:
        """Record the hook's process; replaces the record of an earlier run's hook of the same
        step, which the caller has seen end."""
        with self.tx() as c:
            c.execute(
                delete(hook_processes).where(
                    and_(
                        hook_processes.c.service == hook.service,
                        hook_processes.c.step == hook.step,
                    )
                )
            )
            c.execute(
                hook_processes.insert().values(
                    service=hook.service,
                    step=hook.step,
                    run_id=hook.run_id,
                    host=hook.host,
                    pid=hook.pid,
                    pid_start=hook.pid_start,
                    started_at=hook.started_at,
                )
            )

    def hook_ended(self, service: str, step: str, run_id: str) -> None:
        with self.tx() as c:
            c.execute(
                delete(hook_processes).where(
                    and_(
                        hook_processes.c.service == service,
                        hook_processes.c.step == step,
                        hook_processes.c.run_id == run_id,
                    )
                )
            )

    def hook_running(self, service: str, step: str) -> HookProcess | None:
        with self.tx() as c:
            row = c.execute(
                select(hook_processes).where(
                    and_(hook_processes.c.service == service, hook_processes.c.step == step)
                )
            ).first()
        if row is None:
            return None
        return HookProcess(
            service=row.service,
            step=row.step,
            run_id=row.run_id,
            host=row.host,
            pid=row.pid,
            pid_start=row.pid_start,
            started_at=row.started_at,
        )
