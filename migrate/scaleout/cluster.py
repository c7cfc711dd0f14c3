"""The coordinator's side of ``apply --executor dask``: connect to a scheduler, check the
workers, submit batches and turn dask futures into the executor's futures.

The scheduler address is checked like an endpoint: ``tcp://`` (no encryption) only on
loopback, otherwise ``tls://`` (certificates from dask's own configuration,
``distributed.comm.tls.*``) unless ``--insecure``, which the audit log records.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from migrate.errors import ClusterError, InvalidInput, RefusedForSafety
from migrate.executor.batches import BatchOutcome, ObjectBatch
from migrate.inventory.policy import is_loopback_host
from migrate.scaleout.worker import WorkerSpec, run_batch, version

WORKERS_SECONDS = 60
THREADS_SECONDS = 5.0


def check_address(address: str, *, insecure: bool) -> str:
    """The scheduler address with its scheme; plain tcp only on loopback."""
    full = address if "://" in address else f"tcp://{address}"
    parts = urlsplit(full)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or port is None:
        raise InvalidInput(
            f"--scheduler {address}: give the dask scheduler as tls://HOST:PORT "
            "(or tcp://127.0.0.1:PORT on this machine)"
        )
    if parts.scheme == "tcp" and not is_loopback_host(parts.hostname) and not insecure:
        raise RefusedForSafety(
            f"--scheduler {address}: plain tcp outside loopback would carry object names and "
            "hashes unencrypted; use tls:// (dask's distributed.comm.tls settings) or "
            "--insecure"
        )
    return full


@contextmanager
def connect(address: str, spec: WorkerSpec, *, insecure: bool) -> Iterator[DaskCluster]:
    """A client of the scheduler, once at least one worker runs this version of the tool."""
    full = check_address(address, insecure=insecure)
    try:
        from distributed import Client
    except ImportError:
        raise InvalidInput(
            "--executor dask needs dask.distributed: pip install 'hdh-migrate[dask]'"
        ) from None
    try:  # how long to try: dask's distributed.comm.timeouts.connect (30 s by default)
        client = Client(full, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ClusterError(f"cannot reach the dask scheduler at {full}: {error}") from None
    try:
        _check_workers(client, full)
        threads = max(client.nthreads().values(), default=1)
        yield DaskCluster(
            client, replace(spec, connections=threads + spec.copy.part_concurrency + 2)
        )
    finally:
        client.close()


def _check_workers(client: Any, address: str) -> None:
    from migrate import __version__
    from migrate.scaleout.plugin import StopProfilerOnOldPython

    try:
        client.wait_for_workers(1, timeout=WORKERS_SECONDS)
    except TimeoutError:
        raise ClusterError(
            f"the dask scheduler at {address} has no worker after {WORKERS_SECONDS} s"
        ) from None
    try:
        versions: dict[str, str] = client.run(version)
    except Exception as error:  # a worker without the tool installed fails to unpickle
        raise ClusterError(
            f"the workers of {address} cannot run hdh-migrate ({type(error).__name__}: "
            f"{error}); install the same version as the coordinator on every worker"
        ) from None
    other = {worker: v for worker, v in versions.items() if v != __version__}
    if other:
        listed = ", ".join(f"{worker} has {v}" for worker, v in sorted(other.items()))
        raise ClusterError(
            f"the coordinator runs hdh-migrate {__version__} but {listed}; "
            "every worker must run the same version"
        )
    client.register_plugin(StopProfilerOnOldPython())


class DaskCluster:
    """Batches on a dask cluster, as :class:`~migrate.executor.batches.BatchRunner`. Dask
    moves the task of a lost worker to another one by itself; a batch it gives up on ends
    with its error (``KilledWorker``), which the coordinator submits again."""

    def __init__(self, client: Any, spec: WorkerSpec) -> None:
        self._client = client
        self._spec = spec
        self._remote: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._threads = (0, 0, -THREADS_SECONDS)  # (threads, workers, when asked)

    @property
    def capacity(self) -> int:
        return max(2, 2 * self.threads)

    @property
    def threads(self) -> int:
        """Threads of the workers in the cluster (workers come and go: the scheduler is asked
        again every few seconds, not at every finished batch)."""
        return self._counts()[0]

    @property
    def processes(self) -> int:
        """Worker processes: each holds an equal share of the bandwidth limit."""
        return self._counts()[1]

    def _counts(self) -> tuple[int, int]:
        threads, workers, asked = self._threads
        if time.monotonic() - asked >= THREADS_SECONDS:
            counts = self._client.nthreads()
            threads, workers = int(sum(counts.values())), len(counts)
            self._threads = (threads, workers, time.monotonic())
        return threads, workers

    def submit(self, batch: ObjectBatch) -> Future[BatchOutcome]:
        mine: Future[BatchOutcome] = Future()
        key = f"copy-batch-{self._spec.run_id}-{batch.route.service}-{batch.number}-{batch.attempt}"
        remote = self._client.submit(run_batch, self._spec, batch, key=key, pure=False)
        with self._lock:
            self._remote[id(mine)] = remote

        def settle(done: Any) -> None:
            with self._lock:
                self._remote.pop(id(mine), None)
            if mine.cancelled():
                return
            try:
                mine.set_result(done.result())
            except BaseException as error:  # handed to the coordinator as is
                mine.set_exception(error)

        def cancel_remote(future: Future[BatchOutcome]) -> None:
            if future.cancelled():
                remote.cancel()

        mine.add_done_callback(cancel_remote)
        remote.add_done_callback(settle)
        return mine
