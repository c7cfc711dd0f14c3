"""The state lock through the CLI (contract, additions of 2026-12-01, "Locks"): `unlock --force
[RUN_ID]` never releases a live holder (on this host the process decides, elsewhere a fresh
heartbeat), a run that finds its lock gone or taken stops before its next step, and an apply
refused by the lock changes no row."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.support import (
    events,
    gated,
    hold_lock,
    ledger,
    lock_row,
    logged,
    process_start,
    run,
    stamp,
    start,
    wait_for,
    write_plan,
)


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of this host to stand for a lock holder."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _hooks_only(tmp_path: Path, prepare: str, freeze: str = "true") -> Path:
    return write_plan(
        tmp_path,
        [{"name": "portal", "kind": "compute", "hooks": {"prepare": prepare, "freeze": freeze}}],
    )


def _ledger_exists(tmp_path: Path) -> None:
    plan = _hooks_only(tmp_path, "true")
    assert run("apply", plan.name, "--dry-run", cwd=tmp_path).returncode == 0


def test_unlock_force_never_releases_a_running_apply(tmp_path: Path) -> None:
    """The reproduction of issue 14: `unlock --force` released a live run's lock, and two
    applies then ran the hooks and cutovers twice."""
    log, gate = tmp_path / "hooks.log", tmp_path / "go"
    plan = _hooks_only(tmp_path, gated(log, "prepare", gate))
    apply = start("apply", plan.name, "--yes", cwd=tmp_path)
    try:
        wait_for(lambda: any(edge == "start" for _, edge, _ in events(log)))
        holder = lock_row(tmp_path)
        assert holder is not None
        for args in (("--force",), ("--force", holder[0])):
            refused = run("unlock", *args, cwd=tmp_path)
            assert refused.returncode == 3, refused.stdout + refused.stderr
            assert holder[0] in refused.stderr
            assert "runs on this host" in refused.stderr
            assert "Nothing was released" in refused.stderr
            assert lock_row(tmp_path) == holder
        gate.touch()
        out, err = apply.communicate(timeout=60)
    finally:
        apply.kill()
        apply.wait()
    assert apply.returncode == 0, out + err
    assert lock_row(tmp_path) is None


def test_on_this_host_the_process_decides_not_the_heartbeat(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    _ledger_exists(tmp_path)
    here = socket.gethostname()
    hold_lock(
        tmp_path,
        "run-alive",
        host=here,
        pid=sleeper.pid,
        pid_start=process_start(sleeper.pid),
        heartbeat=stamp(3600),  # an hour old: the process still runs
    )
    kept = run("unlock", "--force", cwd=tmp_path)
    assert kept.returncode == 3, kept.stdout + kept.stderr
    assert "run-alive" in kept.stderr
    assert f"pid {sleeper.pid}" in kept.stderr
    assert lock_row(tmp_path) == ("run-alive", "bob")
    # the same pid with another start time is another process: the holder is gone
    hold_lock(tmp_path, "run-reused", host=here, pid=sleeper.pid, pid_start="1", heartbeat=stamp())
    released = run("unlock", "--force", cwd=tmp_path)
    assert released.returncode == 0, released.stdout + released.stderr
    assert "run-reused" in released.stdout
    assert lock_row(tmp_path) is None


def test_unlock_with_a_run_id_releases_that_run_only(tmp_path: Path) -> None:
    _ledger_exists(tmp_path)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    started = process_start(gone.pid)
    gone.wait()
    hold_lock(
        tmp_path,
        "run-crashed",
        host=socket.gethostname(),
        pid=gone.pid,
        pid_start=started,
        heartbeat=stamp(),  # fresh, yet its process is gone
    )
    other = run("unlock", "--force", "run-other", cwd=tmp_path)
    assert other.returncode == 3, other.stdout + other.stderr
    assert "held by run run-crashed, not by run run-other" in other.stderr
    assert lock_row(tmp_path) == ("run-crashed", "bob")
    released = run("unlock", "--force", "run-crashed", cwd=tmp_path)
    assert released.returncode == 0, released.stdout + released.stderr
    assert "Released the lock of run run-crashed" in released.stdout
    assert "no longer runs on this host" in released.stdout
    assert lock_row(tmp_path) is None
    with ledger(tmp_path) as db:
        results = db.execute(
            "select subject, result from audit_events where action = 'lock.force-unlock'"
        ).fetchall()
    assert results == [("run-crashed", "refused"), ("run-crashed", "released")]
    assert run("unlock", cwd=tmp_path).returncode == 2  # --force is still required


def test_on_another_host_a_fresh_heartbeat_keeps_the_lock(tmp_path: Path) -> None:
    _ledger_exists(tmp_path)
    hold_lock(
        tmp_path, "run-far", host="elsewhere.invalid", pid=1, pid_start=None, heartbeat=stamp(5)
    )
    kept = run("unlock", "--force", "run-far", cwd=tmp_path)
    assert kept.returncode == 3, kept.stdout + kept.stderr
    assert "another host (elsewhere.invalid)" in kept.stderr
    assert "fresh" in kept.stderr
    hold_lock(
        tmp_path, "run-far", host="elsewhere.invalid", pid=1, pid_start=None, heartbeat=stamp(300)
    )
    released = run("unlock", "--force", "run-far", cwd=tmp_path)
    assert released.returncode == 0, released.stdout + released.stderr
    assert "stale" in released.stdout
    assert lock_row(tmp_path) is None


@pytest.mark.parametrize("loss", ["released", "taken"])
def test_a_run_that_loses_its_lock_stops_before_its_next_step(tmp_path: Path, loss: str) -> None:
    log, gate = tmp_path / "hooks.log", tmp_path / "go"
    plan = _hooks_only(tmp_path, gated(log, "prepare", gate), freeze=logged(log, "freeze"))
    apply = start("apply", plan.name, "--yes", cwd=tmp_path)
    try:
        wait_for(lambda: ("prepare", "start") in [(label, e) for label, e, _ in events(log)])
        with ledger(tmp_path) as db:
            if loss == "released":
                db.execute("delete from lock")
            else:
                db.execute("update lock set run_id = 'run-intruder', operator = 'mallory'")
        gate.touch()
        out, err = apply.communicate(timeout=60)
    finally:
        apply.kill()
        apply.wait()
    assert apply.returncode == 3, out + err
    assert ("prepare", "end") in [(label, e) for label, e, _ in events(log)]
    assert "freeze" not in [label for label, _, _ in events(log)]  # the next step never ran
    assert "stopped" in err
    assert "ran no further step" in err
    if loss == "released":
        assert "lock was released" in err
        assert lock_row(tmp_path) is None
    else:
        assert "held by run run-intruder of mallory" in err
        assert lock_row(tmp_path) == ("run-intruder", "mallory")  # never released by the loser
    status = json.loads(run("status", "--format", "json", cwd=tmp_path).stdout)
    portal = status["services"]["portal"]
    assert portal["state"] == "pending"
    assert portal["step"] == "freeze"
    assert "state lock" in portal["error"]


def test_an_apply_refused_by_the_lock_changes_no_row(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    _ledger_exists(tmp_path)
    hold_lock(
        tmp_path,
        "run-alive",
        host=socket.gethostname(),
        pid=sleeper.pid,
        pid_start=process_start(sleeper.pid),
        heartbeat=stamp(),
    )
    with ledger(tmp_path) as db:
        before = list(db.iterdump())
    refused = run("apply", "plan.json", "--yes", cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "migrate unlock --force run-alive" in refused.stderr
    with ledger(tmp_path) as db:
        after = list(db.iterdump())
    assert after == before
