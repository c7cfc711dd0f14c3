"""`migrate plan` + `migrate apply` + `migrate status` through the CLI, Azurite -> S3 server."""

from __future__ import annotations

import gzip
import json
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.integration.helpers import (
    assert_identical,
    migrate,
    s3_client,
    seed,
    write_inventory,
    writer,
)
from tests.proxy import Proxy
from tools import emulators

if TYPE_CHECKING:
    from tools.postgres import Postgres

MiB = 1024 * 1024


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def _plan(workdir: Path, inventory: Path, env: dict[str, str]) -> Path:
    result = migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "plan.json"


def test_apply_copies_everything_exactly(
    servers: emulators.Servers, server_env: dict[str, str], workdir: Path, unique: str
) -> None:
    container = f"{unique}-c"
    seed(servers, container, 40)
    w = writer(servers)
    report = gzip.compress(b'{"rows": 12}' * 500)
    w.put_blob(
        container,
        "reports/summary.json.gz",
        report,
        headers={
            "content_type": "application/json",
            "content_encoding": "gzip",
            "cache_control": "no-cache",
            "content_disposition": "attachment",
            "content_language": "fr-FR",
        },
        metadata={"Origin": "HDH", "BatchId": "42"},
    )
    w.put_blob(container, "names/a b%#?+;é/日本.txt", b"unicode", content_md5=True)
    w.put_blob(container, "names/empty", b"", content_md5=False)
    w.put_blob(container, "deep/" + "/".join(f"l{i}" for i in range(20)) + "/leaf", b"deep")
    w.put_blob_in_blocks(
        container,
        "large/cohort.bin",
        os.urandom(20 * MiB + 5),
        4 * MiB,
        metadata={"Study": "Cohort"},
    )
    w.put_blob(container, "default-type", b"no content type given", content_md5=True)
    inventory = write_inventory(
        workdir,
        {"claims-data": container},
        extra_services=[{"name": "net-core", "kind": "network"}],
    )
    plan = _plan(workdir, inventory, server_env)
    result = migrate("apply", str(plan), "--yes", "--workers", "4", env=server_env, cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Apply finished: 2 done, 0 failed" in result.stdout
    assert assert_identical(servers, container, container) == 46
    status = migrate("status", "--format", "json", env=server_env, cwd=workdir)
    data = json.loads(status.stdout)
    claims = data["services"]["claims-data"]
    assert claims["state"] == "done"
    assert claims["step"] == "validate"
    assert claims["objects_total"] == claims["objects_done"] == 46
    assert claims["objects_failed"] == 0
    assert claims["bytes_total"] == claims["bytes_done"] > 20 * MiB
    assert data["lock"] is None
    assert data["plan"]["waves"] == 1
    again = migrate("apply", str(plan), "--yes", env=server_env, cwd=workdir)
    assert again.returncode == 0
    assert "already done" in again.stdout
    audit = migrate("audit", "verify", env=server_env, cwd=workdir)
    assert audit.returncode == 0, audit.stdout + audit.stderr
    export = migrate("audit", "export", "audit.jsonl", env=server_env, cwd=workdir)
    assert export.returncode == 0
    actions = [json.loads(line)["action"] for line in (workdir / "audit.jsonl").open()]
    assert actions[0] == "apply.start"  # planning created no ledger: the first apply did
    for action in ("apply.start", "bucket.created", "service.cutover", "apply.stop"):
        assert action in actions, action
    assert actions.count("object.copied") == 46


def test_proof_levels_recorded(
    servers: emulators.Servers, server_env: dict[str, str], workdir: Path, unique: str
) -> None:
    container = f"{unique}-p"
    w = writer(servers)
    w.create_container(container)
    w.put_blob(container, "with-md5", b"a" * 100, content_md5=True)
    w.put_blob_in_blocks(container, "blocks", b"b" * 100, 50)
    w.put_blob_in_blocks(container, "large", os.urandom(40 * MiB), 8 * MiB)
    inventory = write_inventory(workdir, {"proof-data": container})
    plan = _plan(workdir, inventory, server_env)
    assert migrate("apply", str(plan), "--yes", env=server_env, cwd=workdir).returncode == 0
    rows = dict(
        sqlite3.connect(workdir / ".migrate" / "state.db").execute("select key, proof from objects")
    )
    assert rows == {"with-md5": "source-md5", "blocks": "target-md5", "large": "parts-md5"}


def test_dry_run_changes_nothing(
    servers: emulators.Servers, server_env: dict[str, str], workdir: Path, unique: str
) -> None:
    container = f"{unique}-d"
    seed(servers, container, 12, size=1000)
    with Proxy(servers.s3_url) as proxy:
        inventory = write_inventory(workdir, {"dry-data": container}, s3_url=proxy.url)
        plan = _plan(workdir, inventory, server_env)
        result = migrate("apply", str(plan), "--dry-run", env=server_env, cwd=workdir)
        assert result.returncode == 0, result.stderr
        assert proxy.recorder.mutating() == []
        assert proxy.recorder.requests == []
    assert "12 objects to copy" in result.stdout
    assert "nothing was changed" in result.stdout
    db = sqlite3.connect(workdir / ".migrate" / "state.db")
    assert db.execute("select count(*) from objects").fetchone() == (0,)
    summary = json.loads(db.execute("select summary from rehearsals").fetchone()[0])
    assert summary["copy_objects"] == 12
    assert summary["copy_bytes"] == sum(1000 + i % 7 for i in range(12))
    buckets = [b["Name"] for b in s3_client(servers).list_buckets()["Buckets"]]
    assert container not in buckets


def test_throttling_and_resets_end_with_identical_objects(
    servers: emulators.Servers, server_env: dict[str, str], workdir: Path, unique: str
) -> None:
    container = f"{unique}-f"
    seed(servers, container, 30, size=3000)
    writer(servers).put_blob_in_blocks(container, "large/x.bin", os.urandom(18 * MiB), 4 * MiB)

    def decide(method: str, path: str, count: int) -> str | None:
        if method == "PUT" and count % 4 == 0:
            return "slowdown"
        if count % 9 == 0:
            return "reset"
        return None

    with Proxy(servers.s3_url, decide) as proxy:
        inventory = write_inventory(workdir, {"flaky-data": container}, s3_url=proxy.url)
        plan = _plan(workdir, inventory, server_env)
        result = migrate("apply", str(plan), "--yes", "--workers", "4", env=server_env, cwd=workdir)
        faults = list(proxy.recorder.faults)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {kind for kind, _, _ in faults} == {"slowdown", "reset"}
    assert assert_identical(servers, container, container) == 31
    retries = (
        sqlite3.connect(workdir / ".migrate" / "state.db")
        .execute("select sum(retries) from objects")
        .fetchone()[0]
    )
    assert retries > 0


def test_objects_that_cannot_be_copied_are_reported(
    servers: emulators.Servers, server_env: dict[str, str], workdir: Path, unique: str
) -> None:
    container = f"{unique}-h"
    w = writer(servers)
    w.create_container(container)
    w.put_blob(container, "fine.txt", b"fine")
    w.put_blob(container, "ends-with-dot.", b"x")
    w.put_blob(container, "folder-marker/", b"x")
    w.put_blob(container, "cold/archived.bin", b"x")
    w.set_tier(container, "cold/archived.bin", "Archive")
    w.put_blob(container, "fat-metadata", b"x", metadata={"Notes": "n" * 2100})
    w.put_blob(container, "é" * 520, b"x")
    inventory = write_inventory(workdir, {"hard-data": container})
    plan = _plan(workdir, inventory, server_env)
    result = migrate("apply", str(plan), "--yes", env=server_env, cwd=workdir)
    assert result.returncode == 1
    out = result.stdout
    assert "5 of 6 objects failed" in out
    for fragment in (
        "ends with '.'",
        "ends with '/'",
        "Archive tier",
        "2048-byte limit",
        "key limit",
    ):
        assert fragment in out, fragment
    assert "Traceback" not in out + result.stderr
    s3 = s3_client(servers)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=container).get("Contents", [])]
    assert keys == ["fine.txt"]
    status = json.loads(migrate("status", "--format", "json", env=server_env, cwd=workdir).stdout)
    assert status["services"]["hard-data"]["state"] == "failed"
    assert status["services"]["hard-data"]["objects_failed"] == 5


