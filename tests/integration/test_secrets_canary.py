"""Canary secrets through plan, apply (success and failure), status, verify, report and the
audit export: none may appear in any artifact, output or process command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.integration.helpers import migrate, seed, write_inventory, writer
from tools import emulators

ACCESS = "CANARYACCESSKEY0042"
SECRET = "canary-secret-Zq8wX3v9Kp"
HMAC = "canary-hmac-key-5521"


def _scan(folder: Path, outputs: list[str], secrets: list[str]) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for secret in secrets:
                assert secret.encode() not in data, f"{secret[:8]}... found in {path}"
    for text in outputs:
        for secret in secrets:
            assert secret not in text, f"{secret[:8]}... found in a command's output"


def test_no_secret_leaks_anywhere(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-s"
    seed(servers, container, 5)
    writer(servers).put_blob(container, "bad-name.", b"x")
    env = {
        **server_env,
        "AWS_ACCESS_KEY_ID": ACCESS,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "MIGRATE_AUDIT_HMAC_KEY": HMAC,
    }
    leaky_hook = 'echo "key is $AWS_SECRET_ACCESS_KEY and $MIGRATE_AUDIT_HMAC_KEY"; exit 3'
    inventory = write_inventory(
        tmp_path,
        {"canary-data": container},
        extra_services=[{"name": "leaky-net", "kind": "network", "hooks": {"freeze": leaky_hook}}],
    )
    outputs: list[str] = []

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = migrate(*args, env=env, cwd=tmp_path)
        outputs.extend([result.stdout, result.stderr])
        return result

    assert run("plan", str(inventory), "-o", "plan.json").returncode == 0
    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", "apply", "plan.json", "--yes"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.5)
    cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes() if process.poll() is None else b""
    out, err = process.communicate(timeout=120)
    outputs.extend([out, err])
    assert process.returncode == 1  # a failed object and a failed hook
    for secret in (ACCESS, SECRET, HMAC):
        assert secret.encode() not in cmdline
    assert run("apply", "plan.json", "--yes", "--log-format", "json").returncode == 1
    run("status")
    status = run("status", "--format", "json")
    # the hook never had the secrets (its environment is an allowlist): nothing to mask
    assert "key is  and" in json.loads(status.stdout)["services"]["leaky-net"]["error"]
    run("verify")
    assert run("report", "--html", "report.html").returncode == 0
    assert run("audit", "export", "audit.jsonl").returncode == 0
    assert run("audit", "verify").returncode == 0
    _scan(tmp_path, outputs, [ACCESS, SECRET, HMAC, emulators.AZURITE_KEY])


def test_credentials_file(
    servers: emulators.Servers, server_env: dict[str, str], tmp_path: Path, unique: str
) -> None:
    container = f"{unique}-f"
    seed(servers, container, 2)
    credentials = tmp_path / "s3.credentials"
    credentials.write_text(f"# target keys\nHDH_S3_ID={ACCESS}\nHDH_S3_SECRET='{SECRET}'\n")
    os.chmod(credentials, 0o644)
    inventory = write_inventory(tmp_path, {"file-data": container})
    data = yaml.safe_load(inventory.read_text())
    data["credentials_file"] = str(credentials)
    data["target"] |= {"access_key_env": "HDH_S3_ID", "secret_key_env": "HDH_S3_SECRET"}
    inventory.write_text(yaml.safe_dump(data))
    env = {k: v for k, v in server_env.items() if not k.startswith("AWS_")}
    assert migrate("plan", str(inventory), "-o", "plan.json", env=env, cwd=tmp_path).returncode == 0
    refused = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
    assert refused.returncode == 3
    assert "chmod 600" in refused.stderr
    os.chmod(credentials, 0o600)
    applied = migrate("apply", "plan.json", "--yes", env=env, cwd=tmp_path)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    folder = tmp_path / ".migrate"
    _scan(
        folder, [refused.stdout, refused.stderr, applied.stdout, applied.stderr], [ACCESS, SECRET]
    )
