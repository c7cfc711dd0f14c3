"""What the command line loads to answer `--version` and `--help`: counted in a fresh
interpreter, never timed (the timings are bench/startup.py's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from migrate import __version__
from migrate.cli.registry import COMMAND_MODULES

HEAVY = ("sqlalchemy", "boto3", "botocore", "libcloud", "starlette", "uvicorn", "dask", "networkx")

# Runs main() on each command line in turn, in one process; prints what each printed, its exit
# code and the modules loaded so far, as one JSON document on stderr.
PROBE = """
import contextlib, io, json, sys
from migrate.cli import main
report = []
for args in json.loads(sys.argv[1]):
    sys.argv = ["migrate", *args]
    out = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out):
        try:
            main()
        except SystemExit as exit:
            code = exit.code
    report.append({"output": out.getvalue(), "code": code, "modules": sorted(sys.modules)})
sys.stderr.write(json.dumps(report))
"""


def _run(*command_lines: list[str]) -> list[dict[str, object]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(command_lines)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "100"},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: list[dict[str, object]] = json.loads(done.stderr)
    return report


def _loaded(result: dict[str, object], *packages: str) -> list[str]:
    modules = result["modules"]
    assert isinstance(modules, list)
    return [m for m in modules if m.split(".")[0] in packages]


def test_version_loads_neither_typer_nor_anything_heavy() -> None:
    (result,) = _run(["--version"])
    assert (result["output"], result["code"]) == (f"hdh-migrate {__version__}\n", 0)
    assert _loaded(result, *HEAVY, "typer", "rich", "pydantic", "state", "adapters") == []


def test_a_command_help_loads_only_its_module_and_nothing_heavy() -> None:
    (result,) = _run(["status", "--help"])
    assert result["code"] == 0
    assert "Usage: migrate status [OPTIONS]" in str(result["output"])
    assert _loaded(result, *HEAVY, "state", "adapters") == []
    modules = result["modules"]
    assert isinstance(modules, list)
    commands = {m for m in modules if m in COMMAND_MODULES.values()}
    assert commands == {"migrate.cli.status"}
    assert "migrate.commands" not in modules
    assert "migrate.wiring" not in modules


def test_every_help_and_the_full_listing_load_nothing_heavy() -> None:
    lines = [[name, "--help"] for name in COMMAND_MODULES] + [["--help"], []]
    results = _run(*lines)
    for args, result in zip(lines, results, strict=True):
        expected = 2 if args == [] else 0  # no command: the listing, and typer's exit 2
        assert result["code"] == expected, (args, result["output"])
    assert "apply" in str(results[-2]["output"])
    assert "audit" in str(results[-2]["output"])
    assert _loaded(results[-1], *HEAVY, "state", "adapters") == []
