"""`migrate apply` between two local folders (no server): selections and flag errors."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.cli.support import run

ROOT = Path(__file__).resolve().parents[2]


def _setup(tmp_path: Path) -> Path:
    for container in ("alpha", "bravo", "charlie"):
        folder = tmp_path / "src" / container / "data"
        folder.mkdir(parents=True)
        for index in range(3):
            (folder / f"{index}.csv").write_bytes(f"{container},{index}\n".encode() * 100)
    inventory = {
        "version": 1,
        "name": "local",
        "source": {"provider": "local", "path": str(tmp_path / "src")},
        "target": {"provider": "local", "path": str(tmp_path / "dst"), "encryption": "none"},
        "policy": {"pilot_wave": False, "require_encryption": False},
        "services": [
            {"name": f"{c}-data", "kind": "object-store", "data": {"container": c}}
            for c in ("alpha", "bravo", "charlie")
        ],
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    assert run("plan", "inventory.yaml", "-o", "plan.json", cwd=tmp_path).returncode == 0
    return tmp_path / "plan.json"


def test_only_takes_repeats_and_commas(tmp_path: Path) -> None:
    _setup(tmp_path)
    result = run("apply", "plan.json", "--yes", "--only", "alpha-data,bravo-data", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == ["alpha", "bravo"]
    for index in range(3):
        source = tmp_path / "src" / "alpha" / "data" / f"{index}.csv"
        assert (
            tmp_path / "dst" / "alpha" / "data" / f"{index}.csv"
        ).read_bytes() == source.read_bytes()
    again = run("apply", "plan.json", "--yes", "--only", "charlie-data", cwd=tmp_path)
    assert again.returncode == 0


def test_flag_errors_exit_2(tmp_path: Path) -> None:
    _setup(tmp_path)
    for args in (
        ["--executor", "dask"],
        ["--scheduler", "tcp://127.0.0.1:8786"],
        ["--executor", "dask", "--scheduler", "http://127.0.0.1:8786"],
        ["--executor", "dask", "--scheduler", "tcp://127.0.0.1"],
        ["--executor", "spark"],
        ["--workers", "0"],
        ["--wave", "9"],
        ["--only", "nope"],
        ["--project", "nope"],
    ):
        result = run("apply", "plan.json", "--yes", *args, cwd=tmp_path)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr


def test_a_plain_tcp_scheduler_outside_loopback_is_refused(tmp_path: Path) -> None:
    _setup(tmp_path)
    args = ("--executor", "dask", "--scheduler", "tcp://10.20.0.5:8786")
    result = run("apply", "plan.json", "--yes", *args, cwd=tmp_path)
    assert result.returncode == 3, result.stdout + result.stderr
    assert "use tls://" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_scheduler_fails_with_its_address(tmp_path: Path) -> None:
    _setup(tmp_path)
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "migrate",
            "apply",
            "plan.json",
            "--yes",
            "--executor",
            "dask",
            "--scheduler",
            f"127.0.0.1:{port}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"cannot reach the dask scheduler at tcp://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "dst").exists()
