"""--insecure (plain http outside loopback) is written to the audit log by every command that
connects: plan, apply, apply --dry-run, verify, probe, decommission; without it they refuse.

The endpoints are names under .invalid: nothing answers, the commands fail after the override
is recorded (it is recorded before the first connection)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

ENV = {
    "AZURE_STORAGE_KEY": (
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
    ),
    "AWS_ACCESS_KEY_ID": "test-access-key",
    "AWS_SECRET_ACCESS_KEY": "test-secret-key",
}


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, **ENV},
    )


def _overrides(cwd: Path) -> list[str]:
    exported = _run("audit", "export", "audit.jsonl", cwd=cwd)
    assert "Internal error" not in exported.stderr
    events = [json.loads(line) for line in (cwd / "audit.jsonl").read_text().splitlines()]
    return [
        e["detail"].get("command", e["detail"].get("reason", ""))
        for e in events
        if e["action"] == "security.insecure-override"
    ]


def test_every_command_that_connects_records_the_override(tmp_path: Path) -> None:
    inventory = {
        "version": 1,
        "name": "plain-http",
        "source": {
            "provider": "azure",
            "account": "devstoreaccount1",
            "endpoint": "http://source.invalid:10000/devstoreaccount1",
        },
        "target": {
            "provider": "s3",
            "preset": "generic",
            "endpoint": "http://target.invalid:9000",
            "region": "eu-west-2",
            "encryption": "AES256",
        },
        "policy": {"pilot_wave": False, "retry_attempts": 1, "retry_max_time": "1s"},
        "services": [
            {"name": "alpha-data", "kind": "object-store", "data": {"container": "alpha"}}
        ],
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    refused = _run("plan", "inventory.yaml", "-o", "plan.json", cwd=tmp_path)
    assert refused.returncode == 3, refused.stderr
    planned = _run("plan", "inventory.yaml", "-o", "plan.json", "--insecure", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    commands = {
        "apply --dry-run": ["apply", "plan.json", "--dry-run"],
        "apply": ["apply", "plan.json", "--yes"],
        "verify": ["verify"],
        "probe": ["probe", "inventory.yaml"],
        "decommission": ["decommission", "alpha-data"],
    }
    for name, args in commands.items():
        without = _run(*args, cwd=tmp_path)
        assert without.returncode == 3, (name, without.stdout, without.stderr)
        assert "plain-http endpoint" in without.stderr, name
        before = len(_overrides(tmp_path))
        result = _run(*args, "--insecure", cwd=tmp_path)
        assert "Internal error" not in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr, name
        recorded = _overrides(tmp_path)
        assert len(recorded) == before + 1, (name, recorded, result.stdout, result.stderr)
        assert name in recorded[-1], (name, recorded)
