"""The ``migrate`` command line.

``main()`` loads only what the command asked for needs: the module that registers it
(``migrate.cli.registry``), which imports the ledger, the SDKs or rich's tables only when its
command runs; ``migrate --version`` is answered before typer loads. ``migrate.cli.app.app`` is
the typer app with every command registered (``migrate --help``, tests).
"""

from __future__ import annotations

import sys
from importlib import import_module

from migrate.cli.registry import route, version_line


def main() -> None:
    found = route(sys.argv[1:])
    if found.version:
        sys.stdout.write(version_line() + "\n")
        return
    import_module(found.module or "migrate.cli.app")
    from migrate.cli.root import app

    app()
