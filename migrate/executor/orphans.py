"""A hook is never run twice at once: each run writes down the process group of every hook it
starts (pid and start time) and clears it when the hook ends. A run killed in the middle of a
hook (``kill -9``, a power cut on the coordinator) leaves that record, and its hook may run on.
The next run that comes to the same step finds the record and, when the hook's group is still
alive on this host, says so and waits for it (bounded by the hook timeout), or refuses.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from migrate.executor.copy import Interrupted
from migrate.executor.hooks import HookResult, run_hook
from migrate.kinds.base import StepFailed
from migrate.ledger import HookJournal, HookProcess
from migrate.processes import group_alive, process_start, this_host
from migrate.timeutil import now_iso

POLL_SECONDS = 0.2


class HookStillRunning(StepFailed):
    """The hook a stopped run left behind still runs: this run does not start it again."""


@dataclass(frozen=True)
class HookCall:
    """One hook to run: which step of which service, for which run, and how."""

    service: str
    step: str
    run_id: str
    command: str
    variables: Mapping[str, str]
    timeout: float
    passthrough: Sequence[str] = ()


def settle_earlier_hook(
    journal: HookJournal,
    call: HookCall,
    stop: threading.Event,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Wait for the hook of this step that an earlier run left running, up to the hook
    timeout; returns what was found (for the step's detail), "" when nothing. Raises
    HookStillRunning when it outlasts the wait, Interrupted when the run stops meanwhile."""
    earlier = journal.hook_running(call.service, call.step)
    if earlier is None or earlier.run_id == call.run_id:
        return ""
    alive = group_alive(earlier.host, earlier.pid, earlier.pid_start)
    if alive is None:
        return (
            f"the {call.step} hook started by run {earlier.run_id} on {earlier.host} "
            f"(pid {earlier.pid}) was never seen to end; from {this_host()} it cannot be told "
            "whether it still runs there"
        )
    if not alive:
        return f"the {call.step} hook started by run {earlier.run_id} had ended; run again"
    started = clock()
    deadline = started + call.timeout
    while group_alive(earlier.host, earlier.pid, earlier.pid_start):
        if stop.is_set():
            raise Interrupted(f"stopped while waiting for {_described(earlier)}")
        if clock() >= deadline:
            raise HookStillRunning(
                f"{_described(earlier)} is still running after {call.timeout:.0f} s of "
                "waiting (the hook timeout): it was left behind when that run stopped, and it "
                "is not started again beside it. Let it finish or end it "
                f"(`kill -TERM -- -{earlier.pid}`), then apply again"
            )
        sleep(POLL_SECONDS)
    return f"waited {clock() - started:.1f} s for {_described(earlier)} to end, then ran it again"


def run_recorded_hook(journal: HookJournal, call: HookCall) -> HookResult:
    """Run the hook with its process group written down while it runs."""

    def started(pid: int) -> None:
        journal.hook_started(
            HookProcess(
                service=call.service,
                step=call.step,
                run_id=call.run_id,
                host=this_host(),
                pid=pid,
                pid_start=process_start(pid),
                started_at=now_iso(),
            )
        )

    try:
        return run_hook(
            call.command,
            call.variables,
            call.timeout,
            passthrough=call.passthrough,
            on_start=started,
        )
    finally:
        journal.hook_ended(call.service, call.step, call.run_id)


def _described(hook: HookProcess) -> str:
    return (
        f"the {hook.step} hook of {hook.service} started by run {hook.run_id} at "
        f"{hook.started_at} (pid {hook.pid}, its process group {hook.pid} on {hook.host})"
    )
