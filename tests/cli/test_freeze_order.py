"""No write freeze starts until its cutover can follow at once (local folders, hooks that log
their start and end): an in-wave dependency is cut over first, an approval gate on cutover is
asked for before the freeze, and a service whose dependency failed is never frozen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from tests.cli.support import run


def _logged(log: Path, step: str, seconds: float = 0.0) -> str:
    """A hook that writes '<service> <step> start|end <time>' around a pause."""
    return (
        f'echo "$MIGRATE_SERVICE {step} start $(date +%s.%N)" >> {log}; sleep {seconds}; '
        f'echo "$MIGRATE_SERVICE {step} end $(date +%s.%N)" >> {log}'
    )


def _setup(
    tmp_path: Path, *, app: dict[str, Any] | None = None, db_cutover: str | None = None
) -> tuple[Path, Path]:
    log = tmp_path / "hooks.log"
    db = {
        "name": "metadata-db",
        "kind": "database",
        "hooks": {
            "freeze": _logged(log, "freeze"),
            "cutover": db_cutover or _logged(log, "cutover", 1.0),
        },
    }
    portal = {
        "name": "portal",
        "kind": "compute",
        "depends_on": ["metadata-db"],
        "hooks": {"freeze": _logged(log, "freeze"), "cutover": _logged(log, "cutover")},
        **(app or {}),
    }
    (tmp_path / "src").mkdir()
    document = {
        "version": 1,
        "name": "local-hub",
        "source": {"provider": "local", "path": str(tmp_path / "src")},
        "target": {"provider": "local", "path": str(tmp_path / "dst"), "encryption": "none"},
        "policy": {"pilot_wave": False, "require_encryption": False},
        "services": [db, portal],
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    planned = run("plan", "inventory.yaml", "-o", "plan.json", cwd=tmp_path)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    plan = json.loads((tmp_path / "plan.json").read_text())
    assert [w["services"] for w in plan["waves"]] == [["metadata-db", "portal"]]  # one wave
    return tmp_path / "plan.json", log


def _events(log: Path) -> dict[str, float]:
    if not log.exists():
        return {}
    events = {}
    for line in log.read_text().splitlines():
        service, step, edge, stamp = line.split()
        events[f"{service} {step} {edge}"] = float(stamp)
    return events


def _state(tmp_path: Path) -> dict[str, Any]:
    result = run("status", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    services: dict[str, Any] = json.loads(result.stdout)["services"]
    return services


def test_an_in_wave_dependency_is_cut_over_before_the_freeze(tmp_path: Path) -> None:
    plan, log = _setup(tmp_path)
    result = run("apply", plan.name, "--yes", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    events = _events(log)
    assert events["portal freeze start"] >= events["metadata-db cutover end"]
    assert events["portal cutover start"] >= events["portal freeze end"]


def test_a_gate_on_cutover_is_opened_before_the_freeze(tmp_path: Path) -> None:
    plan, log = _setup(tmp_path, app={"approval": ["cutover"]})
    first = run("apply", plan.name, "--yes", cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr  # waiting is not a failure
    assert "portal freeze start" not in _events(log)  # not frozen while a person decides
    portal = _state(tmp_path)["portal"]
    assert portal["state"] == "waiting-approval"
    assert portal["step"] == "freeze"
    assert "migrate approve portal cutover" in portal["error"]
    approved = run("approve", "portal", "cutover", cwd=tmp_path)
    assert approved.returncode == 0, approved.stderr
    second = run("apply", plan.name, "--yes", cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    events = _events(log)
    assert events["portal cutover start"] >= events["portal freeze end"]
    assert _state(tmp_path)["portal"]["state"] == "done"


def test_a_service_whose_dependency_failed_is_never_frozen(tmp_path: Path) -> None:
    plan, log = _setup(tmp_path, db_cutover="echo 'cannot re-point the clients'; exit 1")
    result = run("apply", plan.name, "--yes", cwd=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "portal freeze start" not in _events(log)
    services = _state(tmp_path)
    assert services["metadata-db"]["state"] == "failed"
    assert services["portal"]["state"] == "pending"
    assert "metadata-db (failed)" in services["portal"]["error"]
    assert "not frozen" in services["portal"]["error"]


def test_approve_refuses_a_gate_that_does_not_exist_and_suggests_names(tmp_path: Path) -> None:
    plan, _ = _setup(tmp_path, app={"approval": ["cutover"]})
    assert run("apply", plan.name, "--dry-run", cwd=tmp_path).returncode == 0
    nothing = run("approve", "portal", "prepare", cwd=tmp_path)
    assert nothing.returncode == 2
    assert "portal has no approval gate at 'prepare'" in nothing.stderr
    typo = run("approve", "portl", "cutover", cwd=tmp_path)
    assert typo.returncode == 2
    assert "did you mean 'portal'?" in typo.stderr
    assert run("approve", "portal", "cutover", cwd=tmp_path).returncode == 0
