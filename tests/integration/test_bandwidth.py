"""The bandwidth limit through the CLI against the real servers: --bwlimit holds on a 32 MiB
copy, `migrate bwlimit` changes a running apply, and a timetable's boundary inside a copy
lifts the limit there. The assertions are the limit's safety (the copy never ran faster than
allowed) and that each change took effect; the accuracy goal is measured by
bench/bandwidth_bench.py."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.integration.helpers import migrate, popen_migrate, wait_for, write_inventory, writer
from tools import emulators

pytestmark = pytest.mark.integration

MiB = 1024**2
OBJECT = 4 * MiB


def _seed(servers: emulators.Servers, container: str, count: int) -> None:
    blobs = writer(servers)
    blobs.create_container(container)
    for index in range(count):
        blobs.put_blob(container, f"part-{index:02d}.bin", os.urandom(OBJECT))


def _plan(tmp_path: Path, env: dict[str, str], container: str, limit: str | None = None) -> None:
    options: dict[str, dict[str, Any]] = {"limited": {"data": {"container": container}}}
    write_inventory(tmp_path, {"limited": container}, service_options=options)
    if limit is not None:
        import yaml

        path = tmp_path / "inventory.yaml"
        document = yaml.safe_load(path.read_text())
        document["policy"]["bandwidth_limit"] = limit
        path.write_text(yaml.safe_dump(document, sort_keys=False))
    planned = migrate("plan", "inventory.yaml", "-o", "plan.json", env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stdout + planned.stderr


def _replicate_seconds(state: Path) -> float:
    with sqlite3.connect(state) as db:
        started, ended = db.execute(
            "SELECT started_at, ended_at FROM steps WHERE service='limited' AND step='replicate'"
        ).fetchone()
    return (_when(ended) - _when(started)).total_seconds()


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def _changes(state: Path) -> list[tuple[datetime, dict[str, Any]]]:
    with sqlite3.connect(state) as db:
        rows = db.execute(
            "SELECT at, detail FROM audit_events WHERE action='bandwidth.changed' ORDER BY seq"
        ).fetchall()
    return [(_when(at), json.loads(detail)) for at, detail in rows]


def _status(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    result = migrate("status", "--format", "json", env=env, cwd=tmp_path)
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_the_limit_holds_on_a_32_mib_copy_and_status_shows_it(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    _seed(servers, unique, 8)
    _plan(tmp_path, server_env, unique, limit="1G")  # the flag wins over the policy
    run = popen_migrate(
        "apply", "plan.json", "--yes", "--bwlimit", "4M", env=server_env, cwd=tmp_path
    )
    seen: list[dict[str, Any]] = []

    def limited_in_status() -> bool:
        seen.append(_status(tmp_path, server_env))
        lock = seen[-1]["lock"] or {}
        return lock.get("bandwidth_limit") is not None or run.poll() is not None

    wait_for(limited_in_status, timeout=60)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 0, output
    assert "Bandwidth limit: 4 MiB/s by --bwlimit (4M)" in output
    holding = seen[-1]["lock"]["bandwidth_limit"]
    assert holding["bytes_per_s"] == 4 * MiB
    assert holding["source"] == "--bwlimit"
    # 32 MiB at 4 MiB/s with one second of burst: never under 7 s (x 0.95 for the clocks)
    assert _replicate_seconds(tmp_path / ".migrate" / "state.db") >= 28 / 4 * 0.95
    assert _status(tmp_path, server_env)["lock"] is None  # no apply runs now, no limit held


def test_migrate_bwlimit_changes_a_running_apply(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    _seed(servers, unique, 8)
    _plan(tmp_path, server_env, unique, limit="1M")  # 32 MiB would take 31 s
    run = popen_migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path)

    def limited() -> bool:
        lock = _status(tmp_path, server_env)["lock"] or {}
        return lock.get("bandwidth_limit") is not None or run.poll() is not None

    wait_for(limited, timeout=60)
    time.sleep(2)  # copying at 1 MiB/s (the eight copies share it: none is done yet)
    lifted = migrate("bwlimit", "off", env=server_env, cwd=tmp_path)
    assert lifted.returncode == 0, lifted.stdout + lifted.stderr
    assert "Set here: off" in lifted.stdout
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 0, output
    state = tmp_path / ".migrate" / "state.db"
    assert _replicate_seconds(state) < 31 * 0.7  # the rest went unlimited
    sources = [detail["source"] for _, detail in _changes(state)]
    assert sources[:1] == ["policy.bandwidth_limit"]
    assert "migrate bwlimit" in sources
    shown = migrate("bwlimit", "--json", env=server_env, cwd=tmp_path)
    assert json.loads(shown.stdout) == {"override": None, "running": None}  # that run is over
    later = migrate("bwlimit", "5M", env=server_env, cwd=tmp_path)
    assert later.returncode == 2, later.stdout + later.stderr
    assert "no apply is running" in later.stderr
    reset = migrate("bwlimit", "--reset", env=server_env, cwd=tmp_path)
    assert reset.returncode == 0
    assert "Set here: none" in reset.stdout
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lost = migrate("bwlimit", "5M", env=server_env, cwd=elsewhere)
    assert lost.returncode == 2
    assert "no state database" in lost.stderr
    assert not (elsewhere / ".migrate").exists()  # nothing created in the wrong folder


def test_a_timetable_boundary_inside_the_copy_changes_the_rate_there(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    _seed(servers, unique, 16)  # 64 MiB: 32 s at 2 MiB/s
    _plan(tmp_path, server_env, unique)
    # A time zone that puts the machine's local time 8 s before 12:01 now.
    now = datetime.now(UTC)
    wanted = now.replace(hour=12, minute=0, second=52, microsecond=0)
    shift = round((wanted - now).total_seconds()) % 86400
    if shift > 43200:
        shift -= 86400
    sign = "-" if shift >= 0 else "+"  # POSIX: local = UTC - offset
    hours, rest = divmod(abs(shift), 3600)
    env = {**server_env, "TZ": f"XYZ{sign}{hours}:{rest // 60:02d}:{rest % 60:02d}"}
    started = time.monotonic()
    result = migrate(
        "apply", "plan.json", "--yes", "--bwlimit", "00:00,2M 12:01,off", env=env, cwd=tmp_path
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "next change at 12:01" in result.stdout
    state = tmp_path / ".migrate" / "state.db"
    changes = _changes(state)
    assert [d["bytes_per_s"] for _, d in changes] == [2 * MiB, None]
    boundary = changes[1][0]
    assert boundary - changes[0][0] >= timedelta(seconds=6)  # held until the boundary
    assert _replicate_seconds(state) < 32 * 0.7  # and lifted there, inside the copy
    assert time.monotonic() - started < 60
