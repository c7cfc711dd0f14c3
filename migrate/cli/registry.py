"""Which module registers which command, so that ``main()`` imports only the one asked for.

A command line is routed by its first word that is not a root flag: ``migrate status --help``
needs ``migrate.cli.status`` and nothing else. ``migrate --help``, no command, an unknown
command or an unknown root flag need every command (the listing, typer's "Did you mean"), and
get ``migrate.cli.app``. No typer here: ``migrate --version`` is answered from this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from migrate import __version__

COMMAND_MODULES: dict[str, str] = {
    "apply": "migrate.cli.apply",
    "audit": "migrate.cli.audit",
    "bwlimit": "migrate.cli.bandwidth",
    "discover": "migrate.cli.discover",
    "verify": "migrate.cli.lifecycle",
    "rollback": "migrate.cli.lifecycle",
    "decommission": "migrate.cli.lifecycle",
    "plan": "migrate.cli.plan",
    "probe": "migrate.cli.probe",
    "status": "migrate.cli.status",
    "approve": "migrate.cli.status",
    "unlock": "migrate.cli.status",
    "dashboard": "migrate.cli.views",
    "report": "migrate.cli.views",
}
"""Command (or command group) name -> the module whose import registers it."""

ROOT_FLAGS = frozenset({"--debug", "--version"})
"""The root callback's flags; none takes a value, so the first other word names the command."""


@dataclass(frozen=True)
class Route:
    """What ``main()`` loads for one command line."""

    version: bool = False
    """Only root flags before the command, ``--version`` among them: typer would print the
    version (an eager flag) before looking at the rest, and so can we, without typer."""
    module: str | None = None
    """The module that registers the command; None: every command (``migrate.cli.app``)."""


def route(args: Sequence[str]) -> Route:
    """Route ``args`` (``sys.argv[1:]``): a pure function, so it is tested without a process."""
    seen: set[str] = set()
    for arg in args:
        if arg in ROOT_FLAGS:
            seen.add(arg)
            continue
        if arg.startswith("-"):  # --help, "--", or a flag typer refuses: typer decides, on
            return Route()  # the whole app (the listing, the suggestions)
        if "--version" in seen:  # `migrate --version status ...` prints the version
            return Route(version=True)
        return Route(module=COMMAND_MODULES.get(arg))
    return Route(version="--version" in seen)


def version_line() -> str:
    return f"hdh-migrate {__version__}"
