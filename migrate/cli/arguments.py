"""Command-line flags into typed arguments: pure functions, tested without a process.

A parse function checks what the flags say on their own (ranges, combinations, lists) and
returns a frozen record, or raises ``InvalidInput`` (exit 2) / ``RefusedForSafety`` (exit 3);
it reads no file and opens no connection. The command then runs the operation with the record
and a view renders the result (Terraform's ``arguments.ParsePlan``, then the operation, then
the view). Light on purpose: the command modules import it when typer registers them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from migrate.errors import InvalidInput

DEFAULT_STATE_URL = "sqlite:///.migrate/state.db"
MAX_WORKERS = 256

Executor = Literal["local", "dask"]


class LogFormat(StrEnum):
    text = "text"
    json = "json"


def resolve_state_url(option: str | None, env: Mapping[str, str]) -> str:
    """--state, else $MIGRATE_STATE_URL, else the default."""
    return option or env.get("MIGRATE_STATE_URL") or DEFAULT_STATE_URL


def split_names(values: Iterable[str] | None) -> tuple[str, ...]:
    """``--only a,b --only c`` -> ``("a", "b", "c")``: repeatable and comma-separated, blanks
    and spaces around names dropped."""
    return tuple(
        name.strip() for value in values or () for name in value.split(",") if name.strip()
    )


@dataclass(frozen=True)
class ApplyArguments:
    """``migrate apply``'s flags, checked."""

    plan_file: Path
    state_url: str
    dry_run: bool = False
    workers: int = 8
    wave: int | None = None
    only: tuple[str, ...] = ()
    only_failed: bool = False
    project: str | None = None
    executor: Executor = "local"
    scheduler: str | None = None
    """The dask scheduler as given (checked); set exactly when ``executor`` is dask."""
    inventory: Path | None = None
    insecure: bool = False
    operator: str | None = None
    yes: bool = False
    log_format: LogFormat = LogFormat.text
    repair: str | None = None
    """``--repair SERVICE``: copy again what its last verification found the target lost."""
    force: bool = False
    detailed_exitcode: bool = False
    bwlimit: str | None = None
    """``--bwlimit``: a rate or a timetable (checked)."""


def parse_apply(
    plan_file: Path,
    *,
    env: Mapping[str, str],
    dry_run: bool = False,
    workers: int = 8,
    wave: int | None = None,
    only: Iterable[str] | None = None,
    only_failed: bool = False,
    project: str | None = None,
    executor: str = "local",
    scheduler: str | None = None,
    inventory: Path | None = None,
    insecure: bool = False,
    operator: str | None = None,
    yes: bool = False,
    log_format: LogFormat = LogFormat.text,
    state: str | None = None,
    repair: str | None = None,
    force: bool = False,
    detailed_exitcode: bool = False,
    bwlimit: str | None = None,
) -> ApplyArguments:
    """Check ``migrate apply``'s flags, in the order the errors are reported: the number of
    workers, the executor, the executor with the scheduler, the scheduler's address (plain tcp
    beyond loopback is refused without --insecure). ``env`` gives $MIGRATE_STATE_URL."""
    if workers < 1 or workers > MAX_WORKERS:
        raise InvalidInput(f"--workers {workers}: give a number from 1 to {MAX_WORKERS}")
    if executor not in ("local", "dask"):
        raise InvalidInput(f"--executor {executor}: choose local or dask")
    if executor == "dask" and scheduler is None:
        raise InvalidInput("--executor dask needs --scheduler ADDRESS (the dask scheduler)")
    if executor == "local" and scheduler is not None:
        raise InvalidInput("--scheduler goes with --executor dask")
    if scheduler is not None:
        from migrate.scaleout.cluster import check_address  # no dask: that is in connect()

        check_address(scheduler, insecure=insecure)
    _check_repair(repair, force, wave=wave, only=only, only_failed=only_failed, project=project)
    if executor == "dask" and repair is not None:
        raise InvalidInput("--repair copies on this machine: leave out --executor dask")
    if detailed_exitcode and not dry_run:
        raise InvalidInput("--detailed-exitcode goes with --dry-run")
    if bwlimit is not None:
        check_bwlimit(bwlimit, "--bwlimit")
    return ApplyArguments(
        plan_file=plan_file,
        state_url=resolve_state_url(state, env),
        dry_run=dry_run,
        workers=workers,
        wave=wave,
        only=split_names(only),
        only_failed=only_failed,
        project=project,
        executor="dask" if executor == "dask" else "local",
        scheduler=scheduler,
        inventory=inventory,
        insecure=insecure,
        operator=operator,
        yes=yes,
        log_format=log_format,
        repair=repair,
        force=force,
        detailed_exitcode=detailed_exitcode,
        bwlimit=bwlimit,
    )


def _check_repair(
    repair: str | None,
    force: bool,
    *,
    wave: int | None,
    only: Iterable[str] | None,
    only_failed: bool,
    project: str | None,
) -> None:
    if force and repair is None:
        raise InvalidInput(
            "--force goes with --repair SERVICE (it overwrites objects changed at the target)"
        )
    if repair is None:
        return
    chosen = [
        flag
        for flag, given in (
            ("--wave", wave is not None),
            ("--only", bool(only)),
            ("--only-failed", only_failed),
            ("--project", project is not None),
        )
        if given
    ]
    if chosen:
        raise InvalidInput(
            f"--repair {repair} works on that one service: leave out {', '.join(chosen)}"
        )


def check_bwlimit(text: str, flag: str) -> str:
    """A rate or a timetable of rclone's syntax, or InvalidInput naming the flag."""
    from migrate.bandwidth import parse_limit

    try:
        parse_limit(text)
    except ValueError as error:
        raise InvalidInput(f"{flag} {text[:60]!r}: {error}") from None
    return text