def test_the_same_apply_on_a_postgresql_ledger(
    servers: emulators.Servers,
    server_env: dict[str, str],
    workdir: Path,
    unique: str,
    postgres_server: Postgres,
) -> None:
    from tools import postgres

    url = postgres.create_database(postgres_server, f"e{unique}")
    env = {**server_env, "MIGRATE_STATE_URL": url}
    container = f"{unique}-pg"
    seed(servers, container, 20)
    inventory = write_inventory(workdir, {"pg-data": container})
    assert migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=workdir).returncode == 0
    result = migrate("apply", "plan.json", "--yes", env=env, cwd=workdir)
    assert result.returncode == 0, result.stdout + result.stderr
    assert assert_identical(servers, container, container) == 20
    status = json.loads(migrate("status", "--format", "json", env=env, cwd=workdir).stdout)
    assert status["services"]["pg-data"]["objects_done"] == 20
    assert migrate("verify", "--deep", env=env, cwd=workdir).returncode == 0
    assert migrate("audit", "verify", env=env, cwd=workdir).returncode == 0
    assert not (workdir / ".migrate" / "state.db").exists()


def test_each_object_is_headed_once_and_verify_trusts_an_unchanged_listing(
    servers: emulators.Servers, server_env: dict[str, str], workdir: Path, unique: str
) -> None:
    """On the real S3 server the listing's Last-Modified (milliseconds) and the HEAD's
    (seconds) agree, so apply's verify step sends no second HEAD; `migrate verify` on its
    own HEADs every object, and one rewritten since its copy is caught."""
    container = f"{unique}-h"
    seed(servers, container, 20, size=2000)
    with Proxy(servers.s3_url) as proxy:

        def on_objects(method: str) -> list[str]:  # not the bucket's own requests
            return [p for m, p in proxy.recorder.requests if m == method and p.count("/") > 1]

        inventory = write_inventory(workdir, {"headed-data": container}, s3_url=proxy.url)
        plan = _plan(workdir, inventory, server_env)
        result = migrate("apply", str(plan), "--yes", "--workers", "4", env=server_env, cwd=workdir)
        assert result.returncode == 0, result.stdout + result.stderr
        heads, objects = on_objects("HEAD"), on_objects("PUT")
        assert sorted(heads) == sorted(objects)
        assert len(objects) == 20

        client = s3_client(servers)
        key = "data/00003.bin"
        size = client.head_object(Bucket=container, Key=key)["ContentLength"]
        client.put_object(Bucket=container, Key=key, Body=os.urandom(size))  # other bytes
        verify = migrate("verify", "headed-data", env=server_env, cwd=workdir)
        assert len(on_objects("HEAD")) == 40  # on its own, verify HEADs every object
    db = sqlite3.connect(workdir / ".migrate" / "state.db")
    summaries = [
        json.loads(r[0]) for r in db.execute("select summary from verifications order by rowid")
    ]
    assert summaries[0]["unchanged_since_write_check"] == 20
    assert verify.returncode == 1, verify.stdout + verify.stderr
    assert key in verify.stdout + verify.stderr
