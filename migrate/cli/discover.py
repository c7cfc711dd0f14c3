"""`migrate discover SOURCE.yaml [-o INVENTORY.yaml] [--format table|json]`."""

from __future__ import annotations

import errno
import os
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from migrate.cli.root import (
    StateOption,
    app,
    guard,
    read_input,
    staged,
    state_url,
    stderr_console,
    stdout_console,
)
from migrate.errors import ExitCode, InvalidInput

if TYPE_CHECKING:
    from rich.console import Console
    from rich.status import Status

    from migrate.audit import AuditEvent
    from migrate.commands.discover import ContainerReport, Discovery
    from migrate.inventory.discovery import LoadedSource

PLAIN_EVERY_SECONDS = 10.0
"""Without a terminal: one line per container listed, and one every so often while it lasts."""


class DiscoverFormat(StrEnum):
    table = "table"
    json = "json"


@app.command("discover")
def discover_cmd(
    source: Annotated[
        Path,
        typer.Argument(
            help="The source's description (YAML): version, name, source, optionally target, "
            "policy and databases.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Write the inventory here (default: stdout)."),
    ] = None,
    fmt: Annotated[
        DiscoverFormat,
        typer.Option(
            "--format", help="How to print the findings (json: the inventory only to -o)."
        ),
    ] = DiscoverFormat.table,
    force: Annotated[
        bool, typer.Option("--force", help="Replace the -o file if it exists.")
    ] = False,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Accept a plain-http source outside loopback.")
    ] = False,
    state: StateOption = None,
) -> None:
    """List the source account and write a first inventory from it.

    One object-store service per container (exact objects and bytes) and one database service
    per database SOURCE.yaml names, with the access tiers, blob types and what would stop a
    copy (names the target refuses, blobs too large, Archive blobs) as comments; a readiness
    table says what needs action first."""
    from migrate.audit import insecure_override
    from migrate.cli.wiring import build_source_from, credentials_environment, database_surveyor
    from migrate.commands.discover import discover
    from migrate.inventory.discovery import load_discovery_source
    from migrate.timeutil import now_iso
    from migrate.views.discovered_inventory import inventory_text

    with guard():
        if output is not None:
            _check_output(output, force)  # before a listing that may take hours
        loaded = load_discovery_source(
            read_input(source), str(source), dict(os.environ), insecure=insecure
        )
        env = credentials_environment(loaded.spec.credentials_file, os.environ)
        _refuse_unset_variables(loaded, env)
        if insecure:
            _audit(state, [insecure_override("discover", loaded.path)], create=True)
        store = build_source_from(loaded.spec.source, env)
        reader = database_surveyor(env) if loaded.spec.databases else None  # loads psycopg
        with _Progress(stderr_console()) as progress:
            result = discover(loaded.spec, store, reader, progress=progress)
        text = inventory_text(result, loaded.head(), str(source), now_iso())
        if output is not None:
            write_new(output, text, force=force)
        _audit(state, [_discovered(loaded, result)], create=False)
        _show(result, fmt, output, text)
        if result.failed:
            raise typer.Exit(int(ExitCode.FAILED))


def _show(result: Discovery, fmt: DiscoverFormat, output: Path | None, text: str) -> None:
    """The findings, and the inventory where no -o took it: with a table, the inventory goes
    to stdout and the table to stderr, so that ``migrate discover S > INV`` is the inventory."""
    from rich.text import Text

    from migrate.views.discovery import print_readiness, to_json

    if fmt is DiscoverFormat.json:
        sys.stdout.write(to_json(result))
        if output is None:
            sys.stderr.write("No -o: the inventory was not written (JSON is on stdout).\n")
        return
    if output is None:
        sys.stdout.write(text)
        print_readiness(result, _findings_console())
        return
    console = stdout_console()
    print_readiness(result, console)
    console.print(Text(f"Wrote the inventory to {output}. Review it, then: migrate plan {output}"))


