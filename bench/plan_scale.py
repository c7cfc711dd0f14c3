"""Benchmark of ``migrate plan`` at scale: whole-process wall time and peak RSS.

Generates inventories of 10,000 and 35,000 services (about 3 dependencies each, a few dozen
cycles, 40 % object stores with sizes), runs ``migrate plan INV -o PLAN`` as a real process
(three times each, the median kept) and measures the plan's quality against the capacity
lower bound. Writes bench/results/plan_scale.json and the "Planning at scale" section of
docs/benchmarks.md.

Run: make bench (or .venv/bin/python bench/plan_scale.py [--sizes 10000 35000]).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from report import replace_section

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
RESULTS = ROOT / "bench" / "results" / "plan_scale.json"
TARGETS = {10_000: 3.0, 35_000: 10.0}
RSS_TARGET_MIB = 500
GiB = 1024**3
MAX_SERVICES, MAX_BYTES = 12, 40 * 1024**4


def generate(count: int, seed: int = 7) -> dict[str, Any]:
    rnd = random.Random(seed)
    names = [f"svc-{i:06d}" for i in range(count)]
    services: list[dict[str, Any]] = []
    for index, name in enumerate(names):
        deps = sorted({names[rnd.randrange(index)] for _ in range(3)}) if index > 3 else []
        spec: dict[str, Any] = {
            "name": name,
            "kind": "compute",
            "criticality": rnd.choice(["critical", "high", "medium", "low", "low"]),
            "depends_on": deps,
        }
        if rnd.random() < 0.4:
            spec["kind"] = "object-store"
            spec["data"] = {
                "container": f"c-{index:06d}",
                "size_estimate": f"{rnd.randint(1, 4000)}GiB",
            }
        services.append(spec)
    for _ in range(max(5, count // 1000)):  # a few cycles: a chain closed by a back edge
        first, length = rnd.randrange(count - 8), rnd.randint(2, 5)
        ring = names[first : first + length]
        for position in range(length):
            spec = services[first + position]
            nxt = ring[(position + 1) % length]
            spec["depends_on"] = sorted({*spec["depends_on"], nxt})
    return {
        "version": 1,
        "name": f"bench-{count}",
        "source": {"provider": "local", "path": "/srv/bench-src"},
        "target": {"provider": "local", "path": "/srv/bench-dst", "encryption": "none"},
        "policy": {
            "require_encryption": False,  # a local target encrypts nothing
            "max_services_per_wave": MAX_SERVICES,
            "max_bytes_per_wave": "40TiB",
            "pilot_wave": True,
            "bandwidth": "1GiB/s",
        },
        "services": services,
    }


def run_once(inventory: Path, plan: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one ``migrate plan`` process."""
    migrate = Path(sys.executable).with_name("migrate")
    start = time.perf_counter()
    process = subprocess.Popen(
        [str(migrate), "plan", str(inventory), "-o", str(plan), "--format", "json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        errors = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"migrate plan failed on {inventory}: {errors}")
    return wall, usage.ru_maxrss / 1024


def quality(plan: dict[str, Any], inventory: dict[str, Any]) -> dict[str, Any]:
    sizes = [
        GiB * int(s["data"]["size_estimate"][:-3]) for s in inventory["services"] if "data" in s
    ]
    bound = max(
        math.ceil(len(inventory["services"]) / MAX_SERVICES), math.ceil(sum(sizes) / MAX_BYTES)
    )
    waves = len(plan["waves"])
    return {
        "waves": waves,
        "lower_bound": bound,
        "ratio": round(waves / bound, 3),
        "cycles": len(plan["units"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(TARGETS))
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = []
    for count in args.sizes:
        data = generate(count)
        inventory = OUT / f"inventory-{count}.yaml"
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        plan_path = OUT / f"plan-{count}.json"
        runs = [run_once(inventory, plan_path) for _ in range(args.repeat)]
        wall = statistics.median(r[0] for r in runs)
        rss = max(r[1] for r in runs)
        row = {
            "services": count,
            "wall_seconds": round(wall, 2),
            "peak_rss_mib": round(rss, 1),
            "target_seconds": TARGETS.get(count),
            "runs": [round(r[0], 2) for r in runs],
            **quality(json.loads(plan_path.read_text()), data),
        }
        rows.append(row)
        print(json.dumps(row))
    machine = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
    }
    RESULTS.write_text(json.dumps({"machine": machine, "results": rows}, indent=2) + "\n")
    write_doc(rows, machine)


def write_doc(rows: list[dict[str, Any]], machine: dict[str, Any]) -> None:
    lines = [
        "## Planning at scale (`bench/plan_scale.py`)",
        "",
        f"Machine: {machine['cpus']} cores, {machine['machine']}, Python {machine['python']}, "
        f"{machine['date']}. Whole `migrate plan INV -o PLAN` process (start-up, YAML, validation, "
        "graph, waves, JSON), median of 3 runs; peak RSS from `wait4`. Inventories: about 3 "
        f"dependencies per service, a few dozen cycles, 40 % object stores; caps "
        f"{MAX_SERVICES} services and 40 TiB per wave, pilot on.",
        "",
        "| services | wall (s) | target (s) | peak RSS (MiB) | target RSS | waves "
        "| lower bound | ratio | cycles |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['services']:,} | {r['wall_seconds']} | {r['target_seconds'] or '-'} | "
            f"{r['peak_rss_mib']} | {RSS_TARGET_MIB} | {r['waves']} | {r['lower_bound']} | "
            f"{r['ratio']} | {r['cycles']} |"
        )
    lines += [
        "",
        "Lower bound: max(ceil(services / cap), ceil(bytes / byte cap)); the pilot wave "
        "and units that stand alone come on top of it.",
        "",
    ]
    section = "\n".join(lines)
    replace_section("Planning at scale", section)


if __name__ == "__main__":
    main()
