"""Optional bucket features are discovered, not assumed: a target that does not implement
bucket tagging (NotImplemented, as some S3-compatible servers answer) is planned and applied,
with a warning, and every object is still copied."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import (
    assert_identical,
    migrate,
    s3_client,
    seed,
    write_inventory,
)
from tests.proxy import Proxy
from tools import emulators

pytestmark = pytest.mark.integration


def _no_tagging(method: str, path: str, _count: int) -> str | None:
    return "notimplemented" if method == "PUT" and "tagging" in path else None


def test_a_target_without_bucket_tagging_is_applied_with_a_warning(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    seed(servers, unique, 3)
    with Proxy(servers.s3_url, decide=_no_tagging) as proxy:
        inventory = write_inventory(tmp_path, {"tagless-data": unique}, s3_url=proxy.url)
        planned = migrate("plan", str(inventory), "-o", "plan.json", env=server_env, cwd=tmp_path)
        assert planned.returncode == 0, planned.stderr
        plan = json.loads((tmp_path / "plan.json").read_text())
        assert plan["target"]["features"]["bucket_tagging"] is None  # only a probe can tell
        applied = migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        assert ("notimplemented", "PUT", f"/{unique}?tagging") in proxy.recorder.faults
    assert "the target has no bucket tagging" in applied.stdout
    assert assert_identical(servers, unique, unique) == 3
    s3 = s3_client(servers)
    assert s3.get_bucket_encryption(Bucket=unique)["ServerSideEncryptionConfiguration"]
    status = migrate("status", "--format", "json", env=server_env, cwd=tmp_path)
    service = json.loads(status.stdout)["services"]["tagless-data"]
    assert (service["state"], service["objects_done"]) == ("done", 3)


def test_the_probe_finds_out_what_the_preset_cannot_know(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    inventory = write_inventory(tmp_path, {"tagless-data": unique})
    with Proxy(servers.s3_url, decide=_no_tagging) as proxy:
        env = {**server_env, "S3_URL": proxy.url}
        result = migrate("probe", str(inventory), env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr  # optional: not a failure
    lines = [line for line in result.stdout.splitlines() if "bucket tagging" in line]
    assert lines, result.stdout
    assert "not implemented by the server" in " ".join(lines), result.stdout
    assert any(
        "bucket default encryption" in line and "implemented" in line
        for line in result.stdout.splitlines()
    ), result.stdout
