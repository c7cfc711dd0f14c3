"""`migrate dashboard`, `migrate report --html FILE` and `migrate report --objects [SERVICE]
--format csv|jsonl FILE`: views of the ledger (read-only)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from migrate.cli.root import (
    StateOption,
    app,
    guard,
    state_url,
    stderr_console,
    stdout_console,
    write_atomically,
)
from migrate.errors import InvalidInput, RefusedForSafety

if TYPE_CHECKING:
    from migrate.cli.object_report import ObjectReportArguments

TOKEN_ENV = "MIGRATE_DASHBOARD_TOKEN"  # noqa: S105  # nosec B105


@app.command("dashboard")
def dashboard_cmd(
    host: Annotated[str, typer.Option("--host", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to bind.")] = 8787,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help=f"Access token (prefer the {TOKEN_ENV} variable: argv is visible to other users).",
        ),
    ] = None,
    refresh: Annotated[int, typer.Option("--refresh", help="Page refresh, in seconds.")] = 5,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host",
            help="Another host name requests may give in their Host header (a proxy's, a DNS "
            "name); --host and, on loopback, 127.0.0.1, localhost and [::1] always are "
            "(repeatable).",
        ),
    ] = None,
    state: StateOption = None,
) -> None:
    """Live web dashboard over the state database (read-only)."""
    import uvicorn
    from rich.text import Text

    from migrate.inventory.policy import is_loopback_host
    from migrate.web.app import allowed_hosts, create_app

    with guard():
        secret = token or os.environ.get(TOKEN_ENV) or None
        if not is_loopback_host(host) and secret is None:
            raise RefusedForSafety(
                f"--host {host} is not loopback: set a token in {TOKEN_ENV} (or --token) that "
                "every request must carry"
            )
        if not 0 < port < 65536:
            raise InvalidInput(f"--port {port}: give a port from 1 to 65535")
        if token is not None:
            stderr_console().print(
                Text(
                    f"Warning: --token is visible in the process list; prefer {TOKEN_ENV}.",
                    style="yellow",
                )
            )
        snapshot = _Snapshots(state_url(state))
        hosts = allowed_hosts(host, port, allowed_host or ())
        application = create_app(snapshot, token=secret, refresh=refresh, hosts=hosts)
        stdout_console().print(Text(f"Dashboard on http://{host}:{port}/ (Ctrl-C to stop)"))
        try:
            uvicorn.run(application, host=host, port=port, log_level="warning", server_header=False)
        finally:
            snapshot.close()


class _Snapshots:
    """The status for each page. Started before the first apply, the dashboard says so and
    opens the state database (read-only) once the apply has created it; a state URL that can
    never hold one is refused at start, as by `status`."""

    def __init__(self, url: str) -> None:
        import threading

        from migrate.cli.status import not_created_yet

        self.url = url
        self.lock = threading.Lock()
        self.store: Any = None
        if not not_created_yet(url):
            self._open()

    def _open(self) -> Any:
        from migrate.cli.status import open_reader

        self.store = open_reader(self.url)
        return self.store

    def __call__(self) -> Any:
        from migrate.commands.status import nothing_applied, status
        from state.engine import ledger_missing, sqlite_path

        with self.lock:
            store = self.store
            if store is None:
                path = sqlite_path(self.url)
                if path is not None and ledger_missing(path):
                    return nothing_applied()
                store = self._open()
                if store is None:  # the first apply is creating it
                    return nothing_applied()
        return status(store)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


class ObjectReportFormat(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


@app.command("report")
def report_cmd(
    html: Annotated[
        Path | None, typer.Option("--html", help="Write the HTML report to this file.")
    ] = None,
    objects: Annotated[
        bool,
        typer.Option(
            "--objects",
            help="Write one row per object of the ledger (of SERVICE, else of every service) "
            "to FILE (- for standard output), in (service, key) order.",
        ),
    ] = False,
    fmt: Annotated[
        ObjectReportFormat | None,
        typer.Option("--format", help="The object report's format: csv or jsonl."),
    ] = None,
    arguments: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="[SERVICE] FILE", help="With --objects: the service (optional) and the file."
        ),
    ] = None,
    state: StateOption = None,
) -> None:
    """The dashboard as one self-contained HTML file (no external URL), for sharing and the
    evidence pack; or, with --objects, every object's size, hashes, proof, status and last
    error as CSV or JSON Lines (streamed; --html and --objects are one report each)."""
    with guard():
        from migrate.cli.object_report import ObjectReportArguments, parse_report

        request = parse_report(
            html=html, objects=objects, fmt=fmt.value if fmt else None, arguments=arguments or ()
        )
        if isinstance(request, ObjectReportArguments):
            _object_report(request, state)
            return
    html = request
    from rich.text import Text

    from migrate.commands.status import status
    from migrate.views.html import report_page

    with guard():
        from migrate.cli.status import not_created_yet, open_reader
        from migrate.commands.status import nothing_applied

        url = state_url(state)
        store = None if not_created_yet(url) else open_reader(url)
        if store is None:
            page = report_page(nothing_applied())
        else:
            try:
                page = report_page(status(store))
            finally:
                store.close()
        write_atomically(html, page)
        stdout_console().print(Text(f"Report written to {html}"))


def _object_report(request: ObjectReportArguments, state: str | None) -> None:
    """``report --objects``: streamed from the ledger (read-only) to FILE or stdout."""
    from rich.text import Text

    from migrate.cli.object_report import write_object_report

    written = write_object_report(request, state_url(state))
    if not request.to_stdout:
        stdout_console().print(
            Text(f"Object report written to {request.output}: {written} objects")
        )
