"""`migrate bwlimit`: the bandwidth limit of a running apply, changed without stopping it."""

from __future__ import annotations

from typing import Annotated

import typer

from migrate.cli.root import StateOption, app, guard, state_url, stdout_console
from migrate.errors import InvalidInput


@app.command("bwlimit")
def bwlimit_cmd(
    rate: Annotated[
        str | None,
        typer.Argument(
            help='rclone\'s syntax: 50M, off, or a timetable "08:00,50M 19:00,off". '
            "Without it: show the limit in force."
        ),
    ] = None,
    reset: Annotated[
        bool,
        typer.Option(
            "--reset", help="Remove the limit set here: back to --bwlimit or the policy's."
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Show as JSON.")] = False,
    operator: Annotated[str | None, typer.Option("--operator", help="Who changes it.")] = None,
    state: StateOption = None,
) -> None:
    """Set the bandwidth limit of the running apply (taken within a second), over its
    --bwlimit and policy.bandwidth_limit, until `--reset` or the end of that run."""
    import getpass
    import json

    from migrate.cli.wiring import open_store
    from migrate.commands.bandwidth import set_limit, show
    from state.engine import ledger_missing, sqlite_path

    with guard():
        if rate is not None and reset:
            raise InvalidInput("give a RATE or --reset, not both")
        url = state_url(state)
        path = sqlite_path(url)
        if path is not None and ledger_missing(path):
            raise InvalidInput(
                f"no state database at {path}: no apply runs from here; give the running "
                "apply's --state (or run this in its folder)"
            )
        store = open_store(url, operator, readonly=rate is None and not reset)
        try:
            if rate is None and not reset:
                view = show(store)
            else:
                view = set_limit(store, rate, operator or getpass.getuser())
        finally:
            store.close()
        if json_out:
            typer.echo(json.dumps(view.to_json(), indent=2))
            return
        console = stdout_console()
        override = view.override
        if override is None:
            console.print("Set here: none (the run holds its --bwlimit or policy.bandwidth_limit).")
        else:
            console.print(
                f"Set here: {override['limit']} for run {override['run_id']}, by "
                f"{override['operator']} at {override['set_at']}; `migrate bwlimit --reset` "
                "returns it to its own.",
                highlight=False,
            )
        console.print(f"Running apply: {_holding(view.holding)}", highlight=False)


def _holding(holding: dict[str, object] | None) -> str:
    from migrate.bandwidth import describe_rate

    if holding is None:
        return "none is running (a change is taken by the next apply)."
    rate = holding.get("bytes_per_s")
    shown = describe_rate(float(rate) if isinstance(rate, int | float) else None)
    return f"run {holding.get('run_id')} holds {shown} ({holding.get('source')})."
