"""Hostile inventories and plan files (issue 14) through the real command line.

Each is refused (exit 2) with a message naming the file, never a traceback or an internal
error, in a process whose address space is capped at 1 GiB: a control that regresses fails
here (MemoryError, or the cap reached) instead of eating the machine. The timeout only stops
a hung process; nothing here asserts a duration.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import ENV, dump, inventory

MEMORY_CAP = 1024**3
HANG = 120


def _capped() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ENV, "MIGRATE_STATE_URL": f"sqlite:///{tmp_path}/state/state.db"}
    return subprocess.run(
        [sys.executable, "-m", "migrate", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        preexec_fn=_capped,  # resource limits only: safe before exec
        timeout=HANG,
        check=False,
    )


def _refused(result: subprocess.CompletedProcess[str], name: str, *fragments: str) -> None:
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert name in result.stderr
    assert "Traceback" not in output
    assert "Internal error" not in output
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr[-3000:]


def _inventory_text(**changes: object) -> str:
    return dump(inventory(**changes)).decode()


def _billion_laughs(levels: int) -> str:
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, levels + 1):
        lines.append(f"lol{level}: &lol{level} [" + ", ".join([f"*lol{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_inventory_text() + _billion_laughs(9))
    _refused(_run(tmp_path, "plan", bomb.name), "bomb.yaml:", "aliases repeat more than 100,000")


def test_an_alias_bomb_in_a_field_is_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    text = _billion_laughs(7) + _inventory_text().replace(
        "depends_on:\n  - net-core", "depends_on: *lol7"
    )
    assert "*lol7" in text
    bomb.write_text(text)
    _refused(_run(tmp_path, "plan", bomb.name), "bomb.yaml:", "aliases repeat")


def test_a_recursive_alias_is_refused(tmp_path: Path) -> None:
    loop = tmp_path / "loop.yaml"
    loop.write_text(_inventory_text() + "loop: &loop [a, *loop]\n")
    _refused(_run(tmp_path, "plan", loop.name), "loop.yaml:", "recursive alias")


def test_a_50_mb_inventory_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    service = "  - name: svc-{:07d}\n    kind: compute\n"
    with big.open("w") as out:
        out.write(_inventory_text())
        for index in range(50 * 1024 * 1024 // len(service.format(0)) + 1):
            out.write(service.format(index))
    assert big.stat().st_size > 50 * 1024 * 1024
    _refused(_run(tmp_path, "plan", big.name), "big.yaml", "at most 10 MiB")


def test_a_long_scalar_is_scanned_for_secrets_in_linear_time(tmp_path: Path) -> None:
    """40 KB made the secret scanner's URL pattern take 9.5 s; 5 MiB now take milliseconds."""
    data = inventory()
    data["services"][0]["hooks"] = {"freeze": "a" * (5 * 1024 * 1024)}
    data["services"][0]["name"] = "x" * 40_000
    long = tmp_path / "long.yaml"
    long.write_bytes(dump(data))
    _refused(_run(tmp_path, "plan", long.name), "long.yaml:", "(40,000 characters)")


def test_a_long_secret_free_scalar_plans(tmp_path: Path) -> None:
    data = inventory()
    data["services"][0]["hooks"] = {"freeze": "echo " + "a1+.-" * 200_000}
    long = tmp_path / "long.yaml"
    long.write_bytes(dump(data))
    result = _run(tmp_path, "plan", long.name, "--format", "json")
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.parametrize(
    ("place", "value", "fragment"),
    [
        ("policy.max_services_per_wave", "9" * 5000, "integer of 5,000 digits is out of range"),
        ("services.0.max_downtime", "1" + "0" * 40, "is out of range"),
        ("services.0.max_downtime", "'1" + "0" * 40 + "s'", "duration '1000"),
        ("services.1.data.size_estimate", "99999999999999999999EiB", "out of range: at most 8 EiB"),
        ("services.1.data.object_estimate", "1" + "0" * 30, "out of range"),
        ("policy.bandwidth", "'1" + "0" * 30 + "GiB/s'", "at most 8 EiB/s"),
    ],
)
def test_numbers_out_of_range_are_refused_with_their_line(
    tmp_path: Path, place: str, value: str, fragment: str
) -> None:
    data = inventory()
    block: dict[str, object] | list[object] = data
    *parents, last = place.split(".")
    for part in parents:
        block = block[int(part)] if isinstance(block, list) else block[part]  # type: ignore[assignment]
    assert isinstance(block, dict)
    block[last] = "@@VALUE@@"
    text = dump(data).decode().replace("'@@VALUE@@'", value)
    hostile = tmp_path / "numbers.yaml"
    hostile.write_text(text)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if value[:20] in row)
    _refused(_run(tmp_path, "plan", hostile.name), f"numbers.yaml:{line}:", fragment)


@pytest.mark.parametrize(
    ("place", "depth"),
    [("nested", 990), ("nested", 100_000), ("provider", 990), ("version", 990)],
)
def test_deeply_nested_yaml_is_refused(tmp_path: Path, place: str, depth: int) -> None:
    deep = tmp_path / "deep.yaml"
    nested = "[" * depth + "]" * depth
    text = _inventory_text()
    if place == "nested":
        text += f"nested: {nested}\n"
    else:
        start = text.index(f"{place}: ") + len(place) + 2
        text = text[:start] + nested + text[text.index("\n", start) :]
    deep.write_text(text)
    _refused(_run(tmp_path, "plan", deep.name), "deep.yaml:")


def _saved_plan(tmp_path: Path) -> Path:
    data = inventory(
        source={"provider": "local", "path": str(tmp_path / "src")},
        target={"provider": "local", "path": str(tmp_path / "dst"), "encryption": "none"},
        policy={"require_encryption": False, "pilot_wave": False},
    )
    (tmp_path / "inv.yaml").write_bytes(dump(data))
    result = _run(tmp_path, "plan", "inv.yaml", "-o", "plan.json")
    assert result.returncode == 0, result.stderr
    return tmp_path / "plan.json"


@pytest.mark.parametrize("kind", ["nested", "huge wave", "digits", "too large"])
def test_a_hostile_plan_file_is_refused_naming_it(tmp_path: Path, kind: str) -> None:
    plan = _saved_plan(tmp_path)
    data = json.loads(plan.read_text())
    if kind == "nested":
        plan.write_text("[" * 100_000 + "]" * 100_000)
    elif kind == "huge wave":
        data["waves"][0]["index"] = 10**30
        plan.write_text(json.dumps(data))
    elif kind == "digits":
        plan.write_text(
            json.dumps(data).replace('"estimated_bytes": 0', '"estimated_bytes": ' + "9" * 5000, 1)
        )
    else:
        plan.write_text(json.dumps(data) + " " * (65 * 1024 * 1024))
    _refused(_run(tmp_path, "apply", plan.name, "--dry-run"), "plan.json")
