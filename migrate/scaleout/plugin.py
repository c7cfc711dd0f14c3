"""A worker plugin that the coordinator registers on every worker of the cluster, those
running now and those that join later (a restarted worker included)."""

from __future__ import annotations

import sys
from typing import Any

from distributed import WorkerPlugin


class StopProfilerOnOldPython(WorkerPlugin):
    """On CPython before 3.12, ``sys._current_frames()`` can deadlock with the garbage
    collector (python/cpython#106883): dask's statistical profiler calls it every 10 ms on
    every worker, and a worker's copy threads then hang forever in the middle of a batch.
    The profiler only feeds dask's own dashboard, so on those versions it is stopped."""

    name = "hdh-migrate-stop-profiler"

    def setup(self, worker: Any) -> None:
        if sys.version_info >= (3, 12):
            return
        for name in ("profile", "profile-cycle"):
            callback = worker.periodic_callbacks.get(name)
            if callback is not None:
                callback.stop()
