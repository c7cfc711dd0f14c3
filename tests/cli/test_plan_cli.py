"""``migrate plan`` through typer's runner and through a real subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from migrate import planfile
from migrate.cli.app import app
from tests.support import ENV, dump, inventory

ROOT = Path(__file__).resolve().parents[2]
HDH = ROOT / "plans" / "hdh.yaml"


@pytest.fixture(autouse=True)
def private_state(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`migrate plan` records its audit event: in the test's own ledger, never the repo's."""
    monkeypatch.setenv("MIGRATE_STATE_URL", f"sqlite:///{tmp_path}/state/state.db")


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    return CliRunner()


def test_plan_of_the_hub(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["plan", str(HDH), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "Plan: 45 services in 9 waves" in result.output
    assert "identity-directory <-> key-management" in result.output
    plan = planfile.loads(out.read_text(), str(out))
    assert plan.inventory == str(HDH)
    assert plan.inventory_sha256 == hashlib.sha256(HDH.read_bytes()).hexdigest()
    assert len(plan.units) >= 2
    assert plan.waves[0].pilot


def test_plan_file_has_the_contract_shape(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    assert runner.invoke(app, ["plan", str(HDH), "-o", str(out)]).exit_code == 0
    raw = json.loads(out.read_text())
    for key in (
        "format_version",
        "inventory",
        "inventory_sha256",
        "created_at",
        "tool_version",
        "waves",
        "units",
        "services",
    ):
        assert key in raw
    assert raw["format_version"] == 1
    wave = raw["waves"][0]
    assert {"index", "services", "estimated_bytes", "estimated_seconds"} <= set(wave)
    assert raw["units"][0]["reason"] == "cycle"
    store = raw["services"]["snds-dcir"]
    assert store["steps"] == [
        "prepare",
        "replicate",
        "verify",
        "freeze",
        "sync",
        "cutover",
        "validate",
    ]
    assert raw["services"]["hub-network"]["steps"] == ["prepare", "freeze", "cutover", "validate"]
    assert raw["created_at"].endswith("Z")


def test_same_inventory_same_bytes_apart_from_created_at(runner: CliRunner, tmp_path: Path) -> None:
    texts = []
    for name in ("one.json", "two.json"):
        assert runner.invoke(app, ["plan", str(HDH), "-o", str(tmp_path / name)]).exit_code == 0
        raw = json.loads((tmp_path / name).read_text())
        raw.pop("created_at")
        texts.append(json.dumps(raw))
    assert texts[0] == texts[1]


@pytest.mark.parametrize(
    ("fmt", "marker"),
    [("json", '"inventory_sha256"'), ("mermaid", "flowchart LR"), ("dot", "digraph plan {")],
)
def test_formats(runner: CliRunner, fmt: str, marker: str) -> None:
    result = runner.invoke(app, ["plan", str(HDH), "--format", fmt])
    assert result.exit_code == 0, result.output
    assert marker in result.stdout
    assert "subgraph" in result.stdout or fmt == "json"


def test_json_format_is_the_plan_file(runner: CliRunner) -> None:
    result = runner.invoke(app, ["plan", str(HDH), "--format", "json"])
    plan = planfile.loads(result.stdout, "stdout")
    assert len(plan.services) == 45


def test_invalid_inventory_exit_2_without_writing(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(dump(inventory(version=3)))
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["plan", str(bad), "-o", str(out)])
    assert result.exit_code == 2
    assert f"{bad}:1: version: unsupported version 3" in result.output
    assert not out.exists()


def test_policy_refusal_exit_3(runner: CliRunner, tmp_path: Path) -> None:
    data = inventory()
    data["target"] = {**data["target"], "region": "us-east-1"}
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(dump(data))
    result = runner.invoke(app, ["plan", str(bad)])
    assert result.exit_code == 3
    assert "not in policy.allowed_regions" in result.output


def test_missing_file_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["plan", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_unknown_format_exit_2(runner: CliRunner) -> None:
    result = runner.invoke(app, ["plan", str(HDH), "--format", "xml"])
    assert result.exit_code == 2


def test_unwritable_output_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["plan", str(HDH), "-o", str(blocker / "plan.json")])
    assert result.exit_code == 2
    assert "cannot be written" in result.output


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **ENV, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=ROOT,
        check=False,
        timeout=60,
    )


def test_subprocess_success_and_summary() -> None:
    result = _run("plan", "plans/hdh.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("Plan: 45 services in 9 waves")


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"version: 1\nservices: [\n", 2),
        (b"", 2),
        (b"version: 1\nname: x\nsource: {provider: azure, account: a, key: hunter2}\n", 3),
        (b"\xff\xfe", 2),
    ],
)
def test_subprocess_bad_input_never_a_traceback(tmp_path: Path, content: bytes, code: int) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(content)
    result = _run("plan", str(bad))
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert str(bad) in result.stderr
    assert "hunter2" not in result.stderr + result.stdout


