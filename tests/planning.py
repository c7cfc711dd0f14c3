"""Build plans straight from Python data, and check the continuity rules on any plan."""

from __future__ import annotations

from typing import Any

import networkx as nx

from migrate.config import Inventory
from migrate.executor.copy import Route
from migrate.executor.steps import StepContext
from migrate.inventory.loader import LoadedInventory
from migrate.model import Plan
from migrate.planner.build import build_plan


def make_inventory(
    services: list[dict[str, Any]],
    *,
    max_services: int = 6,
    max_bytes: int | None = None,
    pilot: bool = False,
) -> Inventory:
    policy: dict[str, Any] = {
        "max_services_per_wave": max_services,
        "pilot_wave": pilot,
        "require_encryption": False,
    }
    if max_bytes is not None:
        policy["max_bytes_per_wave"] = max_bytes
    return Inventory.model_validate(
        {
            "version": 1,
            "name": "generated",
            "source": {"provider": "local", "path": "/tmp/src"},
            "target": {"provider": "local", "path": "/tmp/dst", "encryption": "none"},
            "policy": policy,
            "services": services,
        }
    )


def service(
    name: str,
    deps: list[str] | None = None,
    *,
    criticality: str = "medium",
    size: int | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "criticality": criticality, "depends_on": deps or []}
    if size is None:
        spec["kind"] = "compute"
    else:
        spec["kind"] = "object-store"
        spec["data"] = {"container": name, "size_estimate": size}
    return spec


def plan_for(inventory: Inventory, recorded_waves: dict[str, int] | None = None) -> Plan:
    return build_plan(LoadedInventory(inventory, "generated.yaml", "0" * 64), None, recorded_waves)


def assert_continuity(inventory: Inventory, plan: Plan) -> None:
    """Every rule of docs/planning.md holds on ``plan``."""
    position = {
        name: (wave.index, order) for wave in plan.waves for order, name in enumerate(wave.services)
    }
    assert sorted(position) == sorted(s.name for s in inventory.services)
    assert [w.index for w in plan.waves] == list(range(1, len(plan.waves) + 1))
    cycle_of = {name: tuple(u.services) for u in plan.units for name in u.services}
    for unit in plan.units:
        assert len({position[name][0] for name in unit.services}) == 1, unit
    for spec in inventory.services:
        for dep in spec.depends_on:
            if cycle_of.get(dep) and cycle_of.get(dep) == cycle_of.get(spec.name):
                continue
            assert position[dep] < position[spec.name], (dep, spec.name)
    _assert_caps(inventory, plan)
    _assert_pilot(inventory, plan)
    _assert_units_are_the_cycles(inventory, plan)


def _assert_caps(inventory: Inventory, plan: Plan) -> None:
    sizes = {s.name: s.size_estimate for s in inventory.services}
    cap_services = inventory.policy.max_services_per_wave
    cap_bytes = inventory.policy.max_bytes_per_wave
    for wave in plan.waves:
        total = sum(sizes[name] for name in wave.services)
        assert wave.estimated_bytes == total
        within = len(wave.services) <= cap_services and (cap_bytes is None or total <= cap_bytes)
        if not within:
            assert wave.alone, wave
        if wave.alone:
            units = {tuple(u.services) for u in plan.units}
            assert len(wave.services) == 1 or tuple(sorted(wave.services)) in units


def _assert_pilot(inventory: Inventory, plan: Plan) -> None:
    by_name = {s.name: s for s in inventory.services}
    pilots = [w for w in plan.waves if w.pilot]
    assert len(pilots) <= 1
    if not pilots:
        return
    assert plan.waves[0].pilot
    members = set(plan.waves[0].services)
    for name in members:
        assert by_name[name].criticality == "low"
        assert set(by_name[name].depends_on) <= members


def _assert_units_are_the_cycles(inventory: Inventory, plan: Plan) -> None:
    graph = nx.DiGraph()
    graph.add_nodes_from(s.name for s in inventory.services)
    graph.add_edges_from((d, s.name) for s in inventory.services for d in s.depends_on)
    cycles = sorted(sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1)
    assert sorted(u.services for u in plan.units) == cycles


def one_store_plan(service: str = "svc-data") -> Plan:
    """A saved plan with one object-store service, for ledger and copier tests."""
    from migrate.model import PlannedService, PlannedWave

    return Plan(
        inventory="i.yaml",
        inventory_sha256="0" * 64,
        created_at="x",
        tool_version="0",
        waves=[PlannedWave(index=1, services=[service], estimated_bytes=0, estimated_seconds=0)],
        units=[],
        services={
            service: PlannedService(
                kind="object-store",
                depends_on=[],
                steps=[],
                wave=1,
                criticality="low",
                container="src",
                bucket="dst",
            )
        },
    )


def step_context(inventory: Inventory, name: str, step: str, route: Route) -> StepContext:
    """What the runner gives one step of a service of ``inventory``, as planned."""
    plan = plan_for(inventory)
    return StepContext(
        name=name,
        service=plan.services[name],
        step=step,
        wave=plan.services[name].wave,
        run_id="run-1",
        state_url="sqlite://",
        route=route,
        hook_timeout=10,
    )