def _check_output(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise _exists(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise InvalidInput(f"{path}: cannot be written (folder {folder} does not exist)")
    if path.is_dir():
        raise InvalidInput(f"{path}: is a folder, not a file")


def _exists(path: Path) -> InvalidInput:
    return InvalidInput(
        f"{path} exists: discover never replaces an inventory (it may have been edited by "
        "hand); give another -o, or --force to replace it"
    )


def _refuse_unset_variables(loaded: LoadedSource, env: dict[str, str]) -> None:
    """Before any listing (which may take hours): every database's variable is set."""
    problems = [
        loaded.problem(
            ("databases", index, "url_env"),
            f"databases[{index}].url_env: environment variable {entry.url_env} is not set "
            f"(it holds the libpq URL of database '{entry.name}')",
        )
        for index, entry in enumerate(loaded.spec.databases)
        if not env.get(entry.url_env)
    ]
    if problems:
        raise InvalidInput("a database's URL is not in the environment", problems)


def write_new(path: Path, text: str, *, force: bool) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder: never
    half-written. Without ``force`` the file is linked into place only where no file is
    (checked at that instant, not only before the listing)."""
    try:
        with staged(path, text) as temporary:
            if force:
                os.replace(temporary, path)
            else:
                _link_new(temporary, path)
    except FileExistsError:
        raise _exists(path) from None
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be written ({exc.strerror})") from None


def _link_new(temporary: Path, path: Path) -> None:
    """``temporary`` becomes ``path`` only if no file is there: a hard link fails with
    FileExistsError where one is. A file system without hard links is checked, then renamed."""
    try:
        os.link(temporary, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if path.exists():
            raise FileExistsError(str(path)) from None
        os.replace(temporary, path)


def _audit(state: str | None, events: list[AuditEvent], *, create: bool) -> None:
    """Into the audit log of the state database: only where there is one (discovery
    creates none), unless ``create`` (an ``--insecure`` override is always on record)."""
    from migrate.cli.wiring import open_store
    from state.engine import ledger_missing, sqlite_path

    url = state_url(state)
    path = sqlite_path(url)
    if path is not None and ledger_missing(path) and not create:
        return
    store = open_store(url)
    try:
        store.audit(events)
    finally:
        store.close()


def _discovered(loaded: LoadedSource, result: Discovery) -> AuditEvent:
    from migrate.audit import AuditEvent

    return AuditEvent(
        "source.discover",
        result.source,
        "failed" if result.failed else "ok",
        detail={
            "source_file": loaded.path,
            "containers": len(result.containers),
            "objects": sum(c.tally.objects for c in result.containers),
            "bytes": sum(c.tally.bytes for c in result.containers),
            "databases": len(result.databases),
        },
    )


def _findings_console() -> Console:
    """stderr, as wide as stdout's console when it is not a terminal."""
    from rich.console import Console

    console = Console(stderr=True, highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=True, highlight=False, width=140)
    return console


class _Progress:
    """``DiscoveryProgress`` on stderr: on a terminal one live line (a few refreshes a
    second, whatever the pages); otherwise plain lines, at most one per container every
    ``PLAIN_EVERY_SECONDS`` while it is listed, and one when it is done."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._status: Status | None = None
        self._last = time.monotonic()

    def __enter__(self) -> _Progress:
        if self.console.is_terminal:
            self._status = self.console.status("Listing the containers", refresh_per_second=4)
            self._status.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._status is not None:
            self._status.stop()

    def listing(self, container: str, objects: int, size: int) -> None:
        from rich.text import Text

        from migrate.units import format_bytes
        from migrate.views.discovery import objects as count
        from migrate.views.discovery import printable

        line = f"Listing {printable(container)}: {count(objects)}, {format_bytes(size)} so far"
        if self._status is not None:
            self._status.update(Text(line))
            return
        now = time.monotonic()
        if now - self._last >= PLAIN_EVERY_SECONDS:
            self._last = now
            self.console.print(Text(line))

    def listed(self, report: ContainerReport) -> None:
        from rich.text import Text

        from migrate.units import format_bytes
        from migrate.views.discovery import objects as count
        from migrate.views.discovery import printable

        tally = report.tally
        state = "listing failed" if report.error else "listed"
        self.console.print(
            Text(
                f"{printable(report.container)}: {state}, {count(tally.objects)}, "
                f"{format_bytes(tally.bytes)}"
            )
        )
        self._last = time.monotonic()
