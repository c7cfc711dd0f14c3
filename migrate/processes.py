"""Whether a process recorded in the ledger (a lock holder, a hook) still runs (leaf layer).

A pid alone is not an identity: pids are reused. A process is the pair (pid, start time),
the start time read from ``/proc/PID/stat`` in clock ticks since boot. A zombie (ended, not
yet reaped) does not run. Only a process of this host can be asked; for another host the
answer is None (not known).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class _Stat:
    state: str
    group: int
    start: str


def this_host() -> str:
    return socket.gethostname()


def _stat(pid: int | str) -> _Stat | None:
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (OSError, ValueError):
        return None
    fields = text.rsplit(")", 1)[1].split()  # the name, in parentheses, may hold spaces
    return _Stat(state=fields[0], group=int(fields[2]), start=fields[19])


def process_start(pid: int) -> str | None:
    """The start time of ``pid`` (clock ticks since boot), to tell a live process from a
    reused pid; None when there is no such process or no /proc."""
    stat = _stat(pid)
    return stat.start if stat is not None else None


def process_alive(host: str, pid: int, pid_start: str | None) -> bool | None:
    """True/False for a process of this host (same pid, same start time, not a zombie); None
    for another host, where only its heartbeat can tell."""
    if host != this_host():
        return None
    if not PROC.joinpath("self", "stat").exists():
        return _signal_zero(lambda: os.kill(pid, 0))
    stat = _stat(pid)
    if stat is None or stat.state == "Z":
        return False
    return pid_start is None or stat.start == pid_start


def group_alive(host: str, pid: int, pid_start: str | None) -> bool | None:
    """Whether the process group a hook was started as (``pid`` leads it and is its id) still
    has a running member: the leader itself (same start time), or, once the leader is gone,
    anything it started. None for another host."""
    if host != this_host():
        return None
    if not PROC.joinpath("self", "stat").exists():
        return _signal_zero(lambda: os.killpg(pid, 0))
    leader = _stat(pid)
    if leader is not None and pid_start is not None and leader.start != pid_start:
        return False  # the pid was handed out again: the group it led had ended
    if leader is not None and leader.state != "Z":
        return True
    return any(member.group == pid and member.state != "Z" for member in _processes())


def _processes() -> Iterator[_Stat]:
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            stat = _stat(entry.name)
            if stat is not None:
                yield stat


def _signal_zero(send: Callable[[], None]) -> bool:
    try:
        send()
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
