"""A source whose certificate is not trusted fails at once, saying so: a TLS verification
failure is permanent (the same certificate fails every time), never retried as transient."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.tls import tls_server

AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")}
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**env, "AZURE_STORAGE_KEY": AZURITE_KEY},
    )


def test_an_untrusted_source_certificate_fails_once_and_says_why(tmp_path: Path) -> None:
    with tls_server(tmp_path) as server:
        inventory = {
            "version": 1,
            "name": "tls",
            "source": {
                "provider": "azure",
                "account": "devstoreaccount1",
                "endpoint": f"https://127.0.0.1:{server.port}/devstoreaccount1",
            },
            "target": {"provider": "local", "path": str(tmp_path / "dst"), "encryption": "none"},
            # retries enough that a transient classification would show: 3 attempts
            "policy": {"pilot_wave": False, "require_encryption": False, "retry_attempts": 3},
            "services": [
                {"name": "alpha-data", "kind": "object-store", "data": {"container": "alpha"}}
            ],
        }
        (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
        assert _run("plan", "inventory.yaml", "-o", "plan.json", cwd=tmp_path).returncode == 0
        for args in (["apply", "plan.json", "--dry-run"], ["apply", "plan.json", "--yes"]):
            before = server.connections
            result = _run(*args, cwd=tmp_path)
            output = " ".join((result.stdout + result.stderr).split())
            assert result.returncode == 1, (args, output)
            assert "TLS verification failed (self-signed certificate)" in output, args
            assert "Internal error" not in output
            assert server.connections - before == 1, (args, server.connections - before)
