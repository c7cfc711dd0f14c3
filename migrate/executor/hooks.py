"""Run an inventory hook: a shell command with MIGRATE_* variables, a timeout, its output kept.

A hook's environment is built, never inherited: the MIGRATE_* variables of the step, PATH,
HOME, LANG, TZ, and the variables the plan names in ``hooks_env`` (from the inventory's
``policy.hooks_env`` and the service's own). The tool's secrets (storage keys, the audit key,
the state URL's password) are never passed on: the inventory may not name them in
``hooks_env`` (refused at plan time), no variable of the tool's own ``MIGRATE_`` namespace is
passed through, and ``MIGRATE_STATE_URL`` is handed over without its password.

Each hook runs in a process group of its own (a new session), so that the group of a hook
orphaned by a crashed run can still be told from any other process, and a hook that times out
is ended with everything it started.
"""

from __future__ import annotations

import os
import signal
import subprocess  # nosec B404
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from migrate.redact import redact

OUTPUT_LIMIT = 16 * 1024
BASE_ENVIRONMENT = ("PATH", "HOME", "LANG", "TZ")
"""What every hook gets from the tool's environment, besides its MIGRATE_* variables."""
TOOL_PREFIX = "MIGRATE_"
"""The tool's own namespace (the audit key, the dashboard token, the state URL): never passed
through; a hook gets only the MIGRATE_* variables the step sets."""


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


def hook_environment(
    variables: Mapping[str, str], passthrough: Sequence[str], environ: Mapping[str, str]
) -> dict[str, str]:
    """The whole environment of a hook (see the module's docstring)."""
    env = {name: environ[name] for name in BASE_ENVIRONMENT if name in environ}
    for name in passthrough:
        if name in environ and not name.startswith(TOOL_PREFIX):
            env[name] = environ[name]
    env.update(variables)
    if "MIGRATE_STATE_URL" in env:
        env["MIGRATE_STATE_URL"] = without_password(env["MIGRATE_STATE_URL"])
    return env


def without_password(url: str) -> str:
    """``postgresql://user:secret@host/db`` -> ``postgresql://user@host/db``; a ``password``
    query parameter is dropped too. A hook that needs the database authenticates on its own
    (``PGPASSFILE``, a variable named in ``hooks_env``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc and "password" not in parts.query:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}@{hostport}" if user else hostport
    query = parts.query
    if query:
        kept = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "password"]
        query = urlencode(kept)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def run_hook(
    command: str,
    variables: Mapping[str, str],
    timeout: float,
    *,
    passthrough: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> HookResult:
    """Run ``command`` with ``/bin/sh -c`` in its own process group; stdout and stderr merged,
    the last 16 KiB kept. ``on_start(pid)`` is told the group's leader (and id) as soon as it
    runs; when it raises, the hook is ended and the error goes on."""
    env = hook_environment(variables, passthrough, os.environ if environ is None else environ)
    start = time.monotonic()
    # hooks are the operator's own shell commands, from the plan
    process = subprocess.Popen(  # noqa: S602  # nosec B602
        command,
        shell=True,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        if on_start is not None:
            on_start(process.pid)
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _end_group(process)
        output, _ = process.communicate()
        return HookResult(command, None, _tail(output), time.monotonic() - start, timed_out=True)
    except BaseException:
        _end_group(process)
        process.communicate()
        raise
    return HookResult(command, process.returncode, _tail(output), time.monotonic() - start)


def _end_group(process: subprocess.Popen[bytes]) -> None:
    """Kill the hook and everything it started (its process group)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


def _tail(data: bytes | None) -> str:
    return redact((data or b"")[-OUTPUT_LIMIT:].decode("utf-8", errors="replace"))
