"""Seed the Azure emulator with a synthetic Health Data Hub dataset (no real data, ever).

For every object-store service of an inventory: its container, with extracts named like the
platform's (``2024/q1/dcir/extract-0001.parquet``), of random sizes, some with and some
without Content-MD5 (written in blocks), metadata with upper-case keys, a gzip-encoded JSON
file, names with spaces, accents, ``%``, ``#``, ``?``, ``+``, ``;``, deep prefixes, an empty
blob, and a few large blobs that the copy must send in parts.

    python -m tools.seed --inventory plans/hdh.yaml --azurite-url URL [--objects 100] [--large 2]
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from tools.azblob import BlobWriter

MiB = 1024 * 1024
SPECIAL_NAMES = [
    "exports/2024/résumé des séjours.csv",
    "exports/2024/taux 100% #1?.txt",
    "exports/2024/a+b;c=d.txt",
    "exports/2024/日本語のファイル.txt",
    "deep/" + "/".join(f"level{i}" for i in range(12)) + "/leaf.json",
    "empty-marker",
]


@dataclass(frozen=True)
class Blob:
    container: str
    key: str
    body: bytes
    headers: dict[str, str]
    metadata: dict[str, str]
    with_md5: bool


def containers_of(inventory: Path) -> list[str]:
    data = yaml.safe_load(inventory.read_text())
    return [s["data"]["container"] for s in data["services"] if s.get("kind") == "object-store"]


def blobs_for(container: str, objects: int, large: int, rnd: random.Random) -> Iterator[Blob]:
    for index in range(objects):
        size = rnd.choice([0, 512, 2048, 8192, 16384, 32768]) if index % 17 else 65536
        key = f"{2020 + index % 5}/q{1 + index % 4}/{container}/extract-{index:05d}.parquet"
        yield Blob(
            container,
            key,
            rnd.randbytes(size),
            {"content_type": "application/vnd.apache.parquet"},
            {"Dataset": container.upper(), "Batch": str(index // 50)},
            with_md5=index % 3 != 0,
        )
    report = json.dumps({"container": container, "objects": objects}).encode() * 20
    yield Blob(
        container,
        "reports/summary.json.gz",
        gzip.compress(report),
        {
            "content_type": "application/json",
            "content_encoding": "gzip",
            "cache_control": "no-cache",
            "content_disposition": "attachment",
        },
        {"Origin": "HDH"},
        with_md5=True,
    )
    for index in range(large):
        yield Blob(
            container,
            f"large/cohort-{index}.bin",
            rnd.randbytes(40 * MiB + 1234 * index),
            {"content_type": "application/octet-stream"},
            {},
            with_md5=False,
        )


def special_blobs(container: str, rnd: random.Random) -> Iterator[Blob]:
    for key in SPECIAL_NAMES:
        body = b"" if key == "empty-marker" else rnd.randbytes(rnd.randint(1, 4096))
        yield Blob(
            container,
            key,
            body,
            {"content_type": "text/plain", "content_language": "fr"},
            {"Source": "Synthetic"},
            with_md5=True,
        )


def seed(
    azurite_url: str, inventory: Path, objects: int, large: int, seed_value: int = 2026
) -> int:
    rnd = random.Random(seed_value)  # noqa: S311 - synthetic test data, not secrets
    containers = containers_of(inventory)
    blobs: list[Blob] = []
    for position, container in enumerate(containers):
        blobs += blobs_for(container, objects, large if position < 2 else 0, rnd)
        if position == 0:
            blobs += special_blobs(container, rnd)
    local = threading.local()

    def writer() -> BlobWriter:
        if not hasattr(local, "writer"):
            local.writer = BlobWriter(azurite_url)
        return local.writer

    for container in containers:
        writer().create_container(container)

    def put(blob: Blob) -> None:
        if blob.with_md5 or len(blob.body) < MiB:
            writer().put_blob(
                blob.container,
                blob.key,
                blob.body,
                headers=blob.headers,
                metadata=blob.metadata,
                content_md5=blob.with_md5,
            )
        else:
            writer().put_blob_in_blocks(
                blob.container,
                blob.key,
                blob.body,
                4 * MiB,
                headers=blob.headers,
                metadata=blob.metadata,
            )

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(put, blobs))
    return len(blobs)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inventory", type=Path, default=Path("plans/hdh.yaml"))
    parser.add_argument("--azurite-url", required=True)
    parser.add_argument("--objects", type=int, default=100, help="small objects per container")
    parser.add_argument("--large", type=int, default=2, help="large blobs in each of 2 containers")
    args = parser.parse_args()
    count = seed(args.azurite_url, args.inventory, args.objects, args.large)
    print(f"Seeded {count} blobs into {len(containers_of(args.inventory))} containers.")


if __name__ == "__main__":
    main()
