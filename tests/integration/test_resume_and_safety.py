"""Crash and resume for real (kill -9), the one-run lock, stale plans, approval gates."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from tests.integration.helpers import (
    assert_identical,
    migrate,
    s3_client,
    seed,
    wait_for,
    write_inventory,
    writer,
)
from tests.proxy import Proxy
from tools import emulators

MiB = 1024 * 1024


def _plan(workdir: Path, inventory: Path, env: dict[str, str]) -> Path:
    result = migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=workdir)
    assert result.returncode == 0, result.stderr
    return workdir / "plan.json"


def _part_number(path: str) -> int:
    return int(path.split("partNumber=")[1].split("&", maxsplit=1)[0])


class _HoldLateParts:
    """Parts 1 and 2 reach the server and later ones wait until the kill, so that the kill
    lands mid-upload on any machine, however fast."""

    def __init__(self) -> None:
        self.on = True

    def __call__(self, method: str, path: str, _count: int) -> str | None:
        if not self.on or method != "PUT" or "partNumber=" not in path:
            return None
        return "hold" if _part_number(path) > 2 else None


def _upload_in_flight(db_path: Path, s3: Any, container: str) -> str | None:
    """The large object's upload id once two of its parts and one small object are stored."""
    if not db_path.exists():
        return None
    try:
        db = sqlite3.connect(db_path)
        row = db.execute(
            "select upload_id from uploads where key = 'a-large/cohort.bin'"
        ).fetchone()
        done = db.execute("select count(*) from objects where status='done'").fetchone()
    except sqlite3.OperationalError:
        return None
    if row is None or done[0] < 1:
        return None
    parts = s3.list_parts(Bucket=container, Key="a-large/cohort.bin", UploadId=row[0])
    return str(row[0]) if len(parts.get("Parts", [])) == 2 else None


def test_kill_9_then_resume(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-k"
    seed(servers, container, 150, size=16 * 1024, prefix="small")
    big = os.urandom(160 * MiB + 77)
    writer(servers).put_blob_in_blocks(container, "a-large/cohort.bin", big, 8 * MiB)
    db_path = tmp_path / ".migrate" / "state.db"
    s3 = s3_client(servers)
    hold = _HoldLateParts()
    with Proxy(servers.s3_url, decide=hold) as proxy:
        inventory = write_inventory(tmp_path, {"crash-data": container}, s3_url=proxy.url)
        plan = _plan(tmp_path, inventory, server_env)
        process = subprocess.Popen(
            [sys.executable, "-m", "migrate", "apply", str(plan), "--yes", "--workers", "2"],
            env=server_env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        upload: dict[str, str] = {}

        def part_uploaded() -> bool:
            upload_id = _upload_in_flight(db_path, s3, container)
            if upload_id is not None:
                upload["id"] = upload_id
            return upload_id is not None

        wait_for(part_uploaded)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        hold.on = False
        proxy.release()
        first_run = len(proxy.recorder.requests)
        db = sqlite3.connect(db_path)
        done_before = dict(db.execute("select key, updated_at from objects where status='done'"))
        assert db.execute("select pid from lock").fetchone() == (process.pid,)
        assert ("a-large/cohort.bin", upload["id"]) in [
            (u["Key"], u["UploadId"])
            for u in s3.list_multipart_uploads(Bucket=container).get("Uploads", [])
        ]
        listed_parts = s3.list_parts(
            Bucket=container, Key="a-large/cohort.bin", UploadId=upload["id"]
        )["Parts"]
        resumed = migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path)
        second = proxy.recorder.requests[first_run:]
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert assert_identical(servers, container, container) == 151
    db = sqlite3.connect(db_path)
    after = dict(db.execute("select key, updated_at from objects"))
    for key, stamp in done_before.items():
        assert after[key] == stamp, f"{key} was copied again"
    assert db.execute("select count(*) from uploads").fetchone() == (0,)
    assert db.execute("select count(*) from lock").fetchone() == (0,)
    resent = [
        path for method, path in second if method == "PUT" and f"uploadId={upload['id']}" in path
    ]
    numbers = sorted(_part_number(p) for p in resent)
    already = {p["PartNumber"] for p in listed_parts}
    assert numbers, "the interrupted upload was not finished by the second run"
    assert not already & set(numbers), (numbers, already)
    assert any(method == "POST" and f"uploadId={upload['id']}" in path for method, path in second)
    sent_again = {p for m, p in second if m == "PUT"}
    assert done_before
    for key in done_before:
        assert f"/{container}/{key}" not in sent_again, f"{key} was sent again"


def test_a_second_apply_is_refused_while_one_runs(
    server_env: dict[str, str], tmp_path: Path, unique: str, servers: emulators.Servers
) -> None:
    container = f"{unique}-l"
    seed(servers, container, 2)
    inventory = write_inventory(tmp_path, {"lock-data": container})
    plan = _plan(tmp_path, inventory, server_env)
    assert migrate("apply", str(plan), "--dry-run", env=server_env, cwd=tmp_path).returncode == 0
    db = sqlite3.connect(tmp_path / ".migrate" / "state.db")
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    start = Path(f"/proc/{holder.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    try:
        db.execute(
            "insert into lock values ('apply', 'run-x', ?, ?, ?, 'bob', "
            "'2026-11-28T10:00:00.000000Z', '2026-11-28T10:00:00.000000Z')",
            (socket.gethostname(), holder.pid, start),
        )
        db.commit()
        refused = migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path)
        assert refused.returncode == 3
        for fragment in ("run-x", "bob", str(holder.pid), "unlock --force"):
            assert fragment in refused.stderr
        status = json.loads(
            migrate("status", "--format", "json", env=server_env, cwd=tmp_path).stdout
        )
        assert status["lock"]["run"] == "run-x"
        assert status["lock"]["stale"] is True
        assert migrate("unlock", env=server_env, cwd=tmp_path).returncode == 2
        # its process runs on this host: kept, however old its heartbeat (contract, "Locks")
        kept = migrate("unlock", "--force", "run-x", env=server_env, cwd=tmp_path)
        assert kept.returncode == 3, kept.stdout + kept.stderr
        assert "run-x" in kept.stderr
    finally:
        holder.kill()
        holder.wait()
    unlocked = migrate("unlock", "--force", "run-x", env=server_env, cwd=tmp_path)
    assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
    assert "run-x" in unlocked.stdout
    assert migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path).returncode == 0


