"""How close the wave planner comes to the capacity lower bound on random inventories.

For each random inventory (200 services, random dependencies and cycles, object stores of
random sizes, caps that make bytes or counts bind), compare the number of waves with
LB = max(ceil(services / cap), ceil(bytes / byte cap)), counting units that alone exceed a
cap as their own wave and the pilot wave as one more. Writes the "Wave quality" section of
docs/benchmarks.md and bench/results/plan_quality.json.
"""

from __future__ import annotations

import json
import math
import random
import statistics
from pathlib import Path
from typing import Any

from report import replace_section

from migrate.config import Inventory
from migrate.inventory.loader import LoadedInventory
from migrate.planner.build import build_plan

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "plan_quality.json"
GiB = 1024**3


def random_inventory(rnd: random.Random, count: int) -> Inventory:
    names = [f"svc-{i:04d}" for i in range(count)]
    services = []
    for index, name in enumerate(names):
        deps = {names[rnd.randrange(index)] for _ in range(rnd.randint(0, 3))} if index else set()
        if rnd.random() < 0.03 and index + 3 < count:
            deps.add(names[index + rnd.randint(1, 3)])  # a back edge: a cycle
        spec: dict[str, Any] = {
            "name": name,
            "kind": "compute",
            "depends_on": sorted(deps),
            "criticality": rnd.choice(["critical", "high", "medium", "low"]),
        }
        if rnd.random() < 0.5:
            spec["kind"] = "object-store"
            spec["data"] = {
                "container": f"c-{index:04d}",
                "size_estimate": rnd.randint(1, 30) * GiB,
            }
        services.append(spec)
    policy = {
        "max_services_per_wave": rnd.randint(3, 12),
        "max_bytes_per_wave": rnd.randint(20, 120) * GiB,
        "pilot_wave": rnd.random() < 0.5,
    }
    return Inventory.model_validate(
        {
            "version": 1,
            "name": "q",
            "source": {"provider": "local", "path": "/s"},
            "target": {"provider": "local", "path": "/t", "encryption": "none"},
            "policy": policy,
            "services": services,
        }
    )


def lower_bound(inventory: Inventory, alone: int, pilot: bool) -> int:
    policy = inventory.policy
    cap_bytes = policy.max_bytes_per_wave or 1
    total = sum(s.size_estimate for s in inventory.services)
    count = len(inventory.services)
    return int(pilot) + max(
        alone, math.ceil(count / policy.max_services_per_wave), math.ceil(total / cap_bytes)
    )


def main() -> None:
    rnd = random.Random(11)
    ratios = []
    for _ in range(200):
        inventory = random_inventory(rnd, 200)
        plan = build_plan(LoadedInventory(inventory, "q.yaml", "0" * 64))
        alone = sum(1 for w in plan.waves if w.alone)
        bound = max(1, lower_bound(inventory, alone, plan.waves[0].pilot))
        ratios.append(len(plan.waves) / bound)
    summary = {
        "inventories": len(ratios),
        "services_each": 200,
        "mean_ratio": round(statistics.mean(ratios), 3),
        "median_ratio": round(statistics.median(ratios), 3),
        "max_ratio": round(max(ratios), 3),
    }
    print(json.dumps(summary))
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")
    section = (
        "## Wave quality (`bench/plan_quality.py`)\n\n"
        f"{summary['inventories']} random inventories of {summary['services_each']} services "
        "(0 to 3 dependencies each, about 3 % back edges making cycles, half object stores of "
        "1 to 30 GiB, caps of 3 to 12 services and 20 to 120 GiB per wave, pilot on half of "
        "them). Ratio = waves planned / lower bound, where the lower bound is "
        "max(ceil(services / cap), ceil(bytes / byte cap)) plus the pilot wave.\n\n"
        "| mean ratio | median ratio | worst ratio |\n|---:|---:|---:|\n"
        f"| {summary['mean_ratio']} | {summary['median_ratio']} | {summary['max_ratio']} |\n"
    )
    replace_section("Wave quality", section)


if __name__ == "__main__":
    main()
