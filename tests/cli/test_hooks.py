"""Hooks through the CLI (contract, additions of 2026-12-01, "Hooks"): a hook's environment is
the MIGRATE_* variables, PATH, HOME, LANG, TZ and what the plan's ``hooks_env`` names, never a
secret of the tool; and a hook left running by a run killed with -9 is waited for (or the step
refused), never started again beside itself."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.cli.support import events, ledger, logged, run, start, wait_for, write_plan

if TYPE_CHECKING:
    from tools.postgres import Postgres

SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "canary-secret-key-4471",
    "AWS_ACCESS_KEY_ID": "canary-access-key-4471",
    "AZURE_STORAGE_KEY": "canary-azure-key-4471",
    "MIGRATE_AUDIT_HMAC_KEY": "canary-audit-key-4471",
    "MIGRATE_DASHBOARD_TOKEN": "canary-dashboard-4471",
}
ALLOWED = {"PATH", "HOME", "LANG", "TZ", "SHARED_VAR", "PORTAL_VAR"}
MIGRATE = {"MIGRATE_SERVICE", "MIGRATE_STEP", "MIGRATE_WAVE", "MIGRATE_RUN", "MIGRATE_STATE_URL"}
SHELL_OWN = {"PWD", "OLDPWD", "SHLVL", "_"}


def _dumping_hook(tmp_path: Path, policy_env: list[str] | None = None) -> Path:
    dump = tmp_path / "env.json"
    hook = f"{sys.executable} -c 'import json, os; print(json.dumps(dict(os.environ)))' > {dump}"
    return write_plan(
        tmp_path,
        [
            {
                "name": "portal",
                "kind": "compute",
                "hooks_env": ["PORTAL_VAR"],
                "hooks": {"freeze": hook},
            }
        ],
        policy={"hooks_env": policy_env if policy_env is not None else ["SHARED_VAR"]},
    )


def _hook_env(tmp_path: Path) -> dict[str, str]:
    loaded: dict[str, str] = json.loads((tmp_path / "env.json").read_text())
    return loaded


def test_a_hook_gets_only_its_environment(tmp_path: Path) -> None:
    plan = _dumping_hook(tmp_path)
    given = {**SECRETS, "SHARED_VAR": "shared", "PORTAL_VAR": "portal", "UNLISTED": "x"}
    applied = run("apply", plan.name, "--yes", cwd=tmp_path, env={**given, "TZ": "UTC"})
    assert applied.returncode == 0, applied.stdout + applied.stderr
    env = _hook_env(tmp_path)
    assert set(env) - SHELL_OWN <= ALLOWED | MIGRATE, set(env) - ALLOWED - MIGRATE
    assert set(env) >= MIGRATE
    assert env["SHARED_VAR"] == "shared"
    assert env["PORTAL_VAR"] == "portal"
    assert env["TZ"] == "UTC"
    assert "UNLISTED" not in env
    text = json.dumps(env)
    for value in SECRETS.values():
        assert value not in text


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("AWS_SECRET_ACCESS_KEY", "named by target.secret_key_env"),
        ("MY_AZURE_KEY", "named by source.key_env"),
        ("MIGRATE_AUDIT_HMAC_KEY", "audit log's signing key"),
        ("MIGRATE_DASHBOARD_TOKEN", "the tool's own namespace"),
    ],
)
def test_hooks_env_naming_a_secret_is_refused_at_plan_time(
    tmp_path: Path, name: str, why: str
) -> None:
    (tmp_path / "src").mkdir()
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(
        "version: 1\n"
        "name: local-hub\n"
        f"source: {{provider: local, path: {tmp_path / 'src'}, key_env: MY_AZURE_KEY}}\n"
        f"target: {{provider: local, path: {tmp_path / 'dst'}, encryption: none}}\n"
        "policy:\n"
        "  require_encryption: false\n"
        "  hooks_env:\n"
        "    - SHARED_VAR\n"
        f"    - {name}\n"
        "services:\n"
        "  - name: portal\n"
        "    kind: compute\n"
    )
    planned = run("plan", "inventory.yaml", "-o", "plan.json", cwd=tmp_path)
    assert planned.returncode == 2, planned.stdout + planned.stderr
    assert f"inventory.yaml:9: policy.hooks_env[1]: '{name}' cannot be passed to hooks" in (
        planned.stderr
    )
    assert why in planned.stderr
    assert not (tmp_path / "plan.json").exists()


def test_the_plan_holds_hooks_env_and_an_edit_is_refused(tmp_path: Path) -> None:
    plan = _dumping_hook(tmp_path)
    data = json.loads(plan.read_text())
    assert data["services"]["portal"]["hooks_env"] == ["PORTAL_VAR", "SHARED_VAR"]
    assert data["policy"]["hooks_env"] == ["SHARED_VAR"]
    data["services"]["portal"]["hooks_env"].append("AWS_SECRET_ACCESS_KEY")
    plan.write_text(json.dumps(data, indent=2))
    refused = run("apply", plan.name, "--yes", cwd=tmp_path, env=SECRETS)
    assert refused.returncode == 3, refused.stdout + refused.stderr
    assert "services.portal.hooks_env" in refused.stderr
    assert not (tmp_path / "env.json").exists()


def test_the_state_url_reaches_hooks_without_its_password(
    tmp_path: Path, postgres_server: Postgres
) -> None:
    from tools import postgres

    url = postgres.create_database(postgres_server, f"hooks{os.getpid()}{time.time_ns() % 10**6}")
    with_password = url.replace("postgres@", "postgres:state-pw-canary-4471@")
    assert with_password != url
    plan = _dumping_hook(tmp_path)
    applied = run("apply", plan.name, "--yes", "--state", with_password, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    env = _hook_env(tmp_path)
    assert env["MIGRATE_STATE_URL"] == url
    assert "state-pw-canary-4471" not in json.dumps(env)


def _orphan_plan(tmp_path: Path, log: Path, seconds: float, timeout: str | None = None) -> Path:
    policy = {"hook_timeout": timeout} if timeout else {}
    return write_plan(
        tmp_path,
        [{"name": "portal", "kind": "compute", "hooks": {"prepare": logged(log, "hook", seconds)}}],
        policy=policy,
    )


def _kill_9_during_the_hook(tmp_path: Path, plan: Path, log: Path) -> None:
    apply = start("apply", plan.name, "--yes", cwd=tmp_path)
    try:
        wait_for(lambda: [e for _, e, _ in events(log)] == ["start"])
        settled = time.monotonic() + 2.0  # the record follows the spawn at once
        while _recorded_hooks(tmp_path) == 0 and time.monotonic() < settled:
            time.sleep(0.02)
    finally:
        apply.send_signal(signal.SIGKILL)  # for real: the hook, in its own group, lives on
        apply.communicate(timeout=30)


def _recorded_hooks(tmp_path: Path) -> int:
    try:
        with ledger(tmp_path) as db:
            return int(db.execute("select count(*) from hook_processes").fetchone()[0])
    except Exception:  # the table is not there yet (or not at all, before this change)
        return 0


def test_after_kill_9_the_next_run_waits_for_the_hook_left_running(tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    plan = _orphan_plan(tmp_path, log, 6.0)
    _kill_9_during_the_hook(tmp_path, plan, log)
    assert [e for _, e, _ in events(log)] == ["start"]  # the orphan still runs
    resumed = run("apply", plan.name, "--yes", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    edges = events(log)
    assert [e for _, e, _ in edges] == ["start", "end", "start", "end"]
    assert edges[2][2] >= edges[1][2], "the hook ran twice at once"
    assert "waited" in resumed.stdout
    assert "left running" in resumed.stdout or "started by run" in resumed.stdout
    assert _recorded_hooks(tmp_path) == 0


def test_a_hook_left_running_past_the_hook_timeout_is_refused(tmp_path: Path) -> None:
    log = tmp_path / "hooks.log"
    plan = _orphan_plan(tmp_path, log, 60.0, timeout="3s")
    _kill_9_during_the_hook(tmp_path, plan, log)
    with ledger(tmp_path) as db:
        pid = int(db.execute("select pid from hook_processes").fetchone()[0])
    try:
        began = time.monotonic()
        refused = run("apply", plan.name, "--yes", cwd=tmp_path)
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert time.monotonic() - began < 30
        assert "still running" in refused.stderr
        assert f"pid {pid}" in refused.stderr
        assert f"kill -TERM -- -{pid}" in refused.stderr
        assert [e for _, e, _ in events(log)] == ["start"]  # never started beside itself
        status = json.loads(run("status", "--format", "json", cwd=tmp_path).stdout)
        assert status["services"]["portal"]["state"] == "pending"
        assert "still running" in status["services"]["portal"]["error"]
    finally:
        os.killpg(pid, signal.SIGKILL)
