"""Shared fixtures: the real local servers (Azurite and moto's S3 server) for the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tools import emulators

if TYPE_CHECKING:
    from tools.postgres import Postgres

if "PYTEST_XDIST_WORKER" in os.environ:
    # A worker of `pytest -n` is given COLUMNS=80 and LINES=24; the commands the tests run
    # would wrap their sentences there, unlike in a plain run. The environment is made the same.
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


@pytest.fixture(scope="session")
def servers() -> Iterator[emulators.Servers]:
    """Azurite and the S3 server on free loopback ports, started once, stopped by PID."""
    running = emulators.start()
    try:
        yield running
    finally:
        emulators.stop(running)


@pytest.fixture
def server_env(servers: emulators.Servers, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = servers.environment()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return {**os.environ, **env}


@pytest.fixture
def unique() -> str:
    """A fresh name usable as a container or bucket name."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A PostgreSQL server on loopback for the session (Debian's package, installed by
    `make test`); tests that need it are skipped, saying why, only where it is missing."""
    from tools import postgres

    if not postgres.available():
        pytest.skip("PostgreSQL is not installed here: `make test` installs Debian's postgresql")
    server = postgres.start()
    try:
        yield server
    finally:
        postgres.stop(server)


@pytest.fixture(params=["sqlite", "postgresql"])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty ledger database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/db/state.db"
    from tools import postgres

    server: Postgres = request.getfixturevalue("postgres_server")
    return postgres.create_database(server, f"t{uuid.uuid4().hex[:12]}")
