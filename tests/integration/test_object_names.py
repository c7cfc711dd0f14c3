"""Names with '.', '..' or empty path segments are refused by name and never read: an HTTP
stack resolves ``a/./b`` to ``a/b``, so reading it would copy another blob under its name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.helpers import migrate, s3_client, source, write_inventory, writer
from tests.proxy import Forged, Proxy
from tools import emulators

pytestmark = pytest.mark.integration

DOTTED = ("a/./b", "a//b", "../x")


def _listing_with_dotted_names(servers: emulators.Servers, container: str) -> bytes:
    """The container's real listing, with blobs whose names have dot segments added."""
    real = source(servers)._request(
        f"/{container}",
        "listing",
        params={"restype": "container", "comp": "list", "include": "metadata"},
    )
    extra = "".join(
        f"<Blob><Name>{name}</Name><Properties><Content-Length>9</Content-Length>"
        "<Etag>0x8DEADBEEF</Etag><Content-Type>text/plain</Content-Type>"
        "<BlobType>BlockBlob</BlobType></Properties></Blob>"
        for name in DOTTED
    )
    return real.content.replace(b"</Blobs>", extra.encode() + b"</Blobs>")


def test_dot_segment_names_are_refused_and_never_read(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    writer(servers).create_container(unique)
    writer(servers).put_blob(unique, "a/b", b"the real a/b")
    forged = Forged(200, "application/xml", _listing_with_dotted_names(servers, unique))

    def decide(method: str, path: str, _count: int) -> str | Forged | None:
        return forged if method == "GET" and "comp=list" in path else None

    with Proxy(servers.azurite_url, decide=decide) as proxy:
        env = {**server_env, "AZURITE_URL": f"{proxy.url}/{emulators.AZURITE_ACCOUNT}"}
        write_inventory(tmp_path, {"dotted-data": unique})
        assert (
            migrate("plan", "inventory.yaml", "-o", "plan.json", env=env, cwd=tmp_path).returncode
            == 0
        )
        rehearsal = migrate("apply", "plan.json", "--dry-run", env=env, cwd=tmp_path)
        assert rehearsal.returncode == 0, rehearsal.stdout + rehearsal.stderr
        for name in DOTTED:
            assert f"{name!r} cannot be copied" in rehearsal.stdout
        applied = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
        reads = [p for m, p in proxy.recorder.requests if m == "GET" and "comp=list" not in p]
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "path segment" in applied.stdout
    assert reads == [f"/{emulators.AZURITE_ACCOUNT}/{unique}/a/b"]  # only the real blob is read
    keys = [o["Key"] for o in s3_client(servers).list_objects_v2(Bucket=unique).get("Contents", [])]
    assert keys == ["a/b"]
    status = json.loads(migrate("status", "--format", "json", env=env, cwd=tmp_path).stdout)
    service = status["services"]["dotted-data"]
    assert (service["objects_done"], service["objects_failed"]) == (1, 3)
