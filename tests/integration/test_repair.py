"""`migrate apply PLAN --repair SERVICE`: what the last verify found the target lost or altered
is copied again from the source, without a new cutover; a version the target wrote after the
cutover is kept unless --force; what cannot be repaired is named, never reported repaired."""

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
    writer,
)
from tools import emulators

pytestmark = pytest.mark.integration


def _applied(servers: emulators.Servers, env: dict[str, str], tmp_path: Path, name: str) -> None:
    seed(servers, name, 6)
    inventory = write_inventory(tmp_path, {"records": name})
    assert migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path).returncode == 0
    applied = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr


def _last_verify(env: dict[str, str], tmp_path: Path) -> dict[str, object]:
    status = migrate("status", "--format", "json", env=env, cwd=tmp_path)
    found = json.loads(status.stdout)["services"]["records"]["last_verify"]
    assert isinstance(found, dict)
    return found


def test_repair_copies_again_what_the_target_lost_and_keeps_later_writes_unless_forced(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    _applied(servers, server_env, tmp_path, unique)
    s3 = s3_client(servers)
    s3.delete_object(Bucket=unique, Key="data/00001.bin")  # lost at the target
    s3.put_object(Bucket=unique, Key="data/00002.bin", Body=b"written after the cutover")
    found = migrate("verify", env=server_env, cwd=tmp_path)
    assert found.returncode == 1, found.stdout + found.stderr
    assert _last_verify(server_env, tmp_path)["differences"] == 2

    rehearsed = migrate(
        "apply", "plan.json", "--repair", "records", "--dry-run", "--detailed-exitcode",
        env=server_env, cwd=tmp_path,
    )  # fmt: skip
    assert rehearsed.returncode == 2, rehearsed.stdout + rehearsed.stderr
    assert "data/00001.bin" in rehearsed.stdout
    assert "copy again" in rehearsed.stdout
    assert "written at the target after the cutover" in rehearsed.stdout
    assert s3.list_objects_v2(Bucket=unique, Prefix="data/00001.bin")["KeyCount"] == 0

    kept = migrate(
        "apply", "plan.json", "--repair", "records", "--yes", env=server_env, cwd=tmp_path
    )
    assert kept.returncode == 1, kept.stdout + kept.stderr  # 00002 still differs: not "repaired"
    assert "1 copied again, 0 not repaired, 1 kept" in kept.stdout
    assert s3.get_object(Bucket=unique, Key="data/00002.bin")["Body"].read() == (
        b"written after the cutover"
    )
    assert _last_verify(server_env, tmp_path)["differences"] == 1

    forced = migrate(
        "apply", "plan.json", "--repair", "records", "--force", "--yes",
        env=server_env, cwd=tmp_path,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert "1 copied again, 0 not repaired, 0 kept" in forced.stdout
    assert "0 differences" in forced.stdout
    assert assert_identical(servers, unique, unique) == 6
    last = _last_verify(server_env, tmp_path)
    assert last["differences"] == 0
    assert last["against"] == "source"
    clean = migrate("verify", env=server_env, cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr

    exported = tmp_path / "audit.jsonl"
    assert migrate("audit", "export", str(exported), env=server_env, cwd=tmp_path).returncode == 0
    events = [json.loads(line) for line in exported.read_text().splitlines()]
    repairs = [e for e in events if e["action"] == "service.repair"]
    assert [e["detail"]["repaired"] for e in repairs] == [1, 1]
    status = json.loads(migrate("status", "--format", "json", env=server_env, cwd=tmp_path).stdout)
    record = status["services"]["records"]
    assert record["state"] == "done"
    assert record["objects_done"] == 6
    assert list((tmp_path / ".migrate" / "evidence").glob("repair-*.json"))


def test_an_object_the_source_no_longer_has_as_copied_is_named_not_repaired(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    _applied(servers, server_env, tmp_path, unique)
    s3_client(servers).delete_object(Bucket=unique, Key="data/00003.bin")
    assert migrate("verify", env=server_env, cwd=tmp_path).returncode == 1
    writer(servers).put_blob(unique, "data/00003.bin", b"another version at the source")
    result = migrate(
        "apply", "plan.json", "--repair", "records", "--yes", env=server_env, cwd=tmp_path
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 copied again, 1 not repaired" in result.stdout
    assert "'data/00003.bin' is changed" in result.stdout
    status = json.loads(migrate("status", "--format", "json", env=server_env, cwd=tmp_path).stdout)
    assert status["services"]["records"]["objects_done"] == 5  # never counted as done


def test_repair_flags_are_checked_and_a_clean_service_has_nothing_to_repair(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    _applied(servers, server_env, tmp_path, unique)
    for flags, message in [
        (["--force"], "--force goes with --repair SERVICE"),
        (["--repair", "nope"], "--repair nope: not a service of the plan"),
        (["--repair", "records", "--only", "records"], "leave out --only"),
        (["--detailed-exitcode"], "--detailed-exitcode goes with --dry-run"),
    ]:
        result = migrate("apply", "plan.json", *flags, "--yes", env=server_env, cwd=tmp_path)
        assert result.returncode == 2, (flags, result.stdout + result.stderr)
        assert message in result.stderr, flags
        assert "Traceback" not in result.stderr
    clean = migrate("apply", "plan.json", "--repair", "records", env=server_env, cwd=tmp_path)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "nothing to repair" in clean.stdout
    rehearsed = migrate(
        "apply", "plan.json", "--dry-run", "--detailed-exitcode", env=server_env, cwd=tmp_path
    )
    assert rehearsed.returncode == 0, rehearsed.stdout + rehearsed.stderr  # all done: no change
    assert "none (done)" in rehearsed.stdout
