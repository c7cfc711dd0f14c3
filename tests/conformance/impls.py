"""Every implementation of each port, with a way to put test objects behind it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from adapters.azure import AzureSource
from adapters.local import LocalSource, LocalTarget
from adapters.s3 import S3Settings, S3Target
from migrate.ports import (
    BucketSettings,
    Encryption,
    ObjectAttributes,
    SourceStore,
    TargetCapabilities,
    TargetStore,
)
from tests.fakes import FakeSource, FakeTarget
from tools import emulators
from tools.azblob import BlobWriter


class Seeder(Protocol):
    def container(self, name: str) -> None: ...

    def add(
        self,
        container: str,
        key: str,
        body: bytes,
        attributes: ObjectAttributes,
        *,
        md5: bool = True,
    ) -> None: ...


@dataclass
class SourceUnderTest:
    source: SourceStore
    seed: Seeder
    supports_attributes: bool


class _FakeSeeder:
    def __init__(self, fake: FakeSource) -> None:
        self.fake = fake

    def container(self, name: str) -> None:
        self.fake.containers.setdefault(name, {})

    def add(
        self,
        container: str,
        key: str,
        body: bytes,
        attributes: ObjectAttributes,
        *,
        md5: bool = True,
    ) -> None:
        self.fake.add(container, key, body, md5=md5, attributes=attributes)


class _LocalSeeder:
    def __init__(self, root: Path) -> None:
        self.target = LocalTarget(root)

    def container(self, name: str) -> None:
        self.target.ensure_bucket(name, BucketSettings(Encryption("none")))

    def add(
        self,
        container: str,
        key: str,
        body: bytes,
        attributes: ObjectAttributes,
        *,
        md5: bool = True,
    ) -> None:
        self.target.put(
            container,
            key,
            body,
            hashlib.md5(body).hexdigest(),
            attributes,
            Encryption("none"),
        )


class _AzureSeeder:
    def __init__(self, servers: emulators.Servers) -> None:
        self.writer = BlobWriter(servers.azurite_url)

    def container(self, name: str) -> None:
        self.writer.create_container(name)

    def add(
        self,
        container: str,
        key: str,
        body: bytes,
        attributes: ObjectAttributes,
        *,
        md5: bool = True,
    ) -> None:
        headers = {
            name: getattr(attributes, name)
            for name in (
                "content_type",
                "content_encoding",
                "content_language",
                "content_disposition",
                "cache_control",
            )
            if getattr(attributes, name) is not None
        }
        if md5:
            self.writer.put_blob(
                container, key, body, headers=headers, metadata=attributes.metadata
            )
        else:
            self.writer.put_blob_in_blocks(
                container, key, body, 1024 * 1024, headers=headers, metadata=attributes.metadata
            )


def make_source(kind: str, tmp_path: Path, servers: emulators.Servers | None) -> SourceUnderTest:
    if kind == "fake":
        fake = FakeSource()
        return SourceUnderTest(fake, _FakeSeeder(fake), True)
    if kind == "local":
        return SourceUnderTest(LocalSource(tmp_path), _LocalSeeder(tmp_path), True)
    assert servers is not None
    source = AzureSource(emulators.AZURITE_ACCOUNT, emulators.AZURITE_KEY, servers.azurite_url)
    return SourceUnderTest(source, _AzureSeeder(servers), True)


def make_target(kind: str, tmp_path: Path, servers: emulators.Servers | None) -> TargetStore:
    caps = TargetCapabilities()
    if kind == "fake":
        return FakeTarget(caps)
    if kind == "local":
        return LocalTarget(tmp_path)
    assert servers is not None
    settings = S3Settings(
        servers.s3_url, "eu-west-2", emulators.S3_ACCESS_KEY, emulators.S3_SECRET_KEY
    )
    return S3Target(settings, caps)
