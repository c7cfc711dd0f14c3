"""Status, report and dashboard readers while an apply writes, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.helpers import migrate, seed, write_inventory
from tests.proxy import Proxy
from tools import emulators, postgres


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_readers_while_an_apply_writes(
    servers: emulators.Servers,
    server_env: dict[str, str],
    tmp_path: Path,
    unique: str,
    kind: str,
    request: pytest.FixtureRequest,
) -> None:
    if kind == "postgresql":
        url = postgres.create_database(request.getfixturevalue("postgres_server"), f"r{unique}")
    else:
        url = f"sqlite:///{tmp_path}/ledger/state.db"
    env = {**server_env, "MIGRATE_STATE_URL": url}
    container = f"{unique}-r"
    seed(servers, container, 300, size=8192)

    # Object writes wait at the proxy until readers have seen the apply running twice: the
    # overlap is certain on any machine, however fast.
    def delay_object_writes(method: str, path: str, _count: int) -> str | None:
        return "delay" if method == "PUT" and path.startswith(f"/{container}/") else None

    with Proxy(servers.s3_url, decide=delay_object_writes) as proxy:
        inventory = write_inventory(tmp_path, {"busy-data": container}, s3_url=proxy.url)
        assert (
            migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path).returncode
            == 0
        )
        apply = subprocess.Popen(
            [sys.executable, "-m", "migrate", "apply", "plan.json", "--yes", "--workers", "4"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        seen_running, reads = 0, 0
        while apply.poll() is None:
            status = migrate("status", "--format", "json", env=env, cwd=tmp_path)
            report = migrate("report", "--html", f"report-{reads}.html", env=env, cwd=tmp_path)
            assert status.returncode == 0, status.stderr
            assert report.returncode == 0, report.stderr
            data = json.loads(status.stdout)
            if data["lock"] is not None:
                seen_running += 1
                assert data["services"]["busy-data"]["objects_done"] <= 300
                if seen_running == 2:
                    proxy.release()
            reads += 1
            time.sleep(0.05)
    _, errors = apply.communicate(timeout=60)
    assert apply.returncode == 0, errors
    assert seen_running >= 2, "no reader ran while the apply held the lock"
    final = json.loads(migrate("status", "--format", "json", env=env, cwd=tmp_path).stdout)
    assert final["services"]["busy-data"]["objects_done"] == 300