def test_a_stale_plan_is_refused(
    server_env: dict[str, str], tmp_path: Path, unique: str, servers: emulators.Servers
) -> None:
    inventory = write_inventory(tmp_path, {"stale-data": f"{unique}-s"})
    plan = _plan(tmp_path, inventory, server_env)
    inventory.write_text(inventory.read_text() + "\n# edited\n")
    refused = migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path)
    assert refused.returncode == 3
    assert "stale" in refused.stderr
    assert "migrate plan" in refused.stderr
    assert not (tmp_path / ".migrate").exists()  # neither plan nor the refused apply made one


def test_approval_gate_then_approve(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-a"
    seed(servers, container, 3)
    marker = tmp_path / "cutover.log"
    options = {
        "gated-data": {
            "approval": ["cutover"],
            "hooks": {
                "cutover": f'echo "$MIGRATE_SERVICE $MIGRATE_STEP $MIGRATE_WAVE" >> {marker}'
            },
        }
    }
    inventory = write_inventory(tmp_path, {"gated-data": container}, service_options=options)
    plan = _plan(tmp_path, inventory, server_env)
    first = migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "migrate approve gated-data cutover" in first.stdout
    status = json.loads(migrate("status", "--format", "json", env=server_env, cwd=tmp_path).stdout)
    assert status["services"]["gated-data"]["state"] == "waiting-approval"
    # the gate on cutover is asked for before the write freeze (contract, 2026-12-01)
    assert status["services"]["gated-data"]["step"] == "freeze"
    assert not marker.exists()
    bad = migrate("approve", "gated-data", "teleport", env=server_env, cwd=tmp_path)
    assert bad.returncode == 2
    approved = migrate(
        "approve", "gated-data", "cutover", "--operator", "dr-lefevre", env=server_env, cwd=tmp_path
    )
    assert approved.returncode == 0, approved.stdout + approved.stderr
    second = migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path)
    assert second.returncode == 0
    assert marker.read_text().strip() == "gated-data cutover 1"
    status = json.loads(migrate("status", "--format", "json", env=server_env, cwd=tmp_path).stdout)
    assert status["services"]["gated-data"]["state"] == "done"
    (evidence,) = (tmp_path / ".migrate" / "evidence").glob("wave-*.json")  # who approved what
    approvals = json.loads(evidence.read_text())["services"]["gated-data"]["approvals"]
    assert [(a["step"], a["operator"]) for a in approvals] == [("cutover", "dr-lefevre")]
    assert migrate("report", "--html", "r.html", env=server_env, cwd=tmp_path).returncode == 0
    assert "dr-lefevre" in (tmp_path / "r.html").read_text()


def test_a_failing_hook_fails_the_step(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path
) -> None:
    services = [
        {"name": "net-core", "kind": "network", "hooks": {"freeze": "echo revoking; exit 7"}},
        {"name": "portal", "kind": "workspace", "depends_on": ["net-core"]},
    ]
    data = yaml.safe_load(write_inventory(tmp_path, {}).read_text())
    data["services"] = services
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump(data))
    plan = _plan(tmp_path, inventory, server_env)
    result = migrate("apply", str(plan), "--yes", env=server_env, cwd=tmp_path)
    assert result.returncode == 1
    assert "freeze hook exited with status 7" in result.stdout
    status = json.loads(migrate("status", "--format", "json", env=server_env, cwd=tmp_path).stdout)
    assert status["services"]["net-core"]["state"] == "failed"
    assert "revoking" in status["services"]["net-core"]["error"]
    assert status["services"]["portal"]["state"] == "pending"


def test_missing_secret_names_the_variable(
    server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    inventory = write_inventory(tmp_path, {"secret-data": f"{unique}-m"})
    plan = _plan(tmp_path, inventory, server_env)
    env = {k: v for k, v in server_env.items() if k != "AZURE_STORAGE_KEY"}
    result = migrate("apply", str(plan), "--yes", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "AZURE_STORAGE_KEY" in result.stderr
    assert "Traceback" not in result.stderr
