"""`migrate discover` through the command line on a local folder source (no server): where
the inventory and the findings go, the refusal to replace a file, bad input with its exit
code and line, an unreachable database as a finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from migrate.cli.registry import COMMAND_MODULES, route
from tests.cli.support import run

SOURCE = """\
version: 1
name: folders
source:
  provider: local
  path: ./hub
policy:
  require_encryption: false
"""
TARGET = "target:\n  provider: local\n  path: ./moved\n  encryption: none\n"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for container, files in {
        "claims": {"2026/01.csv": b"a" * 100, "2026/02.csv": b"b" * 50},
        "open-data": {"readme.txt": b"hello", "odd.": b"x"},
    }.items():
        for key, body in files.items():
            path = tmp_path / "hub" / container / key
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(body)
    (tmp_path / "source.yaml").write_text(SOURCE)
    return tmp_path


def test_the_command_is_routed() -> None:
    assert COMMAND_MODULES["discover"] == "migrate.cli.discover"
    assert route(["discover", "s.yaml"]).module == "migrate.cli.discover"


def test_writes_an_inventory_that_plans_once_the_target_is_filled_in(folder: Path) -> None:
    found = run("discover", "source.yaml", "-o", "inv.yaml", cwd=folder)
    assert found.returncode == 0, found.stdout + found.stderr
    assert "Wrote the inventory to inv.yaml" in found.stdout
    assert "open-data: names the target refuses: 1 (rename them at the source)" in found.stdout
    assert "claims: listed, 2 objects, 150 B" in found.stderr
    text = (folder / "inv.yaml").read_text()
    assert (
        "    data:\n      container: claims\n      size_estimate: 150\n      object_count: 2\n"
        in (text)
    )
    assert "'odd.': name ends with '.'" in text
    refused = run("plan", "inv.yaml", cwd=folder)
    assert refused.returncode == 2
    assert "missing required field 'target'" in refused.stdout + refused.stderr
    (folder / "inv.yaml").write_text(text.replace("policy:\n", TARGET + "policy:\n", 1))
    planned = run("plan", "inv.yaml", cwd=folder)
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "Plan: 2 services in 1 wave, 156 B" in planned.stdout


def test_without_o_the_inventory_is_on_stdout_and_the_table_on_stderr(folder: Path) -> None:
    found = run("discover", "source.yaml", cwd=folder)
    assert found.returncode == 0, found.stderr
    assert found.stdout.startswith("# Written by `migrate discover source.yaml`")
    assert "Discovery of local folder ./hub" in found.stderr
    as_json = run("discover", "source.yaml", "--format", "json", cwd=folder)
    report = json.loads(as_json.stdout)
    assert [(c["service"], c["objects"], c["bytes"]) for c in report["containers"]] == [
        ("claims", 2, 150),
        ("open-data", 2, 6),
    ]
    assert report["containers"][1]["problems"]["refused-name"]["count"] == 1
    assert "the inventory was not written" in as_json.stderr


def test_an_existing_inventory_is_never_replaced_without_force(folder: Path) -> None:
    (folder / "inv.yaml").write_text("# edited by hand\n")
    refused = run("discover", "source.yaml", "-o", "inv.yaml", cwd=folder)
    assert refused.returncode == 2
    assert "inv.yaml exists" in refused.stderr
    assert "--force" in refused.stderr
    assert (folder / "inv.yaml").read_text() == "# edited by hand\n"
    forced = run("discover", "source.yaml", "-o", "inv.yaml", "--force", cwd=folder)
    assert forced.returncode == 0, forced.stderr
    assert "container: claims" in (folder / "inv.yaml").read_text()
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    nowhere = run("discover", "source.yaml", "-o", "no/such/inv.yaml", cwd=folder)
    assert nowhere.returncode == 2
    assert "folder no/such does not exist" in nowhere.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "missing.yaml: no such file"),
        ("version: 1\nname: [x\n", "missing.yaml:3: YAML syntax"),
        (
            "version: 1\nname: x\nsource:\n  provider: azure\n  acount: a\n",
            "missing.yaml:5: source.acount: unknown field 'acount'",
        ),
        ("version: 1\nname: x\nsource: {provider: gcs}\n", "missing.yaml:3: source.provider"),
        (
            SOURCE + "databases:\n  - {name: meta, url_env: META_URL}\n",
            "missing.yaml:9: databases[0].url_env: environment variable META_URL is not set",
        ),
    ],
)
def test_bad_input_is_exit_2_with_file_line_and_field(
    folder: Path, content: str | None, expected: str
) -> None:
    if content is not None:
        (folder / "missing.yaml").write_text(content)
    result = run("discover", "missing.yaml", cwd=folder)
    assert result.returncode == 2, result.stdout + result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stdout + result.stderr


def test_an_unreachable_source_is_exit_1_without_traceback(folder: Path) -> None:
    (folder / "source.yaml").write_text(SOURCE.replace("./hub", "./nowhere"))
    result = run("discover", "source.yaml", "-o", "inv.yaml", cwd=folder)
    assert result.returncode == 1
    assert "nowhere does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (folder / "inv.yaml").exists()


def test_an_unreachable_database_is_a_finding(folder: Path) -> None:
    (folder / "source.yaml").write_text(
        SOURCE + "databases:\n  - {name: Catalogue DB, url_env: CATALOGUE_URL}\n"
    )
    env = {"CATALOGUE_URL": "postgresql://reader:s3cret-pw@127.0.0.1:1/catalogue"}
    result = run("discover", "source.yaml", "-o", "inv.yaml", cwd=folder, env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "cannot connect" in result.stdout
    assert "s3cret-pw" not in result.stdout + result.stderr
    text = (folder / "inv.yaml").read_text()
    assert "# database 'Catalogue DB' (CATALOGUE_URL): NOT READ" in text
    assert "source_url_env: CATALOGUE_URL" in text
    assert "target_url_env: FILL_IN_CATALOGUE_DB_TARGET_URL" in text
    assert "s3cret-pw" not in text
