"""A ledger with real progress, failures and hostile object names, for the views."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from migrate.ledger import CopyResult
from migrate.model import Plan, PlannedService, PlannedWave
from migrate.ports import ObjectInfo
from state.store import Store

HOSTILE = [
    "<script>alert('x')</script>.csv",
    "[bold red]pwned[/bold red].txt",
    "ctrl-\x1b[31mred\x1b[0m-\x07bell.bin",
    'quote"and&amp;.txt',
]


def _plan() -> Plan:
    services = {
        "claims-data": PlannedService(
            kind="object-store",
            depends_on=["net-core"],
            wave=2,
            criticality="high",
            container="c",
            bucket="b",
            steps=["prepare", "replicate", "verify", "freeze", "sync", "cutover", "validate"],
            max_downtime_seconds=900,
        ),
        "net-core": PlannedService(
            kind="network",
            depends_on=[],
            wave=1,
            criticality="high",
            steps=["prepare", "freeze", "cutover", "validate"],
        ),
    }
    return Plan(
        inventory="i.yaml",
        inventory_sha256="a" * 64,
        created_at="x",
        tool_version="0",
        waves=[
            PlannedWave(index=1, services=["net-core"], estimated_bytes=0, estimated_seconds=0),
            PlannedWave(index=2, services=["claims-data"], estimated_bytes=0, estimated_seconds=0),
        ],
        units=[],
        services=services,
    )


@pytest.fixture
def ledger(ledger_url: str) -> Store:
    store = Store.open(ledger_url)
    plan = _plan()
    plan_id = store.record_plan(plan, "b" * 64, plan.model_dump_json())
    store.register_services(plan)
    store.start_run("run-1", plan_id, dry_run=False, host="h", pid=1, operator="op", options={})
    generation = store.begin_listing("claims-data")
    now = datetime.now(UTC)
    listed = [
        ObjectInfo(key=f"data/{i:03d}.bin", size=1000, etag=f"e{i}", last_modified=now)
        for i in range(10)
    ]
    listed += [ObjectInfo(key=k, size=10, etag="x", last_modified=now) for k in HOSTILE]
    store.ingest_listing("claims-data", generation, listed, None)
    store.finish_listing("claims-data")
    tasks = store.claim("claims-data", 100)
    results = []
    for task in tasks:
        if task.key in HOSTILE:
            results.append(CopyResult(task.id, "failed", 1, error=f"refused: <b>{task.key}</b>"))
        elif task.key != "data/009.bin":
            results.append(
                CopyResult(task.id, "done", 1, sha256="0" * 64, proof="source-md5", retries=2)
            )
    store.record_results(results)
    store.reset_interrupted(["claims-data"])
    store.set_service_state("net-core", "done", "validate")
    store.set_service_state(
        "claims-data", "failed", "replicate", "4 of 14 objects failed <script>x</script>"
    )
    store.step_started("run-1", "claims-data", "replicate")
    store.step_finished("run-1", "claims-data", "replicate", "failed", "4 failed [red]x[/red]")
    return store
