"""``migrate report --objects [SERVICE] --format csv|jsonl FILE``: the flags checked (a pure
function), the ledger opened read-only, the pages streamed into FILE through a temporary file
renamed at the end (or to standard output for ``-``).

``report``'s two forms exclude each other: ``--html FILE`` writes the dashboard, ``--objects``
the object rows; given together they are refused (exit 2), one report per run.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import typer

from migrate.errors import ExitCode, InvalidInput

if TYPE_CHECKING:
    from migrate.views.object_report import ObjectFormat

USAGE = "migrate report --objects [SERVICE] --format csv|jsonl FILE"
STDOUT = "-"


@dataclass(frozen=True)
class ObjectReportArguments:
    """``report --objects``' flags, checked."""

    fmt: ObjectFormat
    output: str
    """FILE as given; ``-`` is standard output."""
    service: str | None = None
    """One service, or None for every service."""

    @property
    def to_stdout(self) -> bool:
        return self.output == STDOUT


def parse_report(
    *, html: Path | None, objects: bool, fmt: str | None, arguments: Sequence[str]
) -> Path | ObjectReportArguments:
    """The FILE of the HTML form (``--html FILE``, as it always was), or the object report's
    arguments (``--objects [SERVICE] --format csv|jsonl FILE``); else InvalidInput."""
    if html is not None and objects:
        raise InvalidInput(
            "--html and --objects are two reports: give one per run (`migrate report --html "
            f"FILE`, or `{USAGE}`)"
        )
    if not objects:
        if fmt is not None:
            raise InvalidInput(f"--format is for the object report: `{USAGE}`")
        if arguments:
            raise InvalidInput(
                f"unexpected argument {arguments[0]!r}: a SERVICE and a FILE are for the "
                f"object report (`{USAGE}`); the HTML report is `migrate report --html FILE`"
            )
        if html is None:
            raise InvalidInput(
                "say which report: `migrate report --html FILE` (the dashboard in one file) "
                f"or `{USAGE}` (one row per object)"
            )
        return html
    if not arguments:
        raise InvalidInput(f"--objects needs a FILE to write (- for standard output): `{USAGE}`")
    if len(arguments) > 2:
        raise InvalidInput(
            f"--objects takes a SERVICE and a FILE, not {len(arguments)} arguments: `{USAGE}`"
        )
    if fmt is None:
        raise InvalidInput(f"--objects needs --format csv or --format jsonl: `{USAGE}`")
    if fmt not in ("csv", "jsonl"):
        raise InvalidInput(f"--format {fmt}: give csv or jsonl")
    *service, output = arguments
    if not output:
        raise InvalidInput(f"FILE is empty: give a file name, or - for standard output: `{USAGE}`")
    return ObjectReportArguments(
        fmt="csv" if fmt == "csv" else "jsonl",
        output=output,
        service=service[0] if service else None,
    )


def write_object_report(arguments: ObjectReportArguments, url: str) -> int:
    """Stream the report from the ledger at ``url`` (read-only, one consistent read) to its
    output; the number of rows written."""
    from migrate.commands.object_report import object_pages
    from migrate.views.object_report import write_objects
    from state.store import Store

    _refuse_missing_ledger(url)
    if not arguments.to_stdout and Path(arguments.output).is_dir():
        raise InvalidInput(f"{arguments.output} is a folder: give the report's file name")
    store = Store.open(url, readonly=True)
    try:
        with store.consistent_reads():
            _refuse_a_service_as_file(arguments, store.service_names())
            pages = object_pages(store, arguments.service)
            with _output(arguments) as out:
                return write_objects(pages, out, arguments.fmt)
    finally:
        store.close()


def _refuse_missing_ledger(url: str) -> None:
    """No SQLite ledger yet: nothing has been applied, so no object to report (exit 2)."""
    from state.engine import ledger_missing, sqlite_path

    path = sqlite_path(url)
    if path is not None and ledger_missing(path):
        raise InvalidInput(
            f"no state database at {path}: nothing has been applied, so there is no object "
            "to report (give the ledger with --state or MIGRATE_STATE_URL)"
        )


def _refuse_a_service_as_file(arguments: ObjectReportArguments, services: list[str]) -> None:
    """``--objects NAME --format csv`` with its FILE forgotten would write every service's
    objects to a file called NAME: refused when NAME is a service of the ledger."""
    name = arguments.output
    if arguments.service is None and name in services:
        raise InvalidInput(
            f"'{name}' is a service of the ledger, and no FILE follows it: give "
            f"`migrate report --objects {name} --format {arguments.fmt} FILE` (to write every "
            f"service's objects to a file of that name, give it as ./{name})"
        )


@contextmanager
def _output(arguments: ObjectReportArguments) -> Iterator[TextIO]:
    if arguments.to_stdout:
        with _stdout() as out:
            yield out
    else:
        with atomic_text(Path(arguments.output)) as out:
            yield out


@contextmanager
def atomic_text(path: Path) -> Iterator[TextIO]:
    """A text file (UTF-8, newlines as written, mode 0600) that appears at ``path`` only
    complete: written to a temporary file in the same folder, flushed to disk, then renamed
    over ``path``. An error or Ctrl-C removes the temporary file and leaves ``path`` as it
    was; a killed process leaves at most the hidden ``.NAME.*.tmp`` beside it."""
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():  # a typo in the path never makes folders
        raise InvalidInput(f"{path}: the folder {folder} does not exist")
    try:
        descriptor, name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be written ({exc.strerror})") from None
    temporary = Path(name)
    try:
        with open(descriptor, "w", encoding="utf-8", newline="") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise InvalidInput(f"{path}: cannot be written ({exc.strerror})") from None
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


@contextmanager
def _stdout() -> Iterator[TextIO]:
    """Standard output as UTF-8 whatever the locale, newlines as written. A reader that
    stops reading (``| head``) ends the report quietly with exit 1, as Python advises."""
    sys.stdout.flush()
    out = io.TextIOWrapper(sys.stdout.buffer, encoding="utf-8", newline="")
    try:
        yield out
        out.flush()
    except BrokenPipeError:
        _silence_stdout()
        raise typer.Exit(int(ExitCode.FAILED)) from None
    finally:
        try:
            out.detach()
        except (BrokenPipeError, ValueError):  # already closed by the reader, or detached
            _silence_stdout()


def _silence_stdout() -> None:
    """What is still buffered for a closed pipe goes nowhere, not to a traceback at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