def test_subprocess_missing_variable_names_it() -> None:
    env = {**os.environ}
    env.pop("S3_URL", None)
    result = subprocess.run(
        [sys.executable, "-m", "migrate", "plan", "plans/hdh.yaml"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
        timeout=60,
        env={**env, "AZURITE_URL": ENV["AZURITE_URL"]},
    )
    assert result.returncode == 2
    assert "plans/hdh.yaml:" in result.stderr
    assert "'S3_URL' is not set" in result.stderr


def test_version_and_help() -> None:
    assert _run("--version").stdout.startswith("hdh-migrate ")
    help_text = _run("plan", "--help").stdout
    for flag in ("--format", "--output", "--state", "--insecure"):
        assert flag in help_text


def test_planning_makes_no_ledger_and_status_says_nothing_is_applied(
    runner: CliRunner, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["plan", str(HDH), "-o", str(tmp_path / "p.json")]).exit_code == 0
    assert not (tmp_path / "state").exists()
    shown = runner.invoke(app, ["status", "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert '"services": {}' in shown.output
    assert "nothing has been applied" in shown.output  # said on stderr (mixed in by the runner)
    assert not (tmp_path / "state").exists()  # status only reads


def _with_database(method: str, size: str, rate: str | None = None) -> dict[str, object]:
    data = inventory()
    database = {
        "engine": "postgresql",
        "source_url_env": "CAT_SOURCE_URL",
        "target_url_env": "CAT_TARGET_URL",
        "method": method,
        "size_estimate": size,
        **({"dump_rate": rate} if rate else {}),
    }
    data["services"] = [
        *data["services"],
        {"name": "catalogue-db", "kind": "database", "max_downtime": "5m", "database": database},
    ]
    return data


def test_a_dump_that_cannot_fit_the_freeze_is_refused_at_plan_time(
    runner: CliRunner, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_bytes(dump(_with_database("dump", "100GiB")))
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["plan", str(bad), "-o", str(out)])
    assert result.exit_code == 2, result.output
    line = next(
        n for n, text in enumerate(bad.read_text().splitlines(), 1) if "method: dump" in text
    )
    assert f"{bad}:{line}: service 'catalogue-db': database.method: a dump" in result.output
    assert "a dump and restore of 100 GiB takes about" in result.output
    assert "assumed until a rehearsal measures it" in result.output
    assert "over its max_downtime of 5 min" in result.output
    assert not out.exists()


def test_a_rehearsed_dump_rate_makes_the_dump_fit_and_auto_warns_when_it_would_not(
    runner: CliRunner, tmp_path: Path
) -> None:
    good = tmp_path / "good.yaml"
    good.write_bytes(dump(_with_database("dump", "100GiB", "1GiB/s")))
    out = tmp_path / "plan.json"
    result = runner.invoke(app, ["plan", str(good), "-o", str(out)])
    assert result.exit_code == 0, result.output
    planned = planfile.loads(out.read_text(), str(out)).services["catalogue-db"]
    assert planned.database is not None
    assert planned.database.dump_seconds_estimate == 100
    assert planned.estimated_bytes == 100 * 1024**3  # counted in its wave's bytes

    auto = tmp_path / "auto.yaml"
    auto.write_bytes(dump(_with_database("auto", "100GiB")))
    result = runner.invoke(app, ["plan", str(auto), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "so method auto needs logical replication" in " ".join(result.output.split())
