"""`apply --executor dask` on a LocalCluster of two worker processes, Azurite to the S3
server: same result as the local executor, a worker killed mid-batch, the coordinator killed
and resumed, workers without credentials."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import (
    assert_identical,
    migrate,
    popen_migrate,
    s3_client,
    seed,
    wait_for,
    write_inventory,
    writer,
)
from tests.proxy import Proxy
from tools import emulators

distributed = pytest.importorskip("distributed")

MiB = 1024 * 1024
LEDGER = "select key, status, size, sha256, md5, proof from objects order by key"


@pytest.fixture(scope="module")
def cluster(servers: emulators.Servers) -> Iterator[Any]:
    """Two worker processes (4 threads each) that hold the credentials in their own
    environment, as workers on other machines would."""
    local = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=4,
        processes=True,
        host="127.0.0.1",
        scheduler_port=0,
        dashboard_address=":0",
        env=servers.environment(),
        silence_logs=logging.ERROR,
    )
    client = distributed.Client(local, set_as_default=False)
    try:
        yield client
    finally:
        client.close()
        local.close()


def _inventory(folder: Path, container: str, bucket: str, s3_url: str = "${S3_URL}") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    options = {"cohort-data": {"data": {"container": container, "bucket": bucket}}}
    return write_inventory(
        folder, {"cohort-data": container}, s3_url=s3_url, service_options=options
    )


def _plan(folder: Path, inventory: Path, env: dict[str, str]) -> None:
    result = migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=folder)
    assert result.returncode == 0, result.stderr


def _dask_apply(cluster: Any) -> list[str]:
    return ["apply", "plan.json", "--yes", "--executor", "dask", "--scheduler", _address(cluster)]


def _address(cluster: Any) -> str:
    return str(cluster.scheduler.address)


def _ledger(folder: Path) -> list[tuple[Any, ...]]:
    return sqlite3.connect(folder / ".migrate" / "state.db").execute(LEDGER).fetchall()


def _seed_cohort(servers: emulators.Servers, container: str, small: int) -> None:
    seed(servers, container, small, size=16 * 1024, prefix="small")
    big = os.urandom(34 * MiB + 5)  # three parts of 16 MiB at most
    writer(servers).put_blob_in_blocks(container, "large/cohort.bin", big, 8 * MiB)


def test_dask_copies_what_the_local_executor_copies(
    cluster: Any,
    servers: emulators.Servers,
    server_env: dict[str, str],
    tmp_path: Path,
    unique: str,
) -> None:
    container = f"{unique}-d"
    _seed_cohort(servers, container, 150)
    local, remote = tmp_path / "local", tmp_path / "dask"
    _plan(local, _inventory(local, container, f"{unique}-local"), server_env)
    _plan(remote, _inventory(remote, container, f"{unique}-dask"), server_env)

    by_threads = migrate("apply", "plan.json", "--yes", env=server_env, cwd=local)
    by_dask = migrate(*_dask_apply(cluster), env=server_env, cwd=remote)

    assert by_threads.returncode == 0, by_threads.stdout + by_threads.stderr
    assert by_dask.returncode == 0, by_dask.stdout + by_dask.stderr
    assert assert_identical(servers, container, f"{unique}-local") == 151
    assert assert_identical(servers, container, f"{unique}-dask") == 151
    assert _ledger(remote) == _ledger(local)
    assert all(row[1] == "done" for row in _ledger(remote))
    db = sqlite3.connect(remote / ".migrate" / "state.db")
    assert db.execute("select count(*) from uploads").fetchone() == (0,)
    start = db.execute("select detail from audit_events where action = 'apply.start'").fetchone()
    options = json.loads(start[0])["options"]
    assert options["executor"] == "dask"
    assert options["scheduler"] == _address(cluster)
    s3 = s3_client(servers)
    assert not s3.list_multipart_uploads(Bucket=f"{unique}-dask").get("Uploads")
    if sys.version_info < (3, 12):  # python/cpython#106883: the profiler can hang a worker
        assert not any(cluster.run(_profiling).values())


def _profiling(dask_worker: Any) -> bool:
    callback = dask_worker.periodic_callbacks.get("profile")
    return bool(callback is not None and callback.is_running())


class _DelayPuts:
    """Object PUTs wait at the proxy once ``after`` of them went through, until released."""

    def __init__(self, bucket: str, after: int = 0) -> None:
        self.prefix = f"/{bucket}/"
        self.after = after
        self.seen = 0
        self.delayed = 0
        self.lock = threading.Lock()  # the proxy answers on many threads

    def __call__(self, method: str, path: str, _count: int) -> str | None:
        if method != "PUT" or not path.startswith(self.prefix):
            return None
        with self.lock:
            self.seen += 1
            if self.seen <= self.after:
                return None
            self.delayed += 1
        return "delay"


def test_a_worker_killed_mid_batch_loses_nothing(
    cluster: Any,
    servers: emulators.Servers,
    server_env: dict[str, str],
    tmp_path: Path,
    unique: str,
) -> None:
    container, bucket = f"{unique}-w", f"{unique}-w"
    _seed_cohort(servers, container, 120)
    delay = _DelayPuts(bucket)
    with Proxy(servers.s3_url, decide=delay) as proxy:
        _plan(tmp_path, _inventory(tmp_path, container, bucket, proxy.url), server_env)
        apply = popen_migrate(*_dask_apply(cluster), env=server_env, cwd=tmp_path)
        # Both workers are in the middle of a batch, their PUTs held at the proxy.
        wait_for(lambda: sum(bool(keys) for keys in cluster.processing().values()) == 2)
        wait_for(lambda: delay.delayed >= 2)
        victim = next(worker for worker, keys in cluster.processing().items() if keys)
        pid = cluster.run(os.getpid, workers=[victim])[victim]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: victim not in cluster.scheduler_info()["workers"])
        proxy.release()
        output, _ = apply.communicate(timeout=300)
    assert apply.returncode == 0, output
    assert assert_identical(servers, container, bucket) == 121
    rows = _ledger(tmp_path)
    assert len(rows) == 121
    assert {row[1] for row in rows} == {"done"}
    cluster.wait_for_workers(2, timeout=60)  # the nanny restarts the worker for the next tests


def test_the_coordinator_killed_then_resumed(
    cluster: Any,
    servers: emulators.Servers,
    server_env: dict[str, str],
    tmp_path: Path,
    unique: str,
) -> None:
    container, bucket = f"{unique}-c", f"{unique}-c"
    _seed_cohort(servers, container, 200)
    db_path = tmp_path / ".migrate" / "state.db"
    # Batches commit whole: let enough PUTs through for the first batches of every worker
    # thread to end (201 objects in 16 batches, 8 threads), then hold the rest (53 PUTs).
    delay = _DelayPuts(bucket, after=150)
    with Proxy(servers.s3_url, decide=delay) as proxy:
        _plan(tmp_path, _inventory(tmp_path, container, bucket, proxy.url), server_env)
        coordinator = popen_migrate(*_dask_apply(cluster), env=server_env, cwd=tmp_path)

        def some_done_and_more_held() -> bool:
            if delay.delayed < 2 or not db_path.exists():
                return False
            try:
                row = sqlite3.connect(db_path).execute(
                    "select count(*) from objects where status = 'done'"
                )
                return int(row.fetchone()[0]) >= 1
            except sqlite3.OperationalError:
                return False

        wait_for(some_done_and_more_held)
        coordinator.send_signal(signal.SIGKILL)
        coordinator.wait(timeout=30)
        db = sqlite3.connect(db_path)
        done_before = dict(db.execute("select key, updated_at from objects where status='done'"))
        assert db.execute("select pid from lock").fetchone() == (coordinator.pid,)
        proxy.release()
        resumed = migrate(*_dask_apply(cluster), env=server_env, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert assert_identical(servers, container, bucket) == 201
    after = dict(sqlite3.connect(db_path).execute("select key, updated_at from objects"))
    assert done_before
    for key, stamp in done_before.items():
        assert after[key] == stamp, f"{key} was copied again"
    db = sqlite3.connect(db_path)
    assert db.execute("select count(*) from lock").fetchone() == (0,)
    assert db.execute("select count(*) from uploads").fetchone() == (0,)
    assert not s3_client(servers).list_multipart_uploads(Bucket=bucket).get("Uploads")


def test_workers_without_credentials_fail_the_objects_and_say_why(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container, bucket = f"{unique}-n", f"{unique}-n"
    seed(servers, container, 5)
    env = {**servers.environment(), "AWS_SECRET_ACCESS_KEY": ""}
    with (
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=True,
            host="127.0.0.1",
            scheduler_port=0,
            dashboard_address=":0",
            env=env,
            silence_logs=logging.ERROR,
        ) as bare,
    ):
        _plan(tmp_path, _inventory(tmp_path, container, bucket), server_env)
        result = migrate(
            "apply",
            "plan.json",
            "--yes",
            "--executor",
            "dask",
            "--scheduler",
            str(bare.scheduler.address),
            env=server_env,
            cwd=tmp_path,
        )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "AWS_SECRET_ACCESS_KEY" in result.stdout
    assert "is not set" in result.stdout
    assert server_env["AWS_SECRET_ACCESS_KEY"] not in result.stdout + result.stderr
    rows = _ledger(tmp_path)
    assert {row[1] for row in rows} == {"failed"}
    reasons = sqlite3.connect(tmp_path / ".migrate" / "state.db").execute(
        "select distinct last_error from objects"
    )
    (reason,) = reasons.fetchone()
    assert "the cluster failed this object's batch 3 times" in reason
