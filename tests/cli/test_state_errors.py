"""A state database that cannot be one, a damaged audit log, a bad Azure key: every command
that takes --state says what is wrong, with its exit code (2 bad input, 1 otherwise), never
"Internal error" or a traceback."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from tests.cli.support import free_port
from tests.cli.support import run as _run

AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)
COMMANDS = {
    "status": ["status"],
    "apply --dry-run": ["apply", "plan.json", "--dry-run"],
    "verify": ["verify", "--against", "ledger"],
    "audit verify": ["audit", "verify"],
    "audit export": ["audit", "export", "audit.jsonl"],
    "report": ["report", "--html", "report.html"],
    "dashboard": ["dashboard", "--port", "0"],
}


def _clean(result: subprocess.CompletedProcess[str]) -> None:
    for stream in (result.stdout, result.stderr):
        assert "Internal error" not in stream
        assert "Traceback" not in stream


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with a plan applied between local folders (the ledger in .migrate)."""
    root = tmp_path_factory.mktemp("applied")
    (root / "src" / "alpha").mkdir(parents=True)
    (root / "src" / "alpha" / "a.csv").write_bytes(b"a,1\n")
    inventory = {
        "version": 1,
        "name": "local",
        "source": {"provider": "local", "path": str(root / "src")},
        "target": {"provider": "local", "path": str(root / "dst"), "encryption": "none"},
        "policy": {"pilot_wave": False, "require_encryption": False},
        "services": [
            {"name": "alpha-data", "kind": "object-store", "data": {"container": "alpha"}}
        ],
    }
    (root / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    assert _run("plan", "inventory.yaml", "-o", "plan.json", cwd=root).returncode == 0
    applied = _run("apply", "plan.json", "--yes", cwd=root)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return root


def _copy(applied: Path, tmp_path: Path) -> Path:
    work = tmp_path / "work"
    shutil.copytree(applied, work)
    return work


def _command(name: str) -> list[str]:
    args = list(COMMANDS[name])
    if name == "dashboard":
        args[-1] = str(free_port())
    return args


@pytest.mark.parametrize(
    ("state", "fragment"),
    [
        ("sqlite:////proc/x.db", "kernel pseudo-filesystem"),
        ("sqlite:////sys/x.db", "kernel pseudo-filesystem"),
        ("sqlite:////proc/self/status", "kernel pseudo-filesystem"),
        ("sqlite:///inventory.yaml", "is not a SQLite database"),
        ("sqlite:////dev/null", "is not a regular file"),
    ],
)
def test_a_state_path_that_cannot_be_a_ledger_is_bad_input(
    applied: Path, tmp_path: Path, state: str, fragment: str
) -> None:
    work = _copy(applied, tmp_path)

    def attempt(name: str) -> subprocess.CompletedProcess[str]:
        return _run(*_command(name), "--state", state, cwd=work, timeout=60)

    with ThreadPoolExecutor(2) as pool:  # two commands at a time: one per core
        results = dict(zip(COMMANDS, pool.map(attempt, COMMANDS), strict=True))
    for name, result in results.items():
        _clean(result)
        assert result.returncode == 2, (name, result.stdout, result.stderr)
        assert fragment in result.stderr, (name, result.stderr)


def test_another_programs_sqlite_database_is_never_written_to(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE patients (id INTEGER)")
    (tmp_path / "src").mkdir()
    result = _run("status", "--state", f"sqlite:///{other}", cwd=tmp_path)
    _clean(result)
    assert result.returncode == 2
    assert "no hdh-migrate ledger" in result.stderr
    with sqlite3.connect(other) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert tables == {"patients"}


def test_audit_rows_that_are_not_json_are_named(applied: Path, tmp_path: Path) -> None:
    work = _copy(applied, tmp_path)
    with sqlite3.connect(work / ".migrate" / "state.db") as connection:
        connection.execute("UPDATE audit_events SET detail = 'not json' WHERE seq = 2")
        connection.execute("UPDATE audit_events SET request_ids = '{' WHERE seq = 3")
    expected = {"audit verify": 1, "audit export": 1}
    for name in COMMANDS:
        if name == "dashboard":
            continue  # it reads no audit event (it serves until stopped: see test_dashboard)
        result = _run(*_command(name), cwd=work)
        _clean(result)
        assert result.returncode == expected.get(name, 0), (name, result.stdout, result.stderr)
    verified = _run("audit", "verify", cwd=work)
    assert "BROKEN at event 2: its detail is not a JSON object: 'not json'" in verified.stdout
    assert "edited outside hdh-migrate" in verified.stdout
    lines = (work / "audit.jsonl").read_text().splitlines()
    assert len(lines) >= 3  # exported as stored, each damaged row marked
    assert '"damaged"' in lines[1]
    assert '"damaged"' in lines[2]


def test_a_dropped_audit_table(applied: Path, tmp_path: Path) -> None:
    """Read-only views still work; the audit commands say it was dropped (exit 1); commands
    that write refuse to start a new, empty log in its place (exit 1)."""
    work = _copy(applied, tmp_path)
    ledger = work / ".migrate" / "state.db"
    with sqlite3.connect(ledger) as connection:
        connection.execute("DROP TABLE audit_events")
    expected = {"status": 0, "report": 0, "apply --dry-run": 1, "verify": 1}
    expected |= {"audit verify": 1, "audit export": 1}
    for name, code in expected.items():
        result = _run(*_command(name), cwd=work)
        _clean(result)
        assert result.returncode == code, (name, result.stdout, result.stderr)
        if code:
            assert "audit_events table" in result.stdout + result.stderr, name
    verified = _run("audit", "verify", cwd=work)
    assert "the audit log was dropped outside hdh-migrate" in " ".join(verified.stdout.split())
    with sqlite3.connect(ledger) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert "audit_events" not in tables  # never recreated empty


def test_a_dashboard_on_a_dropped_audit_table_starts(applied: Path, tmp_path: Path) -> None:
    work = _copy(applied, tmp_path)
    with sqlite3.connect(work / ".migrate" / "state.db") as connection:
        connection.execute("DROP TABLE audit_events")
    process = subprocess.Popen(
        [sys.executable, "-m", "migrate", *_command("dashboard")],
        cwd=work,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "Dashboard on http://127.0.0.1:" in process.stdout.readline()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_non_base64_azure_key_is_bad_input(tmp_path: Path) -> None:
    inventory = {
        "version": 1,
        "name": "az",
        "source": {
            "provider": "azure",
            "account": "devstoreaccount1",
            "endpoint": "http://127.0.0.1:9/devstoreaccount1",
        },
        "target": {"provider": "local", "path": str(tmp_path / "dst"), "encryption": "none"},
        "policy": {"pilot_wave": False, "require_encryption": False, "retry_attempts": 1},
        "services": [
            {"name": "alpha-data", "kind": "object-store", "data": {"container": "alpha"}}
        ],
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump(inventory))
    assert _run("plan", "inventory.yaml", "-o", "plan.json", cwd=tmp_path).returncode == 0
    bad = {"AZURE_STORAGE_KEY": "not-base64!!"}
    for args in (["apply", "plan.json", "--dry-run"], ["apply", "plan.json", "--yes"]):
        result = _run(*args, cwd=tmp_path, env=bad)
        _clean(result)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        assert "AZURE_STORAGE_KEY (named by source.key_env) is not base64" in result.stderr
        assert "not-base64!!" not in result.stdout + result.stderr
    # a ledger with a real run, then verify against the source with the bad key
    good = {"AZURE_STORAGE_KEY": AZURITE_KEY}
    env = {**good, "MIGRATE_STATE_URL": f"sqlite:///{tmp_path / 'state.db'}"}
    assert _run("apply", "plan.json", "--yes", cwd=tmp_path, env=env).returncode == 1
    result = _run("verify", cwd=tmp_path, env={**env, **bad})
    _clean(result)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "is not base64" in result.stderr


def test_readers_of_a_ledger_the_first_apply_is_still_creating_see_an_empty_status(
    tmp_path: Path,
) -> None:
    """Between the moment the first apply creates the file and its first commit, the file
    holds nothing: status, the report and the object report say nothing is applied yet,
    never "not written by migrate"."""
    state = tmp_path / ".migrate" / "state.db"
    state.parent.mkdir()
    state.touch(mode=0o600)
    shown = _run("status", "--format", "json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert '"services": {}' in shown.stdout
    assert "holds no ledger yet" in shown.stderr
    report = _run("report", "--html", "r.html", cwd=tmp_path)
    assert report.returncode == 0, report.stdout + report.stderr
    for result in (shown, report):
        _clean(result)
