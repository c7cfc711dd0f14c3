"""`migrate discover` against the real Azure emulator (and a PostgreSQL cluster): exact
counts and bytes, access tiers, blob types and refused names from the real listing, then the
inventory it wrote planned by `migrate plan` once its target is filled in."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from tests.integration.helpers import migrate, seed, writer
from tools import emulators

if TYPE_CHECKING:
    from tools.postgres import Postgres

pytestmark = pytest.mark.integration

SOURCE = """\
version: 1
name: discovered-hub
source:
  provider: azure
  account: devstoreaccount1
  endpoint: ${AZURITE_URL}
  key_env: AZURE_STORAGE_KEY
policy:
  allowed_regions: [eu-west-2]
  pilot_wave: false
databases:
  - name: catalogue
    url_env: CATALOGUE_SOURCE_URL
"""
TARGET = """\
target:
  provider: s3
  endpoint: ${S3_URL}
  region: eu-west-2
  encryption: AES256
"""
SCHEMA = """
CREATE EXTENSION citext;
CREATE TABLE datasets (id serial PRIMARY KEY, name citext NOT NULL);
CREATE TABLE audit_trail (at timestamptz NOT NULL DEFAULT now(), message text);
INSERT INTO datasets (name) SELECT 'dataset-' || i FROM generate_series(1, 500) i;
"""


@pytest.fixture(scope="module")
def account() -> Iterator[emulators.Servers]:
    """An emulator of this module's own: discover lists the whole account, and the session's
    emulator holds the containers of every other test."""
    running = emulators.start()
    try:
        yield running
    finally:
        emulators.stop(running)


@pytest.fixture(scope="module")
def seeded(account: emulators.Servers) -> dict[str, tuple[int, int]]:
    """Three containers; returns (objects, bytes) by container."""
    w = writer(account)
    bodies = seed(account, "claims-2026", 12, size=2048)
    w.set_tier("claims-2026", "data/00001.bin", "Cool")
    w.set_tier("claims-2026", "data/00002.bin", "Cold")
    w.set_tier("claims-2026", "data/00003.bin", "Archive")
    w.create_container("platform-logs")
    w.put_blob("platform-logs", "index.json", b"{}")
    w.put_append_blob("platform-logs", "2026/12/01.log", b"line one\nline two\n")
    w.put_page_blob("platform-logs", "disks/vm.vhd", 4096)
    w.create_container("hard-names")
    for key in ("fine.txt", "ends-with-dot.", "folder-marker/"):
        w.put_blob("hard-names", key, b"x" * 3)
    return {
        "claims-2026": (12, sum(len(b) for b in bodies.values())),
        "platform-logs": (3, 2 + 18 + 4096),
        "hard-names": (3, 9),
    }


def _catalogue(server: Postgres) -> str:
    import psycopg

    from tools import postgres

    url = postgres.create_database(server, "catalogue").replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(SCHEMA)
    return url


def test_discover_lists_the_account_and_its_inventory_plans(
    account: emulators.Servers,
    seeded: dict[str, tuple[int, int]],
    postgres_server: Postgres,
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        **account.environment(),
        "CATALOGUE_SOURCE_URL": _catalogue(postgres_server),
        "COLUMNS": "200",
    }
    (tmp_path / "source.yaml").write_text(SOURCE)
    found = migrate("discover", "source.yaml", "-o", "inventory.yaml", env=env, cwd=tmp_path)
    assert found.returncode == 0, found.stdout + found.stderr
    assert "Traceback" not in found.stdout + found.stderr
    for container, (count, _) in seeded.items():
        assert f"{container}: listed, {count} objects" in found.stderr

    text = (tmp_path / "inventory.yaml").read_text()
    services = {s["name"]: s for s in yaml.safe_load(text)["services"]}
    assert set(services) == {*seeded, "catalogue"}
    for container, (count, size) in seeded.items():
        data = services[container]["data"]
        assert (data["container"], data["object_count"], data["size_estimate"]) == (
            container,
            count,
            size,
        )
    assert "# access tiers: Hot 9, Archive 1, Cold 1, Cool 1" in text
    assert "# blob types: AppendBlob 1, BlockBlob 1, PageBlob 1" in text
    assert "'ends-with-dot.': name ends with '.'" in text
    assert "'folder-marker/': name ends with '/'" in text
    assert "'data/00003.bin': Archive tier" in text
    database = services["catalogue"]["database"]
    assert database["source_url_env"] == "CATALOGUE_SOURCE_URL"
    assert database["target_url_env"] == "FILL_IN_CATALOGUE_TARGET_URL"
    assert database["size_estimate"] > 1024**2
    assert "public.audit_trail" in text
    assert "# extensions: citext" in text
    assert "hard-names: names the target refuses: 2 (rename them at the source)" in found.stdout

    report = json.loads(
        migrate("discover", "source.yaml", "--format", "json", env=env, cwd=tmp_path).stdout
    )
    by_name = {c["container"]: c for c in report["containers"]}
    assert by_name["claims-2026"]["tiers"] == {"Hot": 9, "Cool": 1, "Cold": 1, "Archive": 1}
    assert by_name["claims-2026"]["problems"]["archive"]["count"] == 1
    assert by_name["platform-logs"]["blob_types"] == {
        "BlockBlob": 1,
        "AppendBlob": 1,
        "PageBlob": 1,
    }
    assert by_name["hard-names"]["problems"]["refused-name"]["count"] == 2
    catalogue = report["databases"][0]
    assert catalogue["without_identity"] == ["public.audit_trail"]
    assert catalogue["extensions"] == ["citext"]

    (tmp_path / "inventory.yaml").write_text(text.replace("policy:\n", TARGET + "policy:\n", 1))
    planned = migrate("plan", "inventory.yaml", "-o", "plan.json", env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert set(plan["services"]) == {*seeded, "catalogue"}
    claims = plan["services"]["claims-2026"]
    assert (claims["estimated_objects"], claims["estimated_bytes"]) == seeded["claims-2026"]
