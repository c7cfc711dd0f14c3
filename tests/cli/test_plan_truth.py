"""The plan is the whole truth (local folders, no server): an edited plan is never run, one
state database holds one route per service, and write freezes wait for what must come first."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.support import run

Edit = Callable[[dict[str, Any]], None]


def _inventory(tmp_path: Path, services: list[dict[str, Any]], name: str = "inventory") -> Path:
    document = {
        "version": 1,
        "name": "local-hub",
        "source": {"provider": "local", "path": str(tmp_path / "src")},
        "target": {"provider": "local", "path": str(tmp_path / "dst"), "encryption": "none"},
        "policy": {"pilot_wave": False, "require_encryption": False},
        "services": services,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def _store(container: str) -> dict[str, Any]:
    return {"name": "alpha-data", "kind": "object-store", "data": {"container": container}}


def _seed(tmp_path: Path, *containers: str) -> None:
    for container in containers:
        folder = tmp_path / "src" / container
        folder.mkdir(parents=True, exist_ok=True)
        for index in range(3):
            (folder / f"{index}.csv").write_bytes(f"{container},{index}\n".encode())


def _plan(tmp_path: Path, inventory: Path, out: str = "plan.json") -> Path:
    result = run("plan", inventory.name, "-o", out, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    return tmp_path / out


def _edit(plan: Path, change: Edit) -> None:
    data = json.loads(plan.read_text())
    change(data)
    plan.write_text(json.dumps(data, indent=2))


def _service(data: dict[str, Any]) -> dict[str, Any]:
    service: dict[str, Any] = data["services"]["alpha-data"]
    return service


EDITS: dict[str, tuple[Edit, str]] = {
    "bucket": (lambda d: _service(d).update(bucket="other-project"), "services.alpha-data.bucket"),
    "container": (lambda d: _service(d).update(container="bravo"), "services.alpha-data.container"),
    "prefix": (lambda d: _service(d).update(prefix="2026/"), "services.alpha-data.prefix"),
    "steps": (
        lambda d: _service(d)["steps"].append("exfiltrate"),
        "services.alpha-data.steps",
    ),
    "verify": (lambda d: _service(d).update(verify="listing"), "services.alpha-data.verify"),
    "deletes": (
        lambda d: _service(d).update(propagate_deletes=True),
        "services.alpha-data.propagate_deletes",
    ),
    "hook": (
        lambda d: _service(d)["hooks"].update(cutover="curl evil.invalid"),
        "services.alpha-data.hooks.cutover",
    ),
    "wave": (lambda d: _service(d).update(wave=2), "services.alpha-data.wave"),
    "unknown field": (
        lambda d: _service(d).update(delete_everything=True),
        "services.alpha-data.delete_everything",
    ),
    "encryption": (lambda d: d["target"].update(encryption="AES256"), "target.encryption"),
    "recorded waves": (
        lambda d: d.update(recorded_waves={"alpha-data": 1, "beta-data": 4}),
        "recorded_waves.beta-data",
    ),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_an_edited_plan_is_refused_before_anything_is_recorded(tmp_path: Path, edit: str) -> None:
    _seed(tmp_path, "alpha", "bravo")
    plan = _plan(tmp_path, _inventory(tmp_path, [_store("alpha")]))
    change, field = EDITS[edit]
    _edit(plan, change)
    for args in (["--dry-run"], ["--yes"]):
        result = run("apply", "plan.json", *args, cwd=tmp_path)
        assert result.returncode == 3, result.stdout + result.stderr
        assert field in result.stderr
        assert "edited by hand is never run" in result.stderr
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "dst").exists()
    assert _recorded(tmp_path) == {"plans": 0, "runs": 0, "services": 0, "steps": 0}


def _recorded(tmp_path: Path) -> dict[str, int]:
    database = tmp_path / ".migrate" / "state.db"
    tables = ("plans", "runs", "services", "steps")
    if not database.exists():
        return dict.fromkeys(tables, 0)
    with sqlite3.connect(database) as connection:
        return {
            table: connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # noqa: S608
            for table in tables
        }


def test_only_created_at_may_differ_and_an_older_plan_file_still_runs(tmp_path: Path) -> None:
    _seed(tmp_path, "alpha")
    plan = _plan(tmp_path, _inventory(tmp_path, [_store("alpha")]))

    def older(data: dict[str, Any]) -> None:
        data["created_at"] = "2026-11-28T12:00:00Z"
        for key in ("source", "target", "policy"):
            del data[key]
        for service in data["services"].values():
            for key in ("hooks", "tags", "on_budget_exceeded"):
                del service[key]

    _edit(plan, older)
    result = run("apply", "plan.json", "--yes", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    copied = sorted(p.name for p in (tmp_path / "dst" / "alpha").glob("*.csv"))
    assert copied == ["0.csv", "1.csv", "2.csv"]


def _status(tmp_path: Path) -> dict[str, Any]:
    result = run("status", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    status: dict[str, Any] = json.loads(result.stdout)
    return status


def test_another_route_under_the_same_name_is_refused(tmp_path: Path) -> None:
    _seed(tmp_path, "alpha", "bravo")
    first = _plan(tmp_path, _inventory(tmp_path, [_store("alpha")], "first"), "first.json")
    assert run("apply", first.name, "--yes", cwd=tmp_path).returncode == 0
    second = _plan(tmp_path, _inventory(tmp_path, [_store("bravo")], "second"), "second.json")
    for args in (["--dry-run"], ["--yes"]):
        result = run("apply", second.name, *args, cwd=tmp_path)
        assert result.returncode == 3, result.stdout + result.stderr
        assert "service 'alpha-data'" in result.stderr
        assert "container 'alpha'" in result.stderr
        assert "container 'bravo'" in result.stderr
        assert "bucket 'bravo'" in result.stderr
    assert not (tmp_path / "dst" / "bravo").exists()
    assert _status(tmp_path)["services"]["alpha-data"]["objects_done"] == 3


def test_a_route_with_no_work_recorded_may_change(tmp_path: Path) -> None:
    """A dry run records no work: fixing the inventory after it is not a route change."""
    _seed(tmp_path, "alpha", "bravo")
    first = _plan(tmp_path, _inventory(tmp_path, [_store("alpha")], "first"), "first.json")
    assert run("apply", first.name, "--dry-run", cwd=tmp_path).returncode == 0
    second = _plan(tmp_path, _inventory(tmp_path, [_store("bravo")], "second"), "second.json")
    result = run("apply", second.name, "--yes", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "dst" / "bravo" / "0.csv").exists()


def test_a_version_4_ledger_adopts_its_route(tmp_path: Path) -> None:
    """A ledger written before routes were recorded: same container and bucket go on, another
    container under the same name is refused."""
    _seed(tmp_path, "alpha", "bravo")
    first = _plan(tmp_path, _inventory(tmp_path, [_store("alpha")], "first"), "first.json")
    assert run("apply", first.name, "--yes", cwd=tmp_path).returncode == 0
    database = tmp_path / ".migrate" / "state.db"
    with sqlite3.connect(database) as connection:
        for column in ("route", "deletes_held_at"):  # what versions 5 and 6 added
            connection.execute(f"ALTER TABLE services DROP COLUMN {column}")
        connection.execute("DROP TABLE IF EXISTS hook_processes")  # version 7
        connection.execute("ALTER TABLE plans DROP COLUMN inventory_text")  # version 8
        connection.execute("ALTER TABLE services DROP COLUMN database_progress")  # version 9
        connection.execute("UPDATE migrate_meta SET value = '4' WHERE key = 'schema_version'")
    second = _plan(tmp_path, _inventory(tmp_path, [_store("bravo")], "second"), "second.json")
    refused = run("apply", second.name, "--yes", cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "container 'alpha'" in refused.stderr
    again = run("apply", first.name, "--yes", cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    with sqlite3.connect(database) as connection:
        (route,) = connection.execute("SELECT route FROM services").fetchone()
    assert json.loads(route)["container"] == "alpha"


def test_a_narrowed_prefix_never_deletes_what_the_source_still_has(tmp_path: Path) -> None:
    """Applied on the whole container with deletions on, then the prefix narrowed: the rows
    outside the new prefix are not "deleted at the source": the route change is refused."""
    _seed(tmp_path, "alpha")
    (tmp_path / "src" / "alpha" / "keep").mkdir()
    (tmp_path / "src" / "alpha" / "keep" / "k.csv").write_bytes(b"k\n")
    whole = {**_store("alpha"), "data": {"container": "alpha", "propagate_deletes": True}}
    first = _plan(tmp_path, _inventory(tmp_path, [whole], "first"), "first.json")
    assert run("apply", first.name, "--yes", cwd=tmp_path).returncode == 0
    narrowed = {**whole, "data": {**whole["data"], "prefix": "keep/"}}
    second = _plan(tmp_path, _inventory(tmp_path, [narrowed], "second"), "second.json")
    result = run("apply", second.name, "--yes", cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "prefix 'keep/'" in result.stderr
    copied = sorted(p.name for p in (tmp_path / "dst" / "alpha").rglob("*.csv"))
    assert copied == ["0.csv", "1.csv", "2.csv", "k.csv"]  # nothing deleted at the target


def test_a_blob_renamed_after_its_refusal_stops_counting_as_failed(tmp_path: Path) -> None:
    """A name the target cannot take fails; renamed at the source, the next apply copies the
    new name and retires the old row (it never reached the sync that used to retire it)."""
    _seed(tmp_path, "alpha")
    bad = tmp_path / "src" / "alpha" / "ends-with-a-dot."
    bad.write_bytes(b"x\n")
    plan = _plan(tmp_path, _inventory(tmp_path, [_store("alpha")]))
    first = run("apply", plan.name, "--yes", cwd=tmp_path)
    assert first.returncode == 1, first.stdout + first.stderr
    assert _status(tmp_path)["services"]["alpha-data"]["objects_failed"] == 1
    bad.rename(tmp_path / "src" / "alpha" / "renamed.csv")
    second = run("apply", plan.name, "--yes", "--only-failed", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    service = _status(tmp_path)["services"]["alpha-data"]
    assert (service["state"], service["objects_failed"], service["objects_done"]) == ("done", 0, 4)


def test_validate_looks_at_the_target(tmp_path: Path) -> None:
    """Rolled back, then an object lost at the target: cutting over again fails at
    validate, which lists the target, instead of saying "all copied and checked"."""
    _seed(tmp_path, "alpha")
    plan = _plan(tmp_path, _inventory(tmp_path, [_store("alpha")]))
    assert run("apply", plan.name, "--yes", cwd=tmp_path).returncode == 0
    assert run("rollback", "alpha-data", cwd=tmp_path).returncode == 0
    (tmp_path / "dst" / "alpha" / "1.csv").unlink()
    again = run("apply", plan.name, "--yes", cwd=tmp_path)
    assert again.returncode == 1, again.stdout + again.stderr
    assert "the target does not hold 1 of the copied objects" in again.stdout
    assert "'1.csv'" in again.stdout


def _named(name: str, container: str, *depends_on: str) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "object-store",
        "data": {"container": container},
        "depends_on": list(depends_on),
    }


def _waves(plan: Path) -> dict[str, int]:
    return {n: s["wave"] for n, s in json.loads(plan.read_text())["services"].items()}


def test_services_under_way_keep_their_waves_when_the_inventory_grows(tmp_path: Path) -> None:
    """Adding a service that sorts first would take the first wave: what is applied stays where
    it is, the plan says so against the ledger, and a plan made without that ledger is refused
    by it (it would move what is done), naming what it would move."""
    _seed(tmp_path, "alpha", "bravo", "charlie", "delta")
    services = [_named("alpha-data", "alpha"), _named("bravo-data", "bravo")]
    services.append(_named("charlie-data", "charlie", "alpha-data"))
    policy = {"pilot_wave": False, "require_encryption": False, "max_services_per_wave": 2}
    inventory = _inventory(tmp_path, services)
    document = yaml.safe_load(inventory.read_text())
    document["policy"] = policy
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    first = _plan(tmp_path, inventory, "first.json")
    before = _waves(first)
    assert run("apply", first.name, "--yes", cwd=tmp_path).returncode == 0

    document["services"].append(_named("aardvark-data", "delta"))
    inventory.write_text(yaml.safe_dump(document, sort_keys=False))
    elsewhere = run("plan", inventory.name, "-o", "elsewhere.json", "--state",
                    f"sqlite:///{tmp_path / 'other.db'}", cwd=tmp_path)  # fmt: skip
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert _waves(tmp_path / "elsewhere.json")["alpha-data"] == 1
    assert _waves(tmp_path / "elsewhere.json")["bravo-data"] == 2  # moved: plan knew no ledger

    shown = run("plan", inventory.name, "-o", "second.json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    after = _waves(tmp_path / "second.json")
    assert {name: after[name] for name in before} == before
    assert "3 unchanged, 1 to add, 0 changed, 0 to remove" in shown.stdout
    assert json.loads((tmp_path / "second.json").read_text())["recorded_waves"] == before

    refused = run("apply", "elsewhere.json", "--yes", cwd=tmp_path)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "'bravo-data' (recorded in wave 1, the plan gives 2)" in refused.stderr
    assert "aardvark" not in _status(tmp_path)["services"]

    applied = run("apply", "second.json", "--yes", cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    again = run("apply", "second.json", "--yes", cwd=tmp_path)  # resumed: the ledger has it now
    assert again.returncode == 0, again.stdout + again.stderr
    status = _status(tmp_path)["services"]
    assert {name: status[name]["wave"] for name in after} == after
