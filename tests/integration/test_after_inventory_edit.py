"""Verify, rollback and decommission work on what was applied: the state database keeps the
inventory each plan was applied with, so an inventory edited (or lost) since never blocks the
emergency path. Rollback shows what it will do, in order; a cycle rolls back as one."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import yaml

from tests.integration.helpers import migrate, seed, write_inventory
from tools import emulators

pytestmark = pytest.mark.integration


def _apply(tmp_path: Path, inventory: Path, env: dict[str, str]) -> None:
    planned = migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    applied = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr


def _states(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    status = json.loads(migrate("status", "--format", "json", env=env, cwd=tmp_path).stdout)
    return {name: s["state"] for name, s in status["services"].items()}


def test_an_edited_inventory_does_not_block_verify_or_rollback(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    seed(servers, unique, 3)
    portal = {"name": "portal-app", "kind": "workspace", "depends_on": ["store-data"]}
    inventory = write_inventory(tmp_path, {"store-data": unique}, extra_services=[portal])
    _apply(tmp_path, inventory, server_env)
    original = tmp_path / "applied-inventory.yaml"
    shutil.copy(inventory, original)
    document = yaml.safe_load(inventory.read_text())
    document["services"].append({"name": "new-service", "kind": "workspace"})
    document["services"][1]["hooks"] = {"cutover": "true"}  # portal-app, done
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    replanned = migrate("plan", str(inventory), "-o", "next.json", env=server_env, cwd=tmp_path)
    assert replanned.returncode == 0, replanned.stdout + replanned.stderr
    shown = " ".join(replanned.stdout.split())
    assert "1 unchanged, 1 to add, 1 changed, 0 to remove" in shown
    assert "done: apply skips it" in shown

    verified = migrate("verify", env=server_env, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "changed since the plan was applied: working from the plan applied last" in (
        verified.stderr
    )
    inventory.unlink()  # lost altogether: still the applied plan
    missing = migrate("verify", env=server_env, cwd=tmp_path)
    assert missing.returncode == 0, missing.stdout + missing.stderr
    assert "is missing: working from the plan applied last" in missing.stderr

    refused = migrate("rollback", "store-data", "--yes", env=server_env, cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "portal-app depends on store-data and is cut over" in refused.stderr
    rolled = migrate("rollback", "store-data", "--cascade", "--yes", env=server_env, cwd=tmp_path)
    assert rolled.returncode == 0, rolled.stdout + rolled.stderr
    assert "Roll back, in this order: portal-app (wave 1), then store-data (wave 1)" in (
        rolled.stdout
    )
    assert _states(tmp_path, server_env) == {
        "store-data": "rolled-back",
        "portal-app": "rolled-back",
    }

    # a ledger written by an older version has no copy of the inventory: say what to give
    with sqlite3.connect(tmp_path / ".migrate" / "state.db") as db:
        db.execute("update plans set inventory_text = null")
    stale = migrate("verify", env=server_env, cwd=tmp_path)
    assert stale.returncode == 3, stale.stdout + stale.stderr
    assert "has no copy of that inventory" in stale.stderr
    assert "--inventory FILE" in stale.stderr
    given = migrate("verify", "--inventory", str(original), env=server_env, cwd=tmp_path)
    assert given.returncode == 0, given.stdout + given.stderr


def test_a_cycle_rolls_back_as_one_unit(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    extra = [
        {"name": "identity", "kind": "workspace", "depends_on": ["directory"]},
        {"name": "directory", "kind": "workspace", "depends_on": ["identity"]},
    ]
    seed(servers, unique, 1)
    inventory = write_inventory(tmp_path, {"store-data": unique}, extra_services=extra)
    _apply(tmp_path, inventory, server_env)
    refused = migrate("rollback", "identity", "--yes", env=server_env, cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "identity is in a cycle with directory" in refused.stderr
    assert "`migrate rollback identity --cascade`" in refused.stderr
    together = migrate("rollback", "identity", "--cascade", "--yes", env=server_env, cwd=tmp_path)
    assert together.returncode == 0, together.stdout + together.stderr
    states = _states(tmp_path, server_env)
    assert states["identity"] == states["directory"] == "rolled-back"
    assert states["store-data"] == "done"
