"""Helpers of the tests through the CLI: ``migrate`` run as a subprocess, local folders (no
server), services whose hooks log when they start and end, the ledger read and written with
sqlite3."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

STAMP = "%Y-%m-%dT%H:%M:%S.%fZ"


def migrate_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MIGRATE_STATE_URL"}
    env["COLUMNS"] = "1000"  # sentences on one line, as the assertions read them
    env.update(extra or {})
    return env


def run(
    *args: str,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = 120,
    answer: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """``answer``: what is written to the command's standard input (a pipe, not a terminal)."""
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        cwd=cwd,
        input=answer,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
        env=migrate_env(env),
    )


def start(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "migrate", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=migrate_env(env),
    )


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def logged(log: Path, label: str, seconds: float = 0.0) -> str:
    """A hook that writes '<label> start|end <time>' around a pause."""
    return (
        f'echo "{label} start $(date +%s.%N)" >> {log}; sleep {seconds}; '
        f'echo "{label} end $(date +%s.%N)" >> {log}'
    )


def gated(log: Path, label: str, gate: Path) -> str:
    """A hook that writes '<label> start', waits (at most a minute) until ``gate`` exists,
    then writes '<label> end': the test decides how long it runs, on any machine."""
    return (
        f'echo "{label} start $(date +%s.%N)" >> {log}; '
        f"for i in $(seq 600); do [ -e {gate} ] && break; sleep 0.1; done; "
        f'echo "{label} end $(date +%s.%N)" >> {log}'
    )


def events(log: Path) -> list[tuple[str, str, float]]:
    """(label, start|end, time) in the order written."""
    if not log.exists():
        return []
    found = []
    for line in log.read_text().splitlines():
        label, edge, stamp = line.split()
        found.append((label, edge, float(stamp)))
    return found


def write_plan(
    tmp_path: Path,
    services: list[dict[str, Any]],
    policy: dict[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Path:
    """An inventory of these services over local folders, planned into plan.json."""
    (tmp_path / "src").mkdir(exist_ok=True)
    document = {
        "version": 1,
        "name": "local-hub",
        "source": {"provider": "local", "path": str(tmp_path / "src")},
        "target": {"provider": "local", "path": str(tmp_path / "dst"), "encryption": "none"},
        "policy": {"pilot_wave": False, "require_encryption": False, **(policy or {})},
        "services": services,
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    planned = run("plan", "inventory.yaml", "-o", "plan.json", cwd=tmp_path, env=env)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    return tmp_path / "plan.json"


@contextmanager
def ledger(tmp_path: Path) -> Iterator[sqlite3.Connection]:
    """The state database, committed and closed at the end of the block."""
    db = sqlite3.connect(tmp_path / ".migrate" / "state.db", timeout=30)
    try:
        with db:
            yield db
    finally:
        db.close()


def wait_for(check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def stamp(ago: float = 0.0) -> str:
    return (datetime.now(UTC) - timedelta(seconds=ago)).strftime(STAMP)


def process_start(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def hold_lock(
    tmp_path: Path,
    run_id: str,
    *,
    host: str,
    pid: int,
    pid_start: str | None,
    heartbeat: str,
) -> None:
    """Write a lock row as a run of ``host`` would have."""
    with ledger(tmp_path) as db:
        db.execute("delete from lock")
        db.execute(
            "insert into lock (name, run_id, host, pid, pid_start, operator, started_at, "
            "heartbeat_at) values ('apply', ?, ?, ?, ?, 'bob', ?, ?)",
            (run_id, host, pid, pid_start, stamp(3600), heartbeat),
        )


def lock_row(tmp_path: Path) -> tuple[str, str] | None:
    """(run id, operator) of the lock, or None."""
    with ledger(tmp_path) as db:
        row = db.execute("select run_id, operator from lock").fetchone()
    return None if row is None else (str(row[0]), str(row[1]))
