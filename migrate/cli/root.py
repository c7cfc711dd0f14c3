"""The root of the typer app and what every command shares: the composition root.

The CLI is the only place that reads files and environment variables, builds adapters and
the state store, renders results and maps errors to exit codes. Commands themselves are plain
functions in ``migrate.commands``.

Kept light on purpose (typer and the standard library): each command module registers on
``app`` and imports what its command needs when it runs, so ``migrate status --help`` loads
neither rich's tables, SQLAlchemy nor an SDK. ``migrate.cli.app`` is the app with every
command registered.
"""

from __future__ import annotations

import os
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migrate.cli.arguments import DEFAULT_STATE_URL, resolve_state_url
from migrate.cli.registry import version_line
from migrate.errors import ExitCode, InvalidInput, MigrateError
from migrate.redact import configure_logging, redact, register_url_password

if TYPE_CHECKING:
    from rich.console import Console


def _plain_help() -> None:
    """Help as operators read it: a flag shows no ``<bool>`` after it, and an argument reads
    ``PLAN_FILE`` in the usage line, not ``{plan_file}`` (typer 0.29's rendering)."""
    from typer import core

    option_type = core.TyperOption.display_type_rich

    def option_display(self: core.TyperOption, ctx: Any) -> str | None:
        return None if self.is_flag else option_type(self, ctx)

    def argument_usage(self: core.TyperArgument) -> str:
        name = (self.metavar or self.name or "").upper()
        name = name if self.required else f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    if hasattr(core.TyperOption, "display_type_rich"):
        core.TyperOption.display_type_rich = option_display  # type: ignore[method-assign]
    if hasattr(core.TyperArgument, "_usage_display_name"):
        core.TyperArgument._usage_display_name = argument_usage  # type: ignore[method-assign]


_plain_help()

app = typer.Typer(
    name="migrate",
    help="Plan and execute the migration of a health-data platform to a sovereign S3 cloud.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

StateOption = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="State database (SQLAlchemy URL). Default: $MIGRATE_STATE_URL, else "
        f"{DEFAULT_STATE_URL}.",
        show_default=False,
    ),
]


class _Settings:
    debug = False


settings = _Settings()


def stdout_console() -> Console:
    """Terminal output; when piped (logs, CI), wide enough that tables are not squeezed."""
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(highlight=False, width=140)
    return console


def stderr_console() -> Console:
    from rich.console import Console

    return Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def guard() -> Iterator[None]:
    """Render our errors once, as sentences, with their exit code; never a traceback."""
    try:
        yield
    except MigrateError as error:
        from rich.text import Text

        console = stderr_console()
        console.print(Text(redact(f"Error: {error.message}"), style="bold red"))
        for problem in error.problems:
            console.print(Text(redact(f"  {problem}")))
        if settings.debug:
            _print_traceback()
        raise typer.Exit(int(error.exit_code)) from None
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as error:  # the last line of defence: a bug, said as such
        from rich.text import Text

        stderr_console().print(
            Text(
                redact(
                    f"Internal error ({type(error).__name__}): {error}. This is a bug in "
                    "hdh-migrate; run again with --debug for the traceback."
                ),
                style="bold red",
            )
        )
        if settings.debug:
            _print_traceback()
        raise typer.Exit(int(ExitCode.FAILED)) from None


def _print_traceback() -> None:
    """--debug: the traceback, through the redactor like every other line."""
    import sys

    sys.stderr.write(redact(traceback.format_exc()))


def state_url(option: str | None) -> str:
    """The state URL; its password is masked from now on in everything this process prints."""
    url = resolve_state_url(option, os.environ)
    register_url_password(url)
    return url


def confirm_or_stop(question: str, yes: bool) -> None:
    """On a terminal, ask before changing anything (``--yes`` does not ask); a "no" exits 1.
    Without a terminal (a script, CI), the command's own flags are the consent, unless an
    answer is already waiting on standard input (``echo n | migrate rollback ...``): anything
    but y or yes is a "no"."""
    import sys

    if yes:
        return
    if sys.stdin.isatty():
        if not typer.confirm(question):
            raise typer.Exit(int(ExitCode.FAILED))
        return
    answer = _waiting_answer()
    if answer is not None and answer.strip().lower() not in ("y", "yes"):
        stderr_console().print(f"{question} {answer.strip()!r}: stopped, nothing was changed")
        raise typer.Exit(int(ExitCode.FAILED))


def _waiting_answer() -> str | None:
    """A line already written to a piped standard input (None: none waiting, or at its end;
    an open pipe with nothing in it is never waited on)."""
    import select
    import sys

    try:
        ready, _, _ = select.select([sys.stdin], [], [], 0)
    except (OSError, ValueError):  # no file descriptor (closed, or replaced)
        return None
    if not ready:
        return None
    line = sys.stdin.readline()
    return line if line.strip() else None


def print_differences(console: Console, service: str, differences: Any, limit: int) -> None:
    """Each difference a verification found, with the side that moved, in red."""
    from rich.text import Text

    for difference in list(differences)[:limit]:
        console.print(
            Text(
                f"  {service}: {difference.key!r}: {difference.problem} [{difference.cause}]",
                style="red",
            )
        )


def read_input(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror})") from None


@contextmanager
def staged(path: Path, text: str) -> Iterator[Path]:
    """``text`` in a temporary file beside ``path``, on disk (synced), for the block to put in
    place; the temporary file is removed at the end if it is still there."""
    folder = path.parent if str(path.parent) else Path(".")
    temporary: Path | None = None
    try:
        with tempfile.NamedTemporaryFile(
            "w", dir=folder, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
        ) as handle:
            temporary = Path(handle.name)
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        yield temporary
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    try:
        (path.parent if str(path.parent) else Path(".")).mkdir(parents=True, exist_ok=True)
        with staged(path, text) as temporary:
            temporary.replace(path)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be written ({exc.strerror})") from None


def _print_version(value: bool) -> None:
    if value:
        typer.echo(version_line())
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
    settings.debug = debug
    configure_logging()
