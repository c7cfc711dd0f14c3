"""A run that finds its lock gone or taken stops: the heartbeat that touches no row tells the
watch, which sets the run's stop event (the copy loops' flag) and says why; a hook's
environment; a hook left running by a stopped run is waited for, or the step refused."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from migrate.commands.apply import heartbeat
from migrate.executor.copy import Interrupted
from migrate.executor.hooks import hook_environment, run_hook, without_password
from migrate.executor.lockwatch import LockWatch
from migrate.executor.orphans import HookCall, HookStillRunning, settle_earlier_hook
from migrate.ledger import HookProcess, LockInfo
from migrate.processes import group_alive, process_start, this_host


def _info(run_id: str, operator: str = "bob") -> LockInfo:
    return LockInfo(run_id, "host-a", 4242, None, operator, "t0", "t0")


class _Lock:
    def __init__(self, holder: LockInfo | None) -> None:
        self.holder = holder
        self.beats = 0

    def heartbeat(self, run_id: str) -> bool:
        self.beats += 1
        return self.holder is not None and self.holder.run_id == run_id

    def lock_info(self) -> LockInfo | None:
        return self.holder


def test_a_heartbeat_that_touches_no_row_stops_the_run() -> None:
    lock = _Lock(_info("run-1"))
    stop = threading.Event()
    watch = LockWatch("run-1", lock.lock_info, stop)
    with heartbeat(lock, watch, seconds=0.01):
        time.sleep(0.05)
        assert not stop.is_set()
        lock.holder = _info("run-2", "mallory")
        assert stop.wait(2.0)
    assert watch.lost is not None
    assert "held by run run-2 of mallory" in watch.lost
    assert not watch.holds()


def test_the_watch_sees_a_released_lock_before_a_step() -> None:
    lock = _Lock(_info("run-1"))
    stop = threading.Event()
    watch = LockWatch("run-1", lock.lock_info, stop)
    assert watch.holds()
    lock.holder = None
    assert not watch.holds()
    assert stop.is_set()
    assert watch.lost is not None
    assert "released" in watch.lost


def test_a_hook_environment_is_built_not_inherited() -> None:
    environ = {
        "PATH": "/bin",
        "HOME": "/home/op",
        "LANG": "C.UTF-8",
        "AWS_SECRET_ACCESS_KEY": "s",
        "MIGRATE_AUDIT_HMAC_KEY": "k",
        "WANTED": "w",
    }
    env = hook_environment(
        {"MIGRATE_STEP": "freeze", "MIGRATE_STATE_URL": "postgresql://u:pw@db/ledger"},
        ["WANTED", "MIGRATE_AUDIT_HMAC_KEY", "ABSENT"],
        environ,
    )
    assert env == {
        "PATH": "/bin",
        "HOME": "/home/op",
        "LANG": "C.UTF-8",
        "WANTED": "w",
        "MIGRATE_STEP": "freeze",
        "MIGRATE_STATE_URL": "postgresql://u@db/ledger",
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///.migrate/state.db", "sqlite:///.migrate/state.db"),
        ("postgresql+psycopg://u:p%40ss@h:5432/db?sslmode=require", None),
        ("postgresql://:pw@h/db", "postgresql://h/db"),
        ("postgresql://u@h/db?password=pw&sslmode=verify-full", None),
    ],
)
def test_the_state_url_loses_its_password(url: str, expected: str | None) -> None:
    cleaned = without_password(url)
    if expected is not None:
        assert cleaned == expected
    assert "pw" not in cleaned
    assert "p%40ss" not in cleaned


def test_a_hook_runs_in_its_own_process_group() -> None:
    seen: list[int] = []
    result = run_hook(
        f"{sys.executable} -c 'import os; print(os.getpgid(0), os.getpid())'",
        {},
        30,
        on_start=seen.append,
    )
    assert result.ok, result.output
    group, _ = (int(n) for n in result.output.split())
    assert group == seen[0]  # the group the run records is the hook's own
    assert group != os.getpgid(0)


def test_a_hook_that_times_out_is_ended_with_its_children(tmp_path: Path) -> None:
    marker = tmp_path / "child-lived"
    result = run_hook(f"(sleep 2; touch {marker}) & sleep 30", {}, 0.5)
    assert result.timed_out
    time.sleep(2.5)
    assert not marker.exists()


class _Journal:
    def __init__(self, earlier: HookProcess | None) -> None:
        self.earlier = earlier

    def hook_started(self, hook: HookProcess) -> None:
        self.earlier = hook

    def hook_ended(self, service: str, step: str, run_id: str) -> None:
        self.earlier = None

    def hook_running(self, service: str, step: str) -> HookProcess | None:
        return self.earlier


def _call(timeout: float = 5.0) -> HookCall:
    return HookCall("portal", "freeze", "run-2", "true", {}, timeout)


def _orphan(pid: int, start: str | None) -> HookProcess:
    return HookProcess("portal", "freeze", "run-1", this_host(), pid, start, "t0")


def test_a_hook_left_running_is_waited_for_then_refused() -> None:
    process = os.posix_spawn("/bin/sleep", ["sleep", "30"], dict(os.environ), setsid=True)
    try:
        journal = _Journal(_orphan(process, process_start(process)))
        clock = iter(range(0, 100))
        with pytest.raises(HookStillRunning, match=f"pid {process}"):
            settle_earlier_hook(
                journal, _call(), threading.Event(), clock=lambda: next(clock), sleep=lambda _: None
            )
        stop = threading.Event()
        stop.set()
        with pytest.raises(Interrupted):
            settle_earlier_hook(journal, _call(timeout=1e9), stop)
    finally:
        os.kill(process, 9)
        os.waitpid(process, 0)
    assert group_alive(this_host(), process, None) is False
    found = settle_earlier_hook(journal, _call(), threading.Event())
    assert "had ended" in found


def test_a_reused_pid_is_not_the_hook() -> None:
    own = os.getpid()
    assert group_alive(this_host(), own, "1") is False  # same pid, another start time
    assert group_alive("elsewhere.invalid", own, None) is None
