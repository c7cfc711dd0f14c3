"""What a dask worker runs: copy one batch with clients built from the worker's own
environment.

The coordinator ships a :class:`WorkerSpec`: the inventory (which names environment variables
and never holds a secret: the loader refuses inline secrets), the copy and retry settings, and
the run id. A worker reads the credentials from its own environment (or the credentials file
the inventory names, mode 0600, on the worker's machine), builds its source, target and
:class:`~migrate.executor.copy.Copier` once per run, and shares them between its threads.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from migrate.config import Inventory
from migrate.executor.batches import BatchOutcome, MemoryJournal, ObjectBatch, copy_batch
from migrate.executor.copy import Copier, CopySettings
from migrate.executor.retry import RetryPolicy
from migrate.wiring import build_source, build_target, secrets_environment


@dataclass(frozen=True)
class WorkerSpec:
    run_id: str
    inventory: Inventory
    copy: CopySettings = field(default_factory=CopySettings)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    connections: int = 8
    """HTTP connections per client: the worker's threads, and a few for parts."""


@dataclass
class _Engine:
    run_id: str
    copier: Copier
    journal: MemoryJournal


_engine: _Engine | None = None
_engine_lock = threading.Lock()


def _engine_for(spec: WorkerSpec) -> _Engine:
    """The run's copier in this worker process, built by the first batch that needs it."""
    global _engine  # noqa: PLW0603 - one engine per worker process, shared by its threads
    with _engine_lock:
        if _engine is not None and _engine.run_id == spec.run_id:
            return _engine
        if _engine is not None:
            _engine.copier.close()
        env = secrets_environment(spec.inventory, os.environ)
        source = build_source(spec.inventory, env)
        target = build_target(spec.inventory, env, spec.connections)
        journal = MemoryJournal()
        copier = Copier(source, target, journal, settings=spec.copy, policy=spec.retry)
        _engine = _Engine(spec.run_id, copier, journal)
        return _engine


def run_batch(spec: WorkerSpec, batch: ObjectBatch) -> BatchOutcome:
    """The task a worker runs for one batch."""
    engine = _engine_for(spec)
    return copy_batch(engine.copier, engine.journal, batch)


def version() -> str:
    """The hdh-migrate version installed on the worker."""
    from migrate import __version__

    return __version__
