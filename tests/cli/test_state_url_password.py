"""A password in the state URL (postgresql://user:PASSWORD@host/db) is never shown: not in an
error, --debug's traceback, status, a report, the audit log, evidence, nor a hook's
environment."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy
import yaml

from tests.cli.support import free_port
from tests.cli.support import run as _run

if TYPE_CHECKING:
    from tools.postgres import Postgres

PASSWORD = "Pw-Canary-7731"  # nosec B105


def _hidden(result: subprocess.CompletedProcess[str]) -> None:
    assert PASSWORD not in result.stdout
    assert PASSWORD not in result.stderr
    assert "Internal error" not in result.stderr


def test_an_unreachable_database_is_named_without_its_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://migrator:{PASSWORD}@127.0.0.1:{free_port()}/ledger"
    for args in (
        ["status"],
        ["--debug", "status"],
        ["audit", "verify"],
        ["report", "--html", "r.html"],
        ["apply", "plan.json", "--dry-run"],
    ):
        by_flag = _run(*args, "--state", url, cwd=tmp_path)
        by_env = _run(*args, cwd=tmp_path, env={"MIGRATE_STATE_URL": url})
        for result in (by_flag, by_env):
            _hidden(result)
        assert by_flag.returncode in (1, 2), (args, by_flag.stderr)
        if "plan.json" not in args:
            assert "postgresql+psycopg://migrator:***@127.0.0.1" in by_flag.stderr, args


def test_a_ledger_on_postgresql_never_shows_its_password(
    tmp_path: Path, postgres_server: Postgres
) -> None:
    from tools import postgres

    plain = postgres.create_database(postgres_server, f"t{uuid.uuid4().hex[:12]}")
    url = plain.replace("://postgres@", f"://postgres:{PASSWORD}@")  # trust: any password
    (tmp_path / "src" / "alpha").mkdir(parents=True)
    (tmp_path / "src" / "alpha" / "a.csv").write_bytes(b"a,1\n")
    hook_env = tmp_path / "hook-env.txt"
    inventory = {
        "version": 1,
        "name": "local",
        "source": {"provider": "local", "path": str(tmp_path / "src")},
        "target": {"provider": "local", "path": str(tmp_path / "dst"), "encryption": "none"},
        "policy": {"pilot_wave": False, "require_encryption": False},
        "services": [
            {
                "name": "alpha-data",
                "kind": "object-store",
                "data": {"container": "alpha"},
                "hooks": {"validate": f"env > {hook_env}"},
            }
        ],
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    env = {"MIGRATE_STATE_URL": url}
    results = [
        _run("plan", "inventory.yaml", "-o", "plan.json", cwd=tmp_path, env=env),
        _run("apply", "plan.json", "--dry-run", cwd=tmp_path, env=env),
        _run("apply", "plan.json", "--yes", "--log-format", "json", cwd=tmp_path, env=env),
        _run("status", cwd=tmp_path, env=env),
        _run("status", "--format", "json", cwd=tmp_path, env=env),
        _run("report", "--html", "report.html", "--state", url, cwd=tmp_path),
        _run("audit", "export", "audit.jsonl", "--state", url, cwd=tmp_path),
        _run("audit", "verify", cwd=tmp_path, env=env),
    ]
    for result in results:
        _hidden(result)
        assert result.returncode == 0, result.args
    hooks = hook_env.read_text()
    assert "MIGRATE_STATE_URL=" in hooks
    assert PASSWORD not in hooks
    written = [tmp_path / "report.html", tmp_path / "audit.jsonl", *tmp_path.rglob("*.json")]
    for path in written:
        assert PASSWORD not in path.read_text(errors="replace"), path
    engine = sqlalchemy.create_engine(plain)
    try:
        with engine.connect() as connection:
            tables = sqlalchemy.MetaData()
            tables.reflect(connection)
            for table in tables.sorted_tables:
                rows = connection.execute(table.select()).all()
                assert PASSWORD not in repr(rows), table
    finally:
        engine.dispose()
