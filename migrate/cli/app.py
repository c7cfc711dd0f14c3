"""The typer app with every command registered, in the order ``migrate --help`` lists them
(commands as their modules register them, then the groups): for the full listing, typer's
suggestions, tests and embedding. ``migrate.cli.main()`` imports only the module of the
command asked for (``migrate.cli.registry``); the app itself is ``migrate.cli.root.app``."""

from migrate.cli import (  # noqa: F401 - registers the commands
    apply,
    audit,
    bandwidth,
    discover,
    lifecycle,
    plan,
    probe,
    status,
    views,
)
from migrate.cli.root import app

__all__ = ["app"]
