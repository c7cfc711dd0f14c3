"""The ``migrate`` command line. ``migrate.cli.app`` holds the typer app; each command lives
in its own module, registered on import here."""

from migrate.cli import apply, audit, lifecycle, plan, status, views  # noqa: F401 - registers
from migrate.cli.app import app


def main() -> None:
    app()
