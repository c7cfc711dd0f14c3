"""Run an inventory hook: a shell command with MIGRATE_* variables, a timeout, its output kept."""

from __future__ import annotations

import os
import subprocess  # nosec B404
import time
from collections.abc import Mapping
from dataclasses import dataclass

from migrate.redact import redact

OUTPUT_LIMIT = 16 * 1024


@dataclass(frozen=True)
class HookResult:
    command: str
    exit_code: int | None
    output: str
    seconds: float
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def describe(self) -> str:
        if self.timed_out:
            return f"hook timed out after {self.seconds:.0f} s"
        return f"hook exited with status {self.exit_code} after {self.seconds:.1f} s"


def run_hook(command: str, variables: Mapping[str, str], timeout: float) -> HookResult:
    """Run ``command`` with ``/bin/sh -c``; stdout and stderr merged, the last 16 KiB kept."""
    start = time.monotonic()
    env = {**os.environ, **variables}
    try:
        # hooks are the operator's own shell commands, from the inventory
        completed = subprocess.run(  # noqa: S602  # nosec B602
            command,
            shell=True,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as expired:
        output = expired.output or b""
        return HookResult(command, None, _tail(output), time.monotonic() - start, timed_out=True)
    return HookResult(
        command, completed.returncode, _tail(completed.stdout), time.monotonic() - start
    )


def _tail(data: bytes) -> str:
    return redact(data[-OUTPUT_LIMIT:].decode("utf-8", errors="replace"))
