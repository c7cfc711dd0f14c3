"""The command line's pure parts, without a process: routing argv to the module that registers
the command, and `migrate apply`'s flags into a frozen ApplyArguments."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from migrate.cli.arguments import (
    DEFAULT_STATE_URL,
    ApplyArguments,
    LogFormat,
    parse_apply,
    resolve_state_url,
    split_names,
)
from migrate.cli.registry import COMMAND_MODULES, Route, route
from migrate.config import PolicyConfig
from migrate.errors import ExitCode, InvalidInput, MigrateError, RefusedForSafety

PLAN = Path("plan.json")


# Routing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--version"], Route(version=True)),
        (["--debug", "--version"], Route(version=True)),
        (["--version", "--debug"], Route(version=True)),
        (["--version", "status", "--bogus"], Route(version=True)),  # typer: eager, prints it
        (["--version", "--bogus"], Route()),  # typer refuses --bogus first: its error, its way
        (["--version", "--help"], Route()),
        (["status", "--help"], Route(module="migrate.cli.status")),
        (["--debug", "audit", "verify"], Route(module="migrate.cli.audit")),
        (["verify", "--version"], Route(module="migrate.cli.lifecycle")),
        (["report", "--html", "r.html"], Route(module="migrate.cli.views")),
        ([], Route()),
        (["--help"], Route()),
        (["--debug"], Route()),
        (["stat"], Route()),  # unknown: every command, for "Did you mean 'status'?"
        (["--", "status"], Route()),
    ],
)
def test_route(args: list[str], expected: Route) -> None:
    assert route(args) == expected


def test_the_registry_names_the_module_of_every_command() -> None:
    from migrate.cli.app import app

    registered = {
        info.name: info.callback.__module__
        for info in app.registered_commands
        if info.name and info.callback
    }
    for group in app.registered_groups:
        assert group.name
        assert group.typer_instance
        modules = {c.callback.__module__ for c in group.typer_instance.registered_commands}
        assert len(modules) == 1, modules
        registered[group.name] = modules.pop()
    assert registered == COMMAND_MODULES


# migrate apply's flags ------------------------------------------------------------------------


def test_defaults() -> None:
    arguments = parse_apply(PLAN, env={})
    assert arguments == ApplyArguments(plan_file=PLAN, state_url=DEFAULT_STATE_URL)
    assert (arguments.workers, arguments.executor, arguments.scheduler) == (8, "local", None)
    assert arguments.log_format is LogFormat.text


def test_arguments_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        parse_apply(PLAN, env={}).workers = 2  # type: ignore[misc]


def _refused(**flags: object) -> MigrateError:
    with pytest.raises(MigrateError) as caught:
        parse_apply(PLAN, env={}, **flags)  # type: ignore[arg-type]
    return caught.value


@pytest.mark.parametrize("workers", [0, -1, 257])
def test_workers_out_of_range(workers: int) -> None:
    error = _refused(workers=workers)
    assert isinstance(error, InvalidInput)
    assert error.exit_code == ExitCode.INVALID
    assert error.message == f"--workers {workers}: give a number from 1 to 256"


@pytest.mark.parametrize("workers", [1, 256])
def test_workers_at_the_bounds(workers: int) -> None:
    assert parse_apply(PLAN, env={}, workers=workers).workers == workers


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"executor": "ray"}, "--executor ray: choose local or dask"),
        ({"executor": "dask"}, "--executor dask needs --scheduler ADDRESS (the dask scheduler)"),
        ({"scheduler": "tls://sched:8786"}, "--scheduler goes with --executor dask"),
        (
            {"executor": "dask", "scheduler": "sched"},
            "--scheduler sched: give the dask scheduler as tls://HOST:PORT "
            "(or tcp://127.0.0.1:PORT on this machine)",
        ),
    ],
)
def test_executor_and_scheduler_combinations(flags: dict[str, object], message: str) -> None:
    error = _refused(**flags)
    assert isinstance(error, InvalidInput)
    assert error.message == message


def test_checks_run_in_order_workers_first() -> None:
    assert "--workers 0" in _refused(workers=0, executor="ray").message


def test_plain_tcp_beyond_loopback_is_refused_without_insecure() -> None:
    error = _refused(executor="dask", scheduler="tcp://10.0.0.1:8786")
    assert isinstance(error, RefusedForSafety)
    assert error.exit_code == ExitCode.REFUSED
    accepted = parse_apply(
        PLAN, env={}, executor="dask", scheduler="tcp://10.0.0.1:8786", insecure=True
    )
    assert (accepted.executor, accepted.scheduler) == ("dask", "tcp://10.0.0.1:8786")


def test_dask_on_tls() -> None:
    arguments = parse_apply(PLAN, env={}, executor="dask", scheduler="tls://sched.example:8786")
    assert (arguments.executor, arguments.scheduler) == ("dask", "tls://sched.example:8786")


def test_only_is_repeatable_and_comma_separated() -> None:
    arguments = parse_apply(PLAN, env={}, only=["a, b", "c", " ", ",d,"])
    assert arguments.only == ("a", "b", "c", "d")
    assert split_names(None) == ()


def test_state_url_precedence() -> None:
    env = {"MIGRATE_STATE_URL": "sqlite:///from-env.db"}
    assert parse_apply(PLAN, env=env).state_url == "sqlite:///from-env.db"
    assert parse_apply(PLAN, env=env, state="sqlite:///flag.db").state_url == "sqlite:///flag.db"
    assert resolve_state_url(None, {"MIGRATE_STATE_URL": ""}) == DEFAULT_STATE_URL


def test_one_execution_config_from_the_flags_and_the_policy(tmp_path: Path) -> None:
    from migrate.cli.apply import execution_options

    arguments = parse_apply(
        PLAN,
        env={},
        dry_run=True,
        workers=3,
        wave=2,
        only=["a,b"],
        only_failed=True,
        project="covid",
        executor="dask",
        scheduler="tls://sched:8786",
        insecure=True,
        state=f"sqlite:///{tmp_path / 'state.db'}",
    )
    policy = PolicyConfig(retry_attempts=3, retry_max_time=60, hook_timeout=30)
    options = execution_options(arguments, policy)
    assert (options.dry_run, options.workers, options.wave, options.only) == (
        True,
        3,
        2,
        ("a", "b"),
    )
    assert (options.only_failed, options.project, options.insecure) == (True, "covid", True)
    assert (options.scheduler, options.hook_timeout) == ("tls://sched:8786", 30)
    assert (options.retry.attempts, options.retry.max_seconds) == (3, 60)
    assert options.evidence_dir == tmp_path / "evidence"
