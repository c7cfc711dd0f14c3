"""Nothing let in: an endpoint that parsers read differently is refused at plan, and the
source's redirect to another host is not followed (the other host receives nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import migrate, seed, write_inventory
from tests.proxy import Forged, Proxy
from tools import emulators

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://evil.invalid\\@127.0.0.1:9000",  # urlsplit reads 127.0.0.1, urllib3 evil.invalid
        "http://user:secret@127.0.0.1:9000",
        "http://127.0.0.1:9000 http://evil.invalid",
        "https://evil.invalid\x07",  # a control character
    ],
)
def test_an_ambiguous_endpoint_is_refused_at_plan(
    server_env: dict[str, str], tmp_path: Path, endpoint: str
) -> None:
    inventory = write_inventory(tmp_path, {"store-data": "store"}, s3_url="${EVIL_URL}")
    env = {**server_env, "EVIL_URL": endpoint}  # interpolated: the secret scanner cannot see it
    result = migrate("plan", str(inventory), env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "inventory.yaml:" in result.stderr
    assert "target.endpoint" in result.stderr
    assert "secret" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_a_redirect_to_another_host_is_not_followed(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    seed(servers, unique, 2)
    with Proxy(servers.azurite_url) as elsewhere:
        moved = Forged(
            307,
            "application/xml",
            b"",
            headers=(("Location", f"{elsewhere.url}/{emulators.AZURITE_ACCOUNT}/{unique}"),),
        )

        def decide(method: str, path: str, _count: int) -> Forged | None:
            return moved if method == "GET" and "comp=list" in path else None

        with Proxy(servers.azurite_url, decide=decide) as proxy:
            env = {**server_env, "AZURITE_URL": f"{proxy.url}/{emulators.AZURITE_ACCOUNT}"}
            inventory = write_inventory(tmp_path, {"moved-data": unique})
            document = yaml.safe_load(inventory.read_text())
            document["policy"]["retry_attempts"] = 1
            inventory.write_text(yaml.safe_dump(document, sort_keys=False))
            planned = migrate("plan", "inventory.yaml", "-o", "plan.json", env=env, cwd=tmp_path)
            assert planned.returncode == 0, planned.stderr
            result = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
        assert elsewhere.recorder.requests == []  # not one request reached the other host
    assert result.returncode == 1, result.stdout + result.stderr
    assert "another host: not followed" in result.stdout
    status = json.loads(migrate("status", "--format", "json", env=env, cwd=tmp_path).stdout)
    assert status["services"]["moved-data"]["state"] == "failed"


def test_a_qualified_preset_takes_only_its_provider_hosts(
    server_env: dict[str, str], tmp_path: Path
) -> None:
    inventory = write_inventory(tmp_path, {"store-data": "store"}, s3_url="${QUALIFIED_URL}")
    document = yaml.safe_load(inventory.read_text())
    document["target"].update(preset="outscale", region="cloudgouv-eu-west-1")
    document["policy"].update(require_qualified=True, allowed_regions=["cloudgouv-eu-west-1"])
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    elsewhere = {**server_env, "QUALIFIED_URL": "https://s3.other-provider.example"}
    refused = migrate("plan", str(inventory), env=elsewhere, cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "'s3.other-provider.example' is not a host of preset 'outscale'" in refused.stderr
    own = {**server_env, "QUALIFIED_URL": "https://oos.cloudgouv-eu-west-1.outscale.com"}
    accepted = migrate("plan", str(inventory), env=own, cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
