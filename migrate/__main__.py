"""``python -m migrate``: the same as the ``migrate`` console script."""

from migrate.cli import main

main()
