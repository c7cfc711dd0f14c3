"""The typer app: the composition root.

The only place that reads files and environment variables, builds adapters and the state
store, renders results and maps errors to exit codes. Commands themselves are plain functions
in ``migrate.commands``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from migrate import __version__
from migrate.errors import ExitCode, InvalidInput, MigrateError

app = typer.Typer(
    name="migrate",
    help="Plan and execute the migration of a health-data platform to a sovereign S3 cloud.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DEFAULT_STATE_URL = "sqlite:///.migrate/state.db"
StateOption = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="State database (SQLAlchemy URL). Default: $MIGRATE_STATE_URL, else "
        f"{DEFAULT_STATE_URL}.",
        show_default=False,
    ),
]


class PlanFormat(StrEnum):
    table = "table"
    json = "json"
    mermaid = "mermaid"
    dot = "dot"


class _Settings:
    debug = False


_settings = _Settings()


def _stdout() -> Console:
    """Terminal output; when piped (logs, CI), wide enough that tables are not squeezed."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=140)
    return console


def _stderr() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def _guard() -> Iterator[None]:
    """Render our errors once, as sentences, with their exit code; never a traceback."""
    try:
        yield
    except MigrateError as error:
        console = _stderr()
        console.print(Text(f"Error: {error.message}", style="bold red"))
        for problem in error.problems:
            console.print(Text(f"  {problem}"))
        if _settings.debug:
            traceback.print_exc()
        raise typer.Exit(int(error.exit_code)) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as error:  # the last line of defence: a bug, said as such
        _stderr().print(
            Text(
                f"Internal error ({type(error).__name__}): {error}. This is a bug in "
                "hdh-migrate; run again with --debug for the traceback.",
                style="bold red",
            )
        )
        if _settings.debug:
            traceback.print_exc()
        raise typer.Exit(int(ExitCode.FAILED)) from None


def state_url(option: str | None) -> str:
    return option or os.environ.get("MIGRATE_STATE_URL") or DEFAULT_STATE_URL


def read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from None


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(
            "w", dir=folder, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
        ) as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        Path(handle.name).replace(path)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be written ({exc.strerror})") from None


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hdh-migrate {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show the traceback of an error.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version and exit.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    _settings.debug = debug


@app.command("plan")
def plan_cmd(
    inventory: Annotated[Path, typer.Argument(help="Inventory file (YAML).", show_default=False)],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the plan file (JSON) here.")
    ] = None,
    fmt: Annotated[
        PlanFormat, typer.Option("--format", help="How to print the plan.")
    ] = PlanFormat.table,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Accept plain-http endpoints outside loopback."),
    ] = False,
    state: StateOption = None,
) -> None:
    """Validate the inventory, build the dependency graph and compute the waves."""
    from migrate import planfile
    from migrate.commands.plan import plan
    from migrate.views.plan_graph import to_dot, to_mermaid
    from migrate.views.plan_table import print_plan

    with _guard():
        result = plan(read_input(inventory), str(inventory), dict(os.environ), insecure=insecure)
        text = planfile.dumps(result.plan)
        if output is not None:
            write_atomically(output, text)
        if fmt is PlanFormat.json:
            sys.stdout.write(text)
        elif fmt is PlanFormat.mermaid:
            sys.stdout.write(to_mermaid(result.plan))
        elif fmt is PlanFormat.dot:
            sys.stdout.write(to_dot(result.plan))
        else:
            console = _stdout()
            print_plan(result.plan, console)
            if output is not None:
                console.print(Text(f"Saved the plan to {output}. Run: migrate apply {output}"))


def main() -> None:
    app()
