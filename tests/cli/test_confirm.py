"""Without a terminal, an answer waiting on standard input is taken: `echo n | migrate
rollback ...` changes nothing (before, a "no" piped in was ignored and the rollback ran)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.support import run, write_plan


def _state(tmp_path: Path) -> str:
    status = json.loads(run("status", "--format", "json", cwd=tmp_path).stdout)
    return str(status["services"]["alpha"]["state"])


def test_a_no_piped_in_stops_and_a_yes_goes_ahead(tmp_path: Path) -> None:
    write_plan(tmp_path, [{"name": "alpha", "kind": "compute"}])
    assert run("apply", "plan.json", "--yes", cwd=tmp_path).returncode == 0

    refused = run("rollback", "alpha", cwd=tmp_path, answer="n\n")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Roll back, in this order: alpha" in refused.stdout
    assert "stopped, nothing was changed" in refused.stderr
    assert _state(tmp_path) == "done"

    accepted = run("rollback", "alpha", cwd=tmp_path, answer="yes\n")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert _state(tmp_path) == "rolled-back"
