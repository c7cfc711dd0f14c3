"""Where the probe found that the target's write answers prove each write, apply sends no HEAD
after a write; an answer that does not prove it (another ETag, no encryption) fails the object
without one. Through the CLI, against the S3 server behind a recording proxy."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import yaml

from tests.integration.helpers import (
    assert_identical,
    migrate,
    seed,
    write_inventory,
    writer,
)
from tests.proxy import Proxy
from tools import emulators

MiB = 1024 * 1024


def _inventory(tmp_path: Path, service: str, container: str, unique: str) -> Path:
    """Its own probe bucket (``bucket_prefix``): probes of other tests run at the same time."""
    path = write_inventory(tmp_path, {service: container})
    inventory = yaml.safe_load(path.read_text())
    inventory["target"]["bucket_prefix"] = f"{unique}-"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def _object_heads(proxy: Proxy, bucket: str) -> list[str]:
    return [p for m, p in proxy.recorder.requests if m == "HEAD" and p.startswith(f"/{bucket}/")]


def test_after_a_probe_writes_are_proven_by_their_answers_without_a_head(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-w"
    seed(servers, container, 40, size=3000)
    blobs = writer(servers)
    blobs.put_blob_in_blocks(container, "large/x.bin", os.urandom(40 * MiB), 4 * MiB)
    blobs.put_blob_in_blocks(container, "blocks/y.bin", os.urandom(3 * MiB), MiB)  # no MD5
    inventory = _inventory(tmp_path, "proof-data", container, unique)
    with Proxy(servers.s3_url) as proxy:
        env = {**server_env, "S3_URL": proxy.url}
        assert (
            migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path).returncode
            == 0
        )
        probe = migrate("probe", str(inventory), env=env, cwd=tmp_path)
        assert probe.returncode == 0, probe.stdout + probe.stderr
        assert "write answers prove the write" in probe.stdout
        assert "yes: apply takes the PUT and CompleteMultipartUpload answers" in probe.stdout
        proxy.recorder.requests.clear()
        applied = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
        assert applied.returncode == 0, applied.stdout + applied.stderr
        requests = list(proxy.recorder.requests)
        apply_heads = _object_heads(proxy, f"{unique}-{container}")
        # on its own, verify HEADs every object (the metadata the answers do not show)
        verified = migrate("verify", env=env, cwd=tmp_path)
        verify_heads = len(_object_heads(proxy, f"{unique}-{container}")) - len(apply_heads)
    bucket = f"{unique}-{container}"
    assert "Write check: the write's own answer, without a HEAD" in applied.stdout
    assert apply_heads == []
    puts = [p for m, p in requests if m == "PUT" and p.startswith(f"/{bucket}/")]
    assert len([p for p in puts if "partNumber" not in p]) == 41  # one PUT per small object
    assert len([p for p in puts if "partNumber" in p]) == 3  # 40 MiB in 16 MiB parts
    assert assert_identical(servers, container, bucket) == 42
    db = sqlite3.connect(tmp_path / ".migrate" / "state.db")
    rows = db.execute(
        "select proof, target_etag, target_modified, target_sse from objects"
    ).fetchall()
    assert len(rows) == 42
    assert all(etag and modified and sse == "AES256" for _, etag, modified, sse in rows)
    assert {proof for proof, *_ in rows} == {"source-md5", "answer-md5", "parts-md5"}
    start = db.execute(
        "select detail from audit_events where action = 'apply.start' order by seq desc"
    ).fetchone()
    assert json.loads(start[0])["options"]["write_check"] == "answer"
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verify_heads == 42


def test_an_answer_that_does_not_prove_the_write_fails_the_object_without_a_head(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-l"
    seed(servers, container, 6, size=3000)
    inventory = _inventory(tmp_path, "liar-data", container, unique)
    bucket = f"{unique}-{container}"

    def lie(method: str, path: str, headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
        if method != "PUT" or not path.startswith(f"/{bucket}/data/"):
            return headers
        if path.endswith(("00000.bin", "00001.bin")):  # no encryption header
            return [(n, v) for n, v in headers if n.lower() != "x-amz-server-side-encryption"]
        if path.endswith("00002.bin"):  # the ETag of other bytes
            return [(n, '"' + "0" * 32 + '"' if n.lower() == "etag" else v) for n, v in headers]
        return headers

    with Proxy(servers.s3_url) as proxy:
        env = {**server_env, "S3_URL": proxy.url}
        assert migrate("probe", str(inventory), env=env, cwd=tmp_path).returncode == 0
        assert (
            migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path).returncode
            == 0
        )
        proxy.alter_answer = lie
        failed = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
        heads = _object_heads(proxy, bucket)
        proxy.alter_answer = None
        status = migrate("status", "--format", "json", env=env, cwd=tmp_path)
        again = migrate("apply", "plan.json", "--yes", "--only-failed", env=env, cwd=tmp_path)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert heads == []
    assert "answer does not report server-side encryption" in failed.stdout
    assert "the target's answer gives the ETag 00000000000000000000000000000000" in failed.stdout
    service = json.loads(status.stdout)["services"]["liar-data"]
    assert (service["objects_failed"], service["objects_done"]) == (3, 3)
    assert again.returncode == 0, again.stdout + again.stderr
    assert assert_identical(servers, container, bucket) == 6
