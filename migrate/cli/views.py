"""`migrate dashboard` and `migrate report --html FILE`: views of the ledger (read-only)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

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

    from migrate.commands.status import status
    from migrate.inventory.policy import is_loopback_host
    from migrate.web.app import allowed_hosts, create_app
    from state.store import Store

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
        store = Store.open(state_url(state), readonly=True)
        hosts = allowed_hosts(host, port, allowed_host or ())
        application = create_app(lambda: status(store), token=secret, refresh=refresh, hosts=hosts)
        stdout_console().print(Text(f"Dashboard on http://{host}:{port}/ (Ctrl-C to stop)"))
        try:
            uvicorn.run(application, host=host, port=port, log_level="warning", server_header=False)
        finally:
            store.close()


@app.command("report")
def report_cmd(
    html: Annotated[Path, typer.Option("--html", help="Write the report to this file.")],
    state: StateOption = None,
) -> None:
    """The dashboard as one self-contained HTML file (no external URL), for sharing and the
    evidence pack."""
    from rich.text import Text

    from migrate.commands.status import status
    from migrate.views.html import report_page
    from state.store import Store

    with guard():
        from migrate.cli.status import not_created_yet
        from migrate.commands.status import nothing_applied

        url = state_url(state)
        if not_created_yet(url):
            page = report_page(nothing_applied())
        else:
            store = Store.open(url, readonly=True)
            try:
                page = report_page(status(store))
            finally:
                store.close()
        write_atomically(html, page)
        stdout_console().print(Text(f"Report written to {html}"))
