"""The Azure source reads the environment once: the proxy variables still apply (resolved when
the source is built), and a ``.netrc`` entry for the account's host never replaces the
SharedKey signature (requests' sessions would apply it to every request)."""

from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import pytest
import requests

from adapters.azure import AzureSource
from migrate.errors import StorageError
from tests.proxy import Proxy
from tools import emulators
from tools.azblob import BlobWriter

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def clean_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def _seeded(servers: emulators.Servers) -> str:
    container = f"env-{uuid.uuid4().hex[:8]}"
    writer = BlobWriter(servers.azurite_url)
    writer.create_container(container)
    writer.put_blob(container, "a.bin", b"payload")
    return container


def _source(servers: emulators.Servers) -> AzureSource:
    return AzureSource(emulators.AZURITE_ACCOUNT, emulators.AZURITE_KEY, servers.azurite_url)


def test_a_netrc_entry_does_not_replace_the_signature(
    servers: emulators.Servers, clean_proxy_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    container = _seeded(servers)
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login intruder password not-the-account-key\n")
    netrc.chmod(0o600)
    clean_proxy_env.setenv("NETRC", str(netrc))
    # the hazard is real here: a plain requests session would send these Basic credentials
    prepared = requests.Session().prepare_request(requests.Request("GET", servers.azurite_url))
    authorization = prepared.headers.get("Authorization", "")
    assert isinstance(authorization, str)  # requests' headers are str or bytes
    assert authorization.startswith("Basic ")

    source = _source(servers)
    page = source.list_page(container, "", None)
    assert [o.key for o in page.objects] == ["a.bin"]
    with source.open(container, "a.bin", page.objects[0].etag) as reader:
        assert b"".join(reader.chunks(1024)) == b"payload"


def test_the_proxy_of_the_environment_is_used(
    servers: emulators.Servers, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    container = _seeded(servers)
    with Proxy(servers.azurite_url) as proxy:
        clean_proxy_env.setenv("HTTP_PROXY", proxy.url)
        source = _source(servers)  # the environment is read here, once
        clean_proxy_env.delenv("HTTP_PROXY")
        # the test proxy is no forward proxy: only that the request went to it counts
        with contextlib.suppress(StorageError):
            source.list_page(container, "", None)
    assert any(container in path for _, path in proxy.recorder.requests)


def test_no_proxy_is_honoured(
    servers: emulators.Servers, clean_proxy_env: pytest.MonkeyPatch
) -> None:
    container = _seeded(servers)
    with Proxy(servers.azurite_url) as proxy:
        clean_proxy_env.setenv("HTTP_PROXY", proxy.url)
        clean_proxy_env.setenv("NO_PROXY", "127.0.0.1")
        page = _source(servers).list_page(container, "", None)
    assert [o.key for o in page.objects] == ["a.bin"]
    assert proxy.recorder.requests == []
