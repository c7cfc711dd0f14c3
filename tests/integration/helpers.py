"""Helpers for end-to-end tests through the CLI against the real local servers."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import yaml
from botocore.config import Config

from adapters.azure import AzureSource
from tools import emulators
from tools.azblob import BlobWriter

ROOT = Path(__file__).resolve().parents[2]


def write_inventory(
    folder: Path,
    stores: dict[str, str],
    *,
    extra_services: list[dict[str, Any]] | None = None,
    s3_url: str = "${S3_URL}",
    service_options: dict[str, dict[str, Any]] | None = None,
) -> Path:
    """An inventory with one object-store service per ``{service: container}``."""
    services: list[dict[str, Any]] = []
    for name, container in stores.items():
        spec: dict[str, Any] = {
            "name": name,
            "kind": "object-store",
            "criticality": "high",
            "data": {"container": container, "size_estimate": "1GiB"},
        }
        spec.update((service_options or {}).get(name, {}))
        services.append(spec)
    services += extra_services or []
    inventory = {
        "version": 1,
        "name": "e2e",
        "source": {
            "provider": "azure",
            "account": emulators.AZURITE_ACCOUNT,
            "endpoint": "${AZURITE_URL}",
        },
        "target": {
            "provider": "s3",
            "endpoint": s3_url,
            "region": "eu-west-2",
            "encryption": "AES256",
        },
        "policy": {"pilot_wave": False, "allowed_regions": ["eu-west-2"]},
        "services": services,
    }
    path = folder / "inventory.yaml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    return path


def migrate(
    *args: str, env: dict[str, str], cwd: Path, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def popen_migrate(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "migrate", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(condition: Callable[[], bool], timeout: float = 120.0) -> None:
    """Poll ``condition`` until it holds; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("condition not reached in time")


def s3_client(servers: emulators.Servers) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=servers.s3_url,
        region_name="eu-west-2",
        aws_access_key_id=emulators.S3_ACCESS_KEY,
        aws_secret_access_key=emulators.S3_SECRET_KEY,
        config=Config(
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        ),
    )


def source(servers: emulators.Servers) -> AzureSource:
    return AzureSource(emulators.AZURITE_ACCOUNT, emulators.AZURITE_KEY, servers.azurite_url)


def writer(servers: emulators.Servers) -> BlobWriter:
    return BlobWriter(servers.azurite_url)


def seed(
    servers: emulators.Servers, container: str, count: int, size: int = 2048, prefix: str = "data"
) -> dict[str, bytes]:
    w = writer(servers)
    w.create_container(container)
    bodies = {}
    for index in range(count):
        key = f"{prefix}/{index:05d}.bin"
        body = os.urandom(size + index % 7)
        w.put_blob(
            container,
            key,
            body,
            content_md5=index % 2 == 0,
            headers={"content_type": "application/octet-stream"},
        )
        bodies[key] = body
    return bodies


def assert_identical(servers: emulators.Servers, container: str, bucket: str) -> int:
    """Every blob of the container is in the bucket, byte for byte, with its attributes."""
    src = source(servers)
    s3 = s3_client(servers)
    marker = None
    checked = 0
    while True:
        page = src.list_page(container, "", marker)
        for blob in page.objects:
            with src.open(container, blob.key) as reader:
                expected = b"".join(reader.chunks(1 << 20))
            got = s3.get_object(Bucket=bucket, Key=blob.key)
            body = got["Body"].read()
            assert hashlib.sha256(body).hexdigest() == hashlib.sha256(expected).hexdigest(), (
                blob.key
            )
            attrs = blob.attributes
            assert got.get("ContentType") == attrs.content_type, blob.key
            assert got.get("ContentEncoding") == attrs.content_encoding, blob.key
            assert got.get("CacheControl") == attrs.cache_control, blob.key
            assert got.get("ContentDisposition") == attrs.content_disposition, blob.key
            assert got.get("ContentLanguage") == attrs.content_language, blob.key
            metadata = got.get("Metadata", {})
            for name, value in attrs.metadata.items():
                assert metadata.get(name.lower()) == value, (blob.key, name)
            assert metadata.get("migrate-sha256") in (None, hashlib.sha256(body).hexdigest())
            assert got.get("ServerSideEncryption") == "AES256", blob.key
            checked += 1
        if page.next_marker is None:
            return checked
        marker = page.next_marker
