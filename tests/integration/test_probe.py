"""`migrate probe` against the S3 server, and a target that lies about encryption."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from pathlib import Path

from migrate.commands.probe import PROBE_BUCKET
from tests.integration.helpers import migrate, s3_client, seed, write_inventory
from tests.proxy import Proxy
from tools import emulators


def test_probe_passes_and_cleans_up(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    inventory = write_inventory(tmp_path, {"probe-data": f"{unique}-p"})
    s3 = s3_client(servers)
    with contextlib.suppress(s3.exceptions.ClientError):  # another test's probe may have left it
        s3.delete_bucket(Bucket=PROBE_BUCKET)
    with Proxy(servers.s3_url) as proxy:
        result = migrate(
            "probe", str(inventory), env={**server_env, "S3_URL": proxy.url}, cwd=tmp_path
        )
        requests = list(proxy.recorder.requests)
    assert result.returncode == 0, result.stdout + result.stderr
    for check in (
        "stored size equals sent size",
        "server-side encryption echoed",
        "bytes read back are the bytes sent",
        "multipart with 5 MiB parts",
        "CRC32 checksum headers",
    ):
        assert check in result.stdout, check
    deletes = [p for m, p in requests if m == "DELETE"]
    assert len(deletes) == 5  # every canary object, then the bucket the probe created
    assert all(p.startswith(f"/{PROBE_BUCKET}") for p in deletes)
    assert PROBE_BUCKET not in {b["Name"] for b in s3.list_buckets()["Buckets"]}


def test_apply_refuses_a_target_that_contradicts_its_preset(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-c"
    seed(servers, container, 2)
    with Proxy(
        servers.s3_url, drop_response_headers=frozenset({"x-amz-server-side-encryption"})
    ) as proxy:
        env = {**server_env, "S3_URL": proxy.url}
        inventory = write_inventory(tmp_path, {"liar-data": container})
        probe = migrate("probe", str(inventory), env=env, cwd=tmp_path)
        assert probe.returncode == 1
        assert "CONTRADICTS PRESET" in probe.stdout
        summary = (
            sqlite3.connect(tmp_path / ".migrate" / "state.db")
            .execute("select summary from probes")
            .fetchone()[0]
        )
        assert json.loads(summary)["findings"] == {"proving_answers": False, "encryption": "AES256"}
        assert (
            migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path).returncode
            == 0
        )
        refused = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
    assert refused.returncode == 3
    assert "contradicts preset 'generic'" in refused.stderr
    assert "server-side encryption echoed" in refused.stderr
