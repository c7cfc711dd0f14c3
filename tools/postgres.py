"""A throw-away PostgreSQL server on loopback for the ledger's tests (Debian's package).

PostgreSQL refuses to run as root: the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tools.emulators import free_port


@dataclass
class Postgres:
    folder: Path
    port: int
    bin: Path

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"


def _bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _as_postgres(command: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def available() -> bool:
    return _bin() is not None


def start(settings: dict[str, str] | None = None) -> Postgres:
    """A new cluster on a free loopback port; ``settings`` are server parameters (for example
    ``{"wal_level": "logical"}`` for a source of logical replication)."""
    binaries = _bin()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="hdh-pg-"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    subprocess.run(
        _as_postgres(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(folder / "log"),
                "-w",
                "start",
                "-o",
                f"-h 127.0.0.1 -p {port} -k {folder} -c fsync=off"
                + "".join(f" -c {name}={value}" for name, value in (settings or {}).items()),
            ]
        ),
        check=True,
        capture_output=True,
    )
    server = Postgres(folder, port, binaries)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ready = subprocess.run(
            [str(binaries / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
            capture_output=True,
            check=False,
        )
        if ready.returncode == 0:
            return server
        time.sleep(0.2)
    stop(server)
    raise RuntimeError("PostgreSQL did not start")


def stop(server: Postgres) -> None:
    subprocess.run(
        _as_postgres(
            [
                str(server.bin / "pg_ctl"),
                "-D",
                str(server.folder / "data"),
                "-m",
                "immediate",
                "stop",
            ]
        ),
        capture_output=True,
        check=False,
    )
    shutil.rmtree(server.folder, ignore_errors=True)


def create_database(server: Postgres, name: str) -> str:
    """A new empty database on ``server``; returns its URL."""
    import sqlalchemy

    admin = sqlalchemy.create_engine(server.url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return server.url.rsplit("/", 1)[0] + f"/{name}"
