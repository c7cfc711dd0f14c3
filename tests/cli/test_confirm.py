"""Without a terminal, an answer waiting on standard input is taken: `echo n | migrate
rollback ...` changes nothing (before, a "no" piped in was ignored and the rollback ran)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli.support import migrate_env, run, write_plan


def _piped(answer: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        cwd=cwd,
        input=answer,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=migrate_env(),
    )


def _state(tmp_path: Path) -> str:
    status = json.loads(run("status", "--format", "json", cwd=tmp_path).stdout)
    return str(status["services"]["alpha"]["state"])


def test_a_no_piped_in_stops_and_a_yes_goes_ahead(tmp_path: Path) -> None:
    write_plan(tmp_path, [{"name": "alpha", "kind": "compute"}])
    assert run("apply", "plan.json", "--yes", cwd=tmp_path).returncode == 0

    refused = _piped("n\n", "rollback", "alpha", cwd=tmp_path)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "Roll back, in this order: alpha" in refused.stdout
    assert "stopped, nothing was changed" in refused.stderr
    assert _state(tmp_path) == "done"

    accepted = _piped("yes\n", "rollback", "alpha", cwd=tmp_path)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert _state(tmp_path) == "rolled-back"
