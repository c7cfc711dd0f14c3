"""Deletion safety, through the CLI against the real servers: an answer that is not a listing
(status 200 with an error document, a web page, a truncated page, another container) fails
the step and deletes nothing; a sync that would delete more than the policy allows stops and
asks for `migrate approve SERVICE sync`, and deletes only once approved."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.helpers import ROOT, migrate, s3_client, seed, write_inventory
from tests.proxy import Forged, Proxy
from tools import emulators

pytestmark = pytest.mark.integration

ERROR_DOCUMENT = (
    b'<?xml version="1.0" encoding="utf-8"?><Error><Code>InternalError</Code>'
    b"<Message>The server encountered an internal error.</Message></Error>"
)
GATEWAY_PAGE = b"<html><body><h1>Gateway maintenance</h1></body></html>"


def _enumeration(container: str, tail: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EnumerationResults ContainerName="{container}"><Prefix/><Marker/>'
        f"<MaxResults>5000</MaxResults><Blobs/>{tail}</EnumerationResults>"
    ).encode()


def _target_keys(servers: emulators.Servers, bucket: str) -> set[str]:
    s3 = s3_client(servers)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def _status(tmp_path: Path, env: dict[str, str]) -> dict[str, Any]:
    result = migrate("status", "--format", "json", env=env, cwd=tmp_path)
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    return services


FORGERIES = {
    "error document with status 200": Forged(200, "application/xml", ERROR_DOCUMENT),
    "gateway web page with status 200": Forged(200, "text/html", GATEWAY_PAGE),
    "page without its continuation": None,  # built per container below
    "listing of another container": None,
}


def _forgery(name: str, container: str) -> Forged:
    if name == "page without its continuation":
        return Forged(200, "application/xml", _enumeration(container, ""))
    if name == "listing of another container":
        return Forged(200, "application/xml", _enumeration("other", "<NextMarker/>"))
    forged = FORGERIES[name]
    assert forged is not None
    return forged


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_an_answer_that_is_not_a_listing_deletes_nothing(
    servers: emulators.Servers,
    server_env: dict[str, str],
    tmp_path: Path,
    unique: str,
    forgery: str,
) -> None:
    seed(servers, unique, 5)
    forged = _forgery(forgery, unique)
    listings: list[str] = []

    def decide(method: str, path: str, _count: int) -> str | Forged | None:
        if method == "GET" and "comp=list" in path:
            listings.append(path)
            if len(listings) > 1:  # the replicate step's listing is real, the sync's is not
                return forged
        return None

    with Proxy(servers.azurite_url, decide=decide) as proxy:
        env = {**server_env, "AZURITE_URL": f"{proxy.url}/{emulators.AZURITE_ACCOUNT}"}
        options = {"guarded-data": {"data": {"container": unique, "propagate_deletes": True}}}
        write_inventory(tmp_path, {"guarded-data": unique}, service_options=options)
        planned = migrate("plan", "inventory.yaml", "-o", "plan.json", env=env, cwd=tmp_path)
        assert planned.returncode == 0, planned.stderr
        result = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
        assert result.returncode == 1, result.stdout + result.stderr
        assert any(f[0] == "forged" for f in proxy.recorder.faults)
    assert "not a listing" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert len(_target_keys(servers, unique)) == 5  # every object still at the target
    service = _status(tmp_path, env)["guarded-data"]
    assert (service["state"], service["step"]) == ("failed", "sync")


def test_a_mass_deletion_waits_for_an_approval_given_after_it(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    bodies = seed(servers, unique, 20)
    doomed = sorted(bodies)[:10]
    script = tmp_path / "delete_blobs.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from tools.azblob import BlobWriter\n"
        f"writer = BlobWriter({servers.azurite_url!r})\n"
        f"for key in {doomed!r}:\n"
        f"    writer.delete_blob({unique!r}, key)\n"
    )
    options = {
        "mass-data": {
            "data": {"container": unique, "propagate_deletes": True},
            "hooks": {"freeze": f"{sys.executable} {script}"},
        }
    }
    inventory = write_inventory(tmp_path, {"mass-data": unique}, service_options=options)
    assert (
        migrate("plan", str(inventory), "-o", "plan.json", env=server_env, cwd=tmp_path).returncode
        == 0
    )
    rehearsed = migrate("apply", "plan.json", "--dry-run", env=server_env, cwd=tmp_path)
    assert rehearsed.returncode == 0, rehearsed.stdout + rehearsed.stderr
    early = migrate("approve", "mass-data", "sync", env=server_env, cwd=tmp_path)
    assert early.returncode == 0  # an approval given before the count was known
    first = migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr  # waiting, not failed
    assert "would delete 10 of the 20 objects" in first.stdout
    assert len(_target_keys(servers, unique)) == 20  # nothing deleted yet
    service = _status(tmp_path, server_env)["mass-data"]
    assert (service["state"], service["step"]) == ("waiting-approval", "sync")
    assert "migrate approve mass-data sync" in service["error"]
    approved = migrate("approve", "mass-data", "sync", env=server_env, cwd=tmp_path)
    assert approved.returncode == 0, approved.stderr
    second = migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "10 deleted at the source, deleted on the target" in second.stdout
    assert _target_keys(servers, unique) == set(bodies) - set(doomed)
    assert _status(tmp_path, server_env)["mass-data"]["state"] == "done"


def test_a_few_deletions_within_the_policy_need_no_approval(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    bodies = seed(servers, unique, 4)
    script = tmp_path / "delete_blob.py"
    script.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from tools.azblob import BlobWriter\n"
        f"BlobWriter({servers.azurite_url!r}).delete_blob({unique!r}, 'data/00001.bin')\n"
    )
    options = {
        "few-data": {
            "data": {"container": unique, "propagate_deletes": True},
            "hooks": {"freeze": f"{sys.executable} {script}"},
        }
    }
    inventory = write_inventory(tmp_path, {"few-data": unique}, service_options=options)
    document = yaml.safe_load(inventory.read_text())
    document["policy"]["max_delete_fraction"] = 0.3  # 1 of 4 is allowed here
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    assert (
        migrate("plan", str(inventory), "-o", "plan.json", env=server_env, cwd=tmp_path).returncode
        == 0
    )
    result = migrate("apply", "plan.json", "--yes", env=server_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert _target_keys(servers, unique) == set(bodies) - {"data/00001.bin"}
