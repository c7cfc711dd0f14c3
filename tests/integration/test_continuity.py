"""Issue 4 end to end: a live writer, freeze and sync, deletes, verify levels, rollback,
decommission, the freeze budget."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import yaml

from tests.integration.helpers import (
    ROOT,
    assert_identical,
    migrate,
    s3_client,
    seed,
    source,
    write_inventory,
    writer,
)
from tests.proxy import Proxy
from tools import emulators


def _plan(workdir: Path, inventory: Path, env: dict[str, str]) -> Path:
    result = migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "plan.json"


def _status(workdir: Path, env: dict[str, str]) -> dict[str, Any]:
    status: dict[str, Any] = json.loads(
        migrate("status", "--format", "json", env=env, cwd=workdir).stdout
    )
    return status


def _source_keys(servers: emulators.Servers, container: str) -> set[str]:
    keys, marker = set(), None
    src = source(servers)
    while True:
        page = src.list_page(container, "", marker)
        keys |= {o.key for o in page.objects}
        if page.next_marker is None:
            return keys
        marker = page.next_marker


def _target_keys(servers: emulators.Servers, bucket: str) -> set[str]:
    s3 = s3_client(servers)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def test_a_live_writer_loses_nothing(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-w"
    seed(servers, container, 120, size=20_000)
    frozen, stopped = tmp_path / "frozen", tmp_path / "stopped"
    written: list[str] = []

    def write_until_frozen() -> None:
        w = writer(servers)
        index = 0
        while not frozen.exists():
            index += 1
            w.put_blob(container, f"live/new-{index:05d}.bin", os.urandom(3000))
            w.put_blob(container, f"data/{index % 120:05d}.bin", os.urandom(2500))  # overwrite
            if index % 50 == 0:  # under 2% of what it wrote: below the mass-delete guard's 5%
                w.delete_blob(container, f"live/new-{index - 5:05d}.bin")
            written.append(str(index))
            time.sleep(0.01)
        stopped.touch()

    options = {
        "live-data": {
            "max_downtime": "60s",
            "data": {"container": container, "propagate_deletes": True},
            "hooks": {"freeze": f"touch {frozen}; while [ ! -f {stopped} ]; do sleep 0.05; done"},
        }
    }
    inventory = write_inventory(tmp_path, {"live-data": container}, service_options=options)
    plan = _plan(tmp_path, inventory, server_env)
    thread = threading.Thread(target=write_until_frozen, daemon=True)
    thread.start()
    try:
        result = migrate(
            "apply", str(plan), "--yes", "--workers", "4", env=server_env, cwd=tmp_path
        )
    finally:
        frozen.touch()
        thread.join(timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(written) > 10, "the writer did not overlap the copy"
    assert _target_keys(servers, container) == _source_keys(servers, container)
    assert assert_identical(servers, container, container) == len(_source_keys(servers, container))
    db = sqlite3.connect(tmp_path / ".migrate" / "state.db")
    seconds, budget = db.execute(
        "select freeze_seconds, freeze_budget_seconds from services where name='live-data'"
    ).fetchone()
    assert seconds is not None
    assert seconds < budget == 60
    assert "within the 60 s budget" in result.stdout
    evidence = list((tmp_path / ".migrate" / "evidence").glob("wave-001-*.json"))
    assert len(evidence) == 1
    data = json.loads(evidence[0].read_text())
    assert data["services"]["live-data"]["freeze"]["budget_seconds"] == 60
    digest = db.execute("select sha256 from evidence").fetchone()[0]
    import hashlib

    assert hashlib.sha256(evidence[0].read_bytes()).hexdigest() == digest


def test_deletes_propagate_only_when_asked(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    on, off = f"{unique}-on", f"{unique}-off"
    seed(servers, on, 6)
    seed(servers, off, 6)
    script = tmp_path / "delete_blob.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from tools.azblob import BlobWriter\n"
        f"BlobWriter({servers.azurite_url!r}).delete_blob(sys.argv[1], 'data/00001.bin')\n"
    )
    remove = f"{sys.executable} {script} "
    options = {
        "deletes-on": {
            "data": {"container": on, "propagate_deletes": True},
            "hooks": {"freeze": remove + on},
        },
        "deletes-off": {
            "data": {"container": off, "propagate_deletes": False},
            "hooks": {"freeze": remove + off},
        },
    }
    inventory = write_inventory(
        tmp_path, {"deletes-on": on, "deletes-off": off}, service_options=options
    )
    document = yaml.safe_load(inventory.read_text())
    document["policy"]["max_delete_fraction"] = 0.2  # 1 of 6 (the mass-delete cap is 5 %)
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    plan = _plan(tmp_path, inventory, server_env)
    result = migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "data/00001.bin" not in _target_keys(servers, on)
    assert "data/00001.bin" in _target_keys(servers, off)
    assert "1 deleted at the source, deleted on the target" in result.stdout
    assert "kept on the target (propagate_deletes is off)" in result.stdout
    status = _status(tmp_path, server_env)
    assert status["services"]["deletes-on"]["objects_total"] == 5


def _applied_store(
    servers: emulators.Servers,
    env: dict[str, str],
    tmp_path: Path,
    container: str,
    *,
    proxy_url: str | None = None,
) -> Path:
    w = writer(servers)
    w.create_container(container)
    w.put_blob_in_blocks(container, "no-md5/blocks.bin", os.urandom(300_000), 100_000)
    for index in range(6):
        w.put_blob(container, f"md5/{index}.bin", os.urandom(1000 + index))
    stores = {"checked-data": container}
    inventory = (
        write_inventory(tmp_path, stores, s3_url=proxy_url)
        if proxy_url
        else write_inventory(tmp_path, stores)
    )
    plan = _plan(tmp_path, inventory, env)
    result = migrate("apply", str(plan), "--yes", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return plan


def test_verify_levels_on_bytes_corrupted_at_rest(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    """A target that returns other bytes than it stored: only --deep can tell, and the lower
    levels say what they did not check."""
    container = f"{unique}-v"
    corrupt = {"on": False}

    with Proxy(servers.s3_url) as proxy:
        original: Callable[[BaseHTTPRequestHandler, bytes], None]
        original = proxy._server.RequestHandlerClass._forward  # type: ignore[attr-defined]

        def forward(handler: BaseHTTPRequestHandler, body: bytes) -> None:
            if corrupt["on"] and handler.command == "GET" and "blocks.bin" in handler.path:
                upstream = __import__("http.client").client.HTTPConnection(
                    proxy.upstream_host, proxy.upstream_port, timeout=60
                )
                upstream.request("GET", handler.path, headers=dict(handler.headers.items()))
                answer = upstream.getresponse()
                data = bytearray(answer.read())
                data[len(data) // 2] ^= 0xFF
                handler.send_response(answer.status)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        handler.send_header(name, value)
                handler.send_header("Content-Length", str(len(data)))
                handler.end_headers()
                handler.wfile.write(bytes(data))
                return None
            return original(handler, body)

        proxy._server.RequestHandlerClass._forward = forward  # type: ignore[attr-defined]
        _applied_store(servers, server_env, tmp_path, container, proxy_url=proxy.url)
        corrupt["on"] = True
        listing = migrate("verify", env=server_env, cwd=tmp_path)
        assert listing.returncode == 0, listing.stdout + listing.stderr
        assert "not re-read" in listing.stdout
        deep = migrate("verify", "--deep", env=server_env, cwd=tmp_path)
    assert deep.returncode == 1, deep.stdout
    assert "no-md5/blocks.bin" in deep.stdout
    assert "bytes differ" in deep.stdout
    assert "1 differences" in deep.stdout


def test_verify_finds_overwrites_missing_and_extra(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-o"
    _applied_store(servers, server_env, tmp_path, container)
    s3 = s3_client(servers)
    head = s3.head_object(Bucket=container, Key="no-md5/blocks.bin")
    s3.put_object(
        Bucket=container,
        Key="no-md5/blocks.bin",
        Body=os.urandom(300_000),
        Metadata=head["Metadata"],
        ContentType=head["ContentType"],
    )
    s3.delete_object(Bucket=container, Key="md5/0.bin")
    s3.put_object(Bucket=container, Key="intruder.bin", Body=b"x")
    result = migrate("verify", "checked-data", env=server_env, cwd=tmp_path)
    assert result.returncode == 1
    out = result.stdout
    assert "'md5/0.bin': missing on the target" in out
    assert "'intruder.bin': extra on the target" in out
    assert "'no-md5/blocks.bin': target ETag" in out
    decommission = migrate("decommission", "checked-data", env=server_env, cwd=tmp_path)
    assert decommission.returncode == 3
    assert "found" in decommission.stderr


def test_verify_sample_rotates(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-r"
    _applied_store(servers, server_env, tmp_path, container)
    first = migrate("verify", "--sample", "50", env=server_env, cwd=tmp_path)
    second = migrate("verify", "--sample", "50", env=server_env, cwd=tmp_path)
    assert first.returncode == second.returncode == 0
    db = sqlite3.connect(tmp_path / ".migrate" / "state.db")
    summaries = [
        json.loads(s)
        for (s,) in db.execute(
            "select summary from verifications where level like 'sample%' order by id"
        )
    ]
    assert [s["deep_checked"] for s in summaries] == [4, 4]  # ceil(7 * 50 %), wrapping
    assert (
        db.execute("select verify_cursor from services where name='checked-data'").fetchone()[0]
        == 1
    )


def test_rollback_with_and_without_dependents(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-b"
    seed(servers, container, 3)
    log = tmp_path / "rollback.log"
    hook = f"echo $MIGRATE_SERVICE >> {log}"
    extra = [
        {
            "name": "portal-app",
            "kind": "workspace",
            "depends_on": ["store-data"],
            "hooks": {"rollback": hook},
        }
    ]
    options = {"store-data": {"hooks": {"rollback": hook}}}
    inventory = write_inventory(
        tmp_path, {"store-data": container}, extra_services=extra, service_options=options
    )
    plan = _plan(tmp_path, inventory, server_env)
    assert migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path).returncode == 0
    refused = migrate("rollback", "store-data", env=server_env, cwd=tmp_path)
    assert refused.returncode == 3
    assert "portal-app depends on store-data and is cut over" in refused.stderr
    assert not log.exists()
    cascade = migrate("rollback", "store-data", "--cascade", env=server_env, cwd=tmp_path)
    assert cascade.returncode == 0, cascade.stdout + cascade.stderr
    assert log.read_text().split() == ["portal-app", "store-data"]
    status = _status(tmp_path, server_env)
    assert status["services"]["store-data"]["state"] == "rolled-back"
    assert status["services"]["portal-app"]["state"] == "rolled-back"
    assert container in {b["Name"] for b in s3_client(servers).list_buckets()["Buckets"]}
    assert len(_source_keys(servers, container)) == 3  # the source is intact
    again = migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path)
    assert again.returncode == 0
    status = _status(tmp_path, server_env)
    assert status["services"]["store-data"]["state"] == "done"
    alone = migrate("rollback", "portal-app", env=server_env, cwd=tmp_path)
    assert alone.returncode == 0
    assert migrate("rollback", "portal-app", env=server_env, cwd=tmp_path).returncode == 3


def test_decommission_refusals_then_allowed(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-x"
    seed(servers, container, 2)
    marker = tmp_path / "retired"
    options = {"old-data": {"hooks": {"decommission": f"touch {marker}"}}}
    inventory = write_inventory(tmp_path, {"old-data": container}, service_options=options)
    plan = _plan(tmp_path, inventory, server_env)
    assert migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path).returncode == 0
    refused = migrate("decommission", "old-data", env=server_env, cwd=tmp_path)
    assert refused.returncode == 3
    assert "no approval" in refused.stderr
    assert "notice period is not over" in refused.stderr
    assert (
        migrate("approve", "old-data", "decommission", env=server_env, cwd=tmp_path).returncode == 0
    )
    still = migrate("decommission", "old-data", env=server_env, cwd=tmp_path)
    assert still.returncode == 3
    assert "no approval" not in still.stderr
    assert "21.0 days" in still.stderr
    data = yaml.safe_load(inventory.read_text())
    data["policy"]["decommission_notice"] = "0s"
    inventory.write_text(yaml.safe_dump(data))
    plan = _plan(tmp_path, inventory, server_env)
    assert migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path).returncode == 0
    allowed = migrate("decommission", "old-data", env=server_env, cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert marker.exists()
    assert len(_source_keys(servers, container)) == 2  # never deletes the source itself
    assert migrate("decommission", "old-data", env=server_env, cwd=tmp_path).returncode == 3
    assert migrate("rollback", "old-data", env=server_env, cwd=tmp_path).returncode == 3


def test_freeze_budget_exceeded_hold_or_rollback(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    hold, back = f"{unique}-hold", f"{unique}-back"
    seed(servers, hold, 2)
    seed(servers, back, 2)
    log = tmp_path / "rollback.log"
    options = {
        "hold-data": {"max_downtime": "1s", "hooks": {"freeze": "sleep 2"}},
        "back-data": {
            "max_downtime": "1s",
            "on_budget_exceeded": "rollback",
            "hooks": {"freeze": "sleep 2", "rollback": f"echo unfrozen >> {log}"},
        },
    }
    inventory = write_inventory(
        tmp_path, {"hold-data": hold, "back-data": back}, service_options=options
    )
    plan = _plan(tmp_path, inventory, server_env)
    first = migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr  # a rollback is not a success
    assert "1 rolled back" in first.stdout
    status = _status(tmp_path, server_env)
    assert status["services"]["hold-data"]["state"] == "waiting-approval"
    assert "over the 1 s budget" in status["services"]["hold-data"]["error"]
    assert status["services"]["back-data"]["state"] == "rolled-back"
    assert log.read_text().strip() == "unfrozen"
    assert migrate("approve", "hold-data", "cutover", env=server_env, cwd=tmp_path).returncode == 0
    second = migrate(
        "apply", str(plan), "--yes", "--only", "hold-data", env=server_env, cwd=tmp_path
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert _status(tmp_path, server_env)["services"]["hold-data"]["state"] == "done"
    assert "OVER the 1 s budget" in second.stdout
