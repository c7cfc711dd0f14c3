"""Decommission is irreversible, so it checks for itself: right before it retires the source
it verifies the service again, at hash level, against the current source; a verification on
record, however recent and clean, is not enough."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import migrate, s3_client, seed, write_inventory, writer
from tools import emulators

pytestmark = pytest.mark.integration


def _ready_to_retire(
    servers: emulators.Servers, env: dict[str, str], tmp_path: Path, container: str
) -> Path:
    """Applied, verified clean, approved, past a notice period of 0 s."""
    seed(servers, container, 4)
    marker = tmp_path / "retired"
    options = {"old-data": {"hooks": {"decommission": f"touch {marker}"}}}
    inventory = write_inventory(tmp_path, {"old-data": container}, service_options=options)
    document = yaml.safe_load(inventory.read_text())
    document["policy"]["decommission_notice"] = "0s"
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    assert migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path).returncode == 0
    applied = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    verified = migrate("verify", env=env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert migrate("approve", "old-data", "decommission", env=env, cwd=tmp_path).returncode == 0
    return marker


def test_a_target_changed_since_the_last_verification_is_not_retired(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    marker = _ready_to_retire(servers, server_env, tmp_path, unique)
    s3 = s3_client(servers)
    s3.delete_object(Bucket=unique, Key="data/00001.bin")  # lost at the target
    s3.put_object(Bucket=unique, Key="data/00002.bin", Body=b"overwritten")  # altered
    refused = migrate("decommission", "old-data", env=server_env, cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "data/00001.bin" in refused.stderr
    assert "data/00002.bin" in refused.stderr
    assert "verification made just now" in refused.stderr
    assert not marker.exists()  # the source side was not retired
    status = json.loads(migrate("status", "--format", "json", env=server_env, cwd=tmp_path).stdout)
    assert status["lock"] is None  # the lock taken for the check is released


def test_a_source_that_changed_since_the_copy_is_not_retired(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    marker = _ready_to_retire(servers, server_env, tmp_path, unique)
    writer(servers).put_blob(unique, "data/late-arrival.bin", b"written after the cutover")
    refused = migrate("decommission", "old-data", env=server_env, cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "data/late-arrival.bin" in refused.stderr
    assert "at the source, not copied" in refused.stderr
    assert not marker.exists()


def test_an_intact_service_is_verified_then_retired(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    marker = _ready_to_retire(servers, server_env, tmp_path, unique)
    allowed = migrate("decommission", "old-data", env=server_env, cwd=tmp_path)
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "verified just now at hash level against the source: 4 objects" in allowed.stdout
    assert marker.exists()
    events = migrate("audit", "export", str(tmp_path / "audit.jsonl"), env=server_env, cwd=tmp_path)
    assert events.returncode == 0, events.stderr
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert any(e["action"] == "verify" and e["detail"]["against"] == "source" for e in lines)
