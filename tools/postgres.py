"""A throw-away PostgreSQL server on loopback for the ledger's tests (Debian's package).

PostgreSQL refuses to run as root: the cluster belongs to the ``postgres`` system user.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shlex
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


DEMO_SCHEMA = """
CREATE TABLE datasets (id serial PRIMARY KEY, name text NOT NULL UNIQUE, project text,
                       created_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE dataset_versions (dataset_id int REFERENCES datasets (id), version int,
                               rows_estimate bigint, PRIMARY KEY (dataset_id, version));
CREATE TABLE access_requests (id bigserial PRIMARY KEY, dataset_id int REFERENCES datasets (id),
                              requester text NOT NULL, status text NOT NULL,
                              requested_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE audit_trail (at timestamptz NOT NULL DEFAULT now(), message text);
ALTER TABLE audit_trail REPLICA IDENTITY FULL;
CREATE SEQUENCE request_numbers;
INSERT INTO datasets (name, project)
    SELECT 'dataset-' || i, 'project-' || (i % 40) FROM generate_series(1, 2000) i;
INSERT INTO dataset_versions
    SELECT 1 + i % 2000, i / 2000, i * 1000 FROM generate_series(0, 7999) i;
INSERT INTO access_requests (dataset_id, requester, status)
    SELECT 1 + i % 2000, 'researcher-' || (i % 300),
           (ARRAY['new', 'granted', 'refused'])[1 + i % 3]
    FROM generate_series(1, 20000) i;
INSERT INTO audit_trail (message) SELECT 'event ' || i FROM generate_series(1, 5000) i;
SELECT nextval('request_numbers') FROM generate_series(1, 42);
"""


def _pair_start(state: Path, database: str) -> None:
    logical = {"wal_level": "logical", "max_wal_senders": "10", "max_replication_slots": "10"}
    source = start(logical)
    target = start(logical)
    urls = [
        create_database(server, database).replace("+psycopg", "") for server in (source, target)
    ]
    import psycopg

    with psycopg.connect(urls[0], autocommit=True) as connection:
        connection.execute(DEMO_SCHEMA)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(
        json.dumps(
            {
                "servers": [
                    {"folder": str(s.folder), "port": s.port, "bin": str(s.bin)}
                    for s in (source, target)
                ],
                "urls": urls,
            }
        )
    )


def _pair_stop(state: Path) -> None:
    if not state.exists():
        return
    data = json.loads(state.read_text())
    for server in data["servers"]:
        stop(Postgres(Path(server["folder"]), int(server["port"]), Path(server["bin"])))
    state.unlink()


def main() -> None:
    """``python -m tools.postgres start|env|stop --state FILE``: a source and a target cluster
    (wal_level = logical) on loopback, a database seeded at the source, for the demo."""
    parser = argparse.ArgumentParser(prog="python -m tools.postgres")
    parser.add_argument("command", choices=("start", "env", "stop"))
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--database", default="metadata")
    parser.add_argument("--prefix", default="METADATA_DB", help="variables PREFIX_SOURCE_URL...")
    args = parser.parse_args()
    if args.command == "start":
        _pair_start(args.state, args.database)
    elif args.command == "stop":
        _pair_stop(args.state)
    else:
        urls = json.loads(args.state.read_text())["urls"]
        print(f"export {args.prefix}_SOURCE_URL={shlex.quote(urls[0])}")
        print(f"export {args.prefix}_TARGET_URL={shlex.quote(urls[1])}")


if __name__ == "__main__":
    main()
