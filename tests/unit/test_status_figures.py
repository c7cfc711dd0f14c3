"""Status figures are true: a rate and an ETA only for a service that is copying, measured
over its running copy step; a write freeze shown while it lasts; the last verification."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from migrate.commands.status import status
from migrate.ledger import CopyResult, LockInfo
from migrate.ports import ObjectInfo
from migrate.processes import process_start, this_host
from migrate.timeutil import now_iso
from migrate.views.html import report_page
from migrate.views.metrics import render_metrics
from state.store import Store
from tests.planning import one_store_plan


def _lock(run_id: str = "run-1", pid: int | None = None) -> LockInfo:
    """A lock held by this process (or by ``pid`` on this host)."""
    pid = os.getpid() if pid is None else pid
    stamp = now_iso()
    return LockInfo(run_id, this_host(), pid, process_start(pid), "ops", stamp, stamp)


def _store(tmp_path: Path) -> Store:
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.acquire_lock(_lock(), holder_alive=None)  # a live run: it is what copies
    store.register_services(one_store_plan())
    generation = store.begin_listing("svc-data")
    listed = [
        ObjectInfo(key=f"k{n}", size=1000, etag="e", last_modified=datetime.now(UTC))
        for n in range(10)
    ]
    store.ingest_listing("svc-data", generation, listed, None)
    return store


def test_no_rate_and_no_eta_for_a_service_that_is_not_copying(tmp_path: Path) -> None:
    service = status(_store(tmp_path)).to_json()["services"]["svc-data"]
    assert service["state"] == "pending"
    assert (service["rate_bytes_per_s"], service["eta_seconds"]) == (None, None)
    assert service["frozen_since"] is None
    assert service["last_verify"] is None


def test_the_rate_is_bytes_over_the_running_copy_step(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.set_service_state("svc-data", "running", "replicate")
    store.step_started("run-1", "svc-data", "replicate")
    time.sleep(0.2)
    tasks = store.claim("svc-data", 4)
    store.record_results([CopyResult(t.id, "done", 1, sha256="0" * 64) for t in tasks])
    service = status(store).to_json()["services"]["svc-data"]
    rate = service["rate_bytes_per_s"]
    assert rate is not None
    assert 0 < rate <= 4000 / 0.2  # 4,000 bytes over at least 0.2 s of the step
    assert service["eta_seconds"] == pytest.approx(6000 / rate)  # bytes and objects agree
    store.step_finished("run-1", "svc-data", "replicate", "done", "")
    store.set_service_state("svc-data", "running", "cutover")
    after = status(store).to_json()["services"]["svc-data"]
    assert (after["rate_bytes_per_s"], after["eta_seconds"]) == (None, None)


def test_frozen_since_while_the_freeze_lasts_and_the_last_verify(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.freeze_started("svc-data", 60)
    frozen = status(store).to_json()["services"]["svc-data"]["frozen_since"]
    assert frozen is not None
    assert frozen.endswith("Z")
    store.record_verification("svc-data", "hash", 10, 2, json.dumps({"against": "source"}))
    last = status(store).to_json()["services"]["svc-data"]["last_verify"]
    assert last is not None
    assert (last["level"], last["against"], last["differences"]) == ("hash", "source", 2)
    store.freeze_finished("svc-data")
    assert status(store).to_json()["services"]["svc-data"]["frozen_since"] is None


def test_the_metrics_show_the_freeze_and_the_last_verify(tmp_path: Path) -> None:
    store = _store(tmp_path)
    store.freeze_started("svc-data", 60)
    store.record_verification("svc-data", "deep", 10, 3, json.dumps({"against": "ledger"}))
    text = render_metrics(lambda: status(store)).decode()
    assert (
        'migrate_last_verify_differences{against="ledger",level="deep",service="svc-data"} 3.0'
        in text
    )
    assert 'migrate_write_frozen_seconds{service="svc-data"}' in text
    assert "migrate_copy_rate_bytes_per_second{" not in text  # nothing is copying


def test_the_report_shows_the_freeze_the_last_verify_and_no_full_bar_for_nothing(
    tmp_path: Path,
) -> None:
    store = _store(tmp_path)
    store.freeze_started("svc-data", 60)
    store.record_verification("svc-data", "hash", 10, 3, json.dumps({"against": "source"}))
    page = report_page(status(store))
    assert "write-frozen for" in page
    assert "3 differences</span> (hash, against source" in page
    empty = Store.open(f"sqlite:///{tmp_path / 'empty.db'}")
    empty.register_services(one_store_plan())
    assert 'style="width: 100.0%"' not in report_page(status(empty))  # 0 of 0 is not done


def test_steps_are_shown_in_the_order_the_plan_runs_them() -> None:
    from migrate.commands.status import in_plan_order
    from migrate.model import Plan, PlannedService, PlannedWave
    from migrate.readmodel import StepRow

    steps = {"a": ["prepare", "freeze", "cutover"], "b": ["prepare"]}
    plan = Plan(
        inventory="i.yaml",
        inventory_sha256="a" * 64,
        created_at="x",
        tool_version="0",
        waves=[PlannedWave(index=1, services=["a", "b"], estimated_bytes=0, estimated_seconds=0)],
        units=[],
        services={
            n: PlannedService(kind="network", depends_on=[], wave=1, criticality="high", steps=s)
            for n, s in steps.items()
        },
    )
    rows = [  # freeze and cutover run again after a rollback: latest start, same place
        StepRow("a", "cutover", "done", 2, "2026-01-01T10:09:00.000000Z", None, None),
        StepRow("a", "prepare", "done", 1, "2026-01-01T10:00:00.000000Z", None, None),
        StepRow("a", "freeze", "done", 2, "2026-01-01T10:08:00.000000Z", None, None),
        StepRow("b", "prepare", "done", 1, None, None, None),
    ]
    ordered = [(r.service, r.step) for r in in_plan_order(plan, rows)]
    assert ordered == [("a", "prepare"), ("a", "freeze"), ("a", "cutover"), ("b", "prepare")]


def test_many_small_objects_left_take_their_time_whatever_their_bytes(tmp_path: Path) -> None:
    """One large object done, 99 small ones left: the ETA follows the objects left at the
    object rate, not their few bytes at the byte rate (which said one second)."""
    store = Store.open(f"sqlite:///{tmp_path / 'state.db'}")
    store.acquire_lock(_lock(), holder_alive=None)
    store.register_services(one_store_plan())
    generation = store.begin_listing("svc-data")
    listed = [ObjectInfo(key="a-large", size=10_000_000, etag="e")] + [
        ObjectInfo(key=f"k{n:02d}", size=100, etag="e") for n in range(99)
    ]
    store.ingest_listing("svc-data", generation, listed, None)
    store.set_service_state("svc-data", "running", "replicate")
    store.step_started("run-1", "svc-data", "replicate")
    time.sleep(0.2)
    first = store.claim("svc-data", 1)
    assert [t.key for t in first] == ["a-large"]
    store.record_results([CopyResult(first[0].id, "done", 1, sha256="0" * 64)])
    report = status(store)
    service = report.to_json()["services"]["svc-data"]
    elapsed = 10_000_000 / service["rate_bytes_per_s"]  # the step's time so far
    assert service["eta_seconds"] == pytest.approx(99 * elapsed, rel=0.01)
    assert report.eta_total == pytest.approx(99 * elapsed, rel=0.01)


def test_the_eta_is_computed_within_the_bandwidth_limit_the_run_holds(tmp_path: Path) -> None:
    from migrate.executor.throttle import CURRENT_SETTING

    store = _store(tmp_path)
    store.set_service_state("svc-data", "running", "replicate")
    store.step_started("run-1", "svc-data", "replicate")
    time.sleep(0.2)
    tasks = store.claim("svc-data", 4)
    store.record_results([CopyResult(t.id, "done", 1, sha256="0" * 64) for t in tasks])
    free = status(store)
    rate = free.rates["svc-data"]
    limit = rate / 4  # the operator just cut the limit to a quarter of the measured rate
    holding = {"run_id": "run-1", "bytes_per_s": limit, "source": "migrate bwlimit"}
    store.set_setting(CURRENT_SETTING, json.dumps(holding))
    limited = status(store)
    document = limited.to_json()
    assert set(document) == {"plan", "lock", "services"}  # the contract's object
    assert document["lock"]["bandwidth_limit"] == holding
    service = document["services"]["svc-data"]
    assert service["eta_seconds"] == pytest.approx(6000 / limit)
    assert limited.eta_total == pytest.approx(6000 / limit)
    faster = {**holding, "bytes_per_s": rate * 4}  # raised: the copy goes at the limit now
    store.set_setting(CURRENT_SETTING, json.dumps(faster))
    raised = status(store).to_json()["services"]["svc-data"]
    assert raised["eta_seconds"] == pytest.approx(6000 / (rate * 4))
    store.set_setting(CURRENT_SETTING, json.dumps(holding))
    metrics = render_metrics(lambda: limited).decode()
    assert f"migrate_bandwidth_limit_bytes_per_second {limit}" in metrics.replace(".0\n", "\n")
    store.set_setting(CURRENT_SETTING, json.dumps({**holding, "run_id": "an-old-run"}))
    assert status(store).to_json()["lock"]["bandwidth_limit"] is None  # an old run's word


def test_a_run_whose_process_is_gone_copies_nothing_whatever_the_ledger_says(
    tmp_path: Path,
) -> None:
    """After a kill -9 the ledger still says 'running' and the heartbeat is seconds old:
    status must not show a rate, an ETA or a limit for a run that no longer exists."""
    from migrate.executor.throttle import CURRENT_SETTING

    store = _store(tmp_path)
    store.set_service_state("svc-data", "running", "replicate")
    store.step_started("run-1", "svc-data", "replicate")
    tasks = store.claim("svc-data", 4)
    store.record_results([CopyResult(t.id, "done", 1, sha256="0" * 64) for t in tasks])
    store.release_lock("run-1")
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    pid = int(dead.stdout)
    stamp = now_iso()
    store.acquire_lock(
        LockInfo("run-2", this_host(), pid, "1", "ops", stamp, stamp), holder_alive=None
    )
    store.set_setting(CURRENT_SETTING, json.dumps({"run_id": "run-2", "bytes_per_s": 1.0}))
    report = status(store)
    document = report.to_json()
    service = document["services"]["svc-data"]
    assert (service["rate_bytes_per_s"], service["eta_seconds"]) == (None, None)
    assert document["lock"]["stale"] is True
    assert document["lock"]["alive"] is False
    assert document["lock"]["bandwidth_limit"] is None
    assert "migrate_copy_rate_bytes_per_second{" not in render_metrics(lambda: report).decode()
