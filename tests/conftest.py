"""Shared fixtures: the real local servers (Azurite and moto's S3 server) for the session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tools import emulators


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
