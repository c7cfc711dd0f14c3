"""The ``migrate`` command line. ``migrate.cli.app`` holds the typer app; each command lives
in its own module, registered on import here."""

from migrate.cli import (  # noqa: F401 - registers the commands
    apply,
    audit,
    lifecycle,
    plan,
    probe,
    status,
    views,
)
from migrate.cli.app import app


def main() -> None:
    app()
