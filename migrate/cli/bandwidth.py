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
    """Set the bandwidth limit of the running apply (taken within a second) and of later ones,
    until `--reset`; it wins over --bwlimit and policy.bandwidth_limit."""
    import getpass
    import json

    from migrate.cli.wiring import open_store
    from migrate.commands.bandwidth import set_limit, show

    with guard():
        if rate is not None and reset:
            raise InvalidInput("give a RATE or --reset, not both")
        store = open_store(state_url(state), operator)
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
            console.print("Set here: none (the runs hold --bwlimit or policy.bandwidth_limit).")
        else:
            console.print(
                f"Set here: {override['limit']} by {override['operator']} at "
                f"{override['set_at']}; `migrate bwlimit --reset` removes it.",
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
